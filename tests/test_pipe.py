"""pipe.py: events from stdin or a real pipe, the unterminated last line at the end."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from _lines import (
    ROOT,
    Writer,
    ev,
    line,
)

from syllo_tui.stream import (
    EventTail,
    StdinTail,
    open_source,
)


def _poll_until(
    src: StdinTail, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not done(got):
        assert time.monotonic() < deadline, f"timed out; got {got}"
        res = src.poll()
        got += res.events
        if not res.events:
            time.sleep(0.01)
    return got


def test_stdin_tail_over_a_real_pipe(writer_for: Callable[..., Writer]) -> None:
    w = writer_for("-")
    assert w.proc.stdout is not None
    src = StdinTail(w.proc.stdout)
    first = line(ev("log", 1))
    w.append(first[:7])
    w.append(first[7:])
    assert _poll_until(src, lambda got: len(got) >= 1) == [ev("log", 1)]
    big = ev("eval", 2, output="q" * (5 << 20))
    w.append(b"junk\n" + line(big))
    assert _poll_until(src, lambda got: len(got) >= 1) == [big]
    assert src.malformed_by_reason["bad_json"] == 1
    w.append(b'{"type":"run_end","step":3}')  # no newline: complete only at end of stream
    w.do("close")
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while True:
        res = src.poll()
        got += res.events
        if res.eof:
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert got == [ev("run_end", 3)]
    assert src.poll().eof and src.poll().events == []
    w.close()


def test_open_source_dash_reads_the_process_stdin(tmp_path: Path) -> None:
    script = (
        "import orjson, sys, time\n"
        "from syllo_tui.stream import open_source, StdinTail\n"
        "src = open_source('-')\n"
        "assert isinstance(src, StdinTail)\n"
        "events = []\n"
        "while True:\n"
        "    res = src.poll()\n"
        "    events += res.events\n"
        "    if res.eof: break\n"
        "    time.sleep(0.005)\n"
        "sys.stdout.write(orjson.dumps({'events': events, 'bad': src.malformed_total}).decode())\n"
    )
    payload = line(ev("log", 1)) + b"oops\n" + line(ev("log", 2))
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=payload,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert orjson.loads(out.stdout) == {"events": [ev("log", 1), ev("log", 2)], "bad": 1}
    assert isinstance(open_source(tmp_path / "x.jsonl"), EventTail)


def test_stdin_read_error_is_raised_after_the_data(tmp_path: Path) -> None:
    class Failing:
        """A binary stream that fails after some data, as a broken pipe or a bad disk would."""

        def __init__(self) -> None:
            self.parts = [line(ev("log", 1)), line(ev("log", 2))]

        def read(self, n: int) -> bytes:
            if self.parts:
                return self.parts.pop(0)
            raise OSError(5, "Input/output error")

    src = StdinTail(Failing())  # type: ignore[arg-type]
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    with pytest.raises(OSError, match="reading events from stdin failed"):
        while time.monotonic() < deadline:
            got += src.poll().events
            time.sleep(0.01)
    assert got == [ev("log", 1), ev("log", 2)]
