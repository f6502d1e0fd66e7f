"""Helpers for the reader tests: a writer in another process, event lines, generated lines.

Where timing between writer and reader matters, the bytes are written by a
separate process (tests/_writer_proc.py) that acknowledges each write, so the
tests are deterministic without sleeping.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st

from syllo_train.events import EventWriter
from syllo_tui.stream import EventTail, ReadResult

ROOT = Path(__file__).resolve().parent.parent
WRITER = Path(__file__).resolve().parent / "_writer_proc.py"


class Writer:
    """Drives a writer in another process; each call returns once the bytes are written."""

    def __init__(self, target: str | Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(target)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if str(target) == "-" else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def do(self, op: str, data: bytes | None = None) -> None:
        cmd: dict[str, Any] = {"op": op}
        if data is not None:
            cmd["hex"] = data.hex()
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        self.proc.stdin.flush()
        ack = self.proc.stderr.readline()
        assert ack == b"ok\n", f"writer process failed on {op}: {ack!r}"

    def append(self, data: bytes) -> None:
        self.do("append", data)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.do("exit")
        self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def writer_for() -> Iterator[Callable[[str | Path], Writer]]:
    writers: list[Writer] = []

    def make(target: str | Path) -> Writer:
        w = Writer(target)
        writers.append(w)
        return w

    yield make
    for w in writers:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait(timeout=10)


def line(obj: Any) -> bytes:
    return orjson.dumps(obj) + b"\n"


def ev(etype: str, step: int, **extra: Any) -> dict[str, Any]:
    return {"type": etype, "step": step, **extra}


def poll_all(tail: EventTail, max_bytes: int = 4 << 20) -> ReadResult:
    """Poll until no more bytes are waiting; merge the results (reset if any reset)."""
    total = ReadResult()
    while True:
        res = tail.poll(max_bytes)
        if res.reset:
            total = ReadResult(reset=True)
        total.events += res.events
        total.malformed += res.malformed
        if not res.more:
            return total


VALID = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["run_start", "log", "eval", "checkpoint", "x"]),
        "step": st.integers(0, 10**6),
    },
    optional={"text": st.text(max_size=30), "v": st.floats(allow_nan=False, allow_infinity=False)},
)


@st.composite
def labelled_line(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any] | None]:
    """A line without its newline and what the reader must make of it."""
    kind = draw(
        st.sampled_from(
            ["ok", "ok", "ok", "cut", "not_object", "no_type", "utf8", "blank", "garbage"]
        )
    )
    event = draw(VALID)
    raw = orjson.dumps(event)
    if kind == "ok":
        return "ok", raw, event
    if kind == "cut":  # a strict prefix of an object is never valid JSON
        return garbage(raw[: draw(st.integers(1, len(raw) - 1))])
    if kind == "not_object":
        value = draw(
            st.one_of(
                st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3),
                st.integers(-(2**63), 2**63 - 1),
                st.text(max_size=5),
            )
        )
        return "not_object", orjson.dumps(value), None
    if kind == "no_type":
        bad = draw(st.sampled_from([{"step": 1}, {"type": 3}, {"type": None}, {}]))
        return "no_type", orjson.dumps(bad), None
    if kind == "utf8":
        return "not_utf8", raw.replace(b'"type":"', b'"type":"\xff', 1), None
    if kind == "blank":
        return "blank", draw(st.sampled_from([b"", b" ", b"\t \r"])), None
    noise = draw(st.binary(max_size=30)).replace(b"\n", b"")
    return garbage(b"#" + noise)  # '#' never starts JSON


def garbage(data: bytes) -> tuple[str, bytes, None]:
    """Label a line that is not JSON: not_utf8 if its bytes are not UTF-8 (a cut may split a character)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8", data, None
    return "bad_json", data, None


def label(kind: str, raw: bytes, max_line: int) -> str:
    return "too_long" if len(raw) > max_line else kind


def write_run(path: Path, n_logs: int) -> list[dict[str, Any]]:
    """A run written by the real EventWriter, with some garbage; returns the valid events in order."""
    events: list[dict[str, Any]] = []
    with EventWriter(path, run_id="r1") as w:
        events.append(w.emit("run_start", 0, model="tiny"))
        for step in range(1, n_logs + 1):
            events.append(
                w.emit("log", step, loss=1.0 / step, example={"prompt": "p" * (step % 50)})
            )
            if step % 200 == 0:
                events.append(w.emit("eval", step, val_loss=0.5, samples=[{"output": "o" * 100}]))
            if step % 1000 == 0:
                events.append(w.emit("checkpoint", step, path=f"ckpt-{step}"))
            if step % 777 == 0:
                with open(path, "ab") as f:
                    f.write(b"garbage line\n")
    return events
