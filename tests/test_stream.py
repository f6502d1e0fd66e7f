"""stream.py: following a file that is being written, truncated, replaced; its history."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _lines import (
    ROOT,
    Writer,
    ev,
    line,
    write_run,
)

from syllo_tui.stream import EventTail, ReadResult, iter_history, read_tail


def test_truncated_file_resets(tmp_path: Path, writer_for: Callable[..., Writer]) -> None:
    path = tmp_path / "events.jsonl"
    w = writer_for(path)
    tail = EventTail(path)
    w.append(b"".join(line(ev("log", i)) for i in range(3)))
    assert len(tail.poll().events) == 3
    w.do("truncate")
    w.append(line(ev("run_start", 0, new=True)))
    res = tail.poll()
    assert res.reset
    assert res.events == [ev("run_start", 0, new=True)]
    assert tail.resets == 1
    # A truncate that regrows *past* our offset between two polls is noticed too.
    w.do("truncate")
    regrown = [ev("log", i, padding="x" * 40) for i in range(5)]
    w.append(b"".join(line(e) for e in regrown))
    res = tail.poll()
    assert res.reset
    assert res.events == regrown
    assert not tail.poll().reset
    w.close()
    tail.close()


def test_replaced_file_resets(tmp_path: Path, writer_for: Callable[..., Writer]) -> None:
    path = tmp_path / "events.jsonl"
    w = writer_for(path)
    tail = EventTail(path)
    w.append(line(ev("log", 1)) + line(ev("log", 2)) + b'{"type":"log","ste')
    assert [e["step"] for e in tail.poll().events] == [1, 2]
    w.do("replace", line(ev("run_start", 0)) + line(ev("log", 100)))
    res = tail.poll()
    assert res.reset
    assert res.events == [ev("run_start", 0), ev("log", 100)]
    assert res.malformed == 0  # the old file's partial line was dropped, not parsed
    w.append(line(ev("log", 101)))  # the writer appends to the new file
    res = tail.poll()
    assert not res.reset and res.events == [ev("log", 101)]
    # Deleted and recreated: a new file too.
    w.do("delete")
    assert tail.poll().events == []  # nothing at the path: keep the old file, no reset
    w.append(line(ev("run_start", 0, second=True)))
    res = tail.poll()
    assert res.reset and res.events == [ev("run_start", 0, second=True)]
    w.close()
    tail.close()


def test_file_that_does_not_exist_yet(tmp_path: Path, writer_for: Callable[..., Writer]) -> None:
    path = tmp_path / "later" / "events.jsonl"
    path.parent.mkdir()
    tail = EventTail(path)
    end_tail = EventTail(path, start="end")  # "end" of a file that is not there yet
    for _ in range(3):
        res = tail.poll()
        assert res.events == [] and not res.reset
    assert not tail.exists
    assert tail.seek_tail(want_types={"log"}) == []
    w = writer_for(path)
    w.append(line(ev("run_start", 0)) + line(ev("log", 1)))
    res = tail.poll()
    assert tail.exists
    assert not res.reset  # nothing to clear: the consumer had no state
    assert res.events == [ev("run_start", 0), ev("log", 1)]
    assert end_tail.poll().events == [ev("run_start", 0), ev("log", 1)]  # new file: from its start
    with pytest.raises(FileNotFoundError, match="no such events file"):
        read_tail(tmp_path / "missing.jsonl")
    w.close()
    tail.close()
    end_tail.close()


def test_start_at_end_and_at_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(line(ev("log", 1)) + line(ev("log", 2)) + b'{"type":"log",')
    complete = len(line(ev("log", 1)) + line(ev("log", 2)))
    tail = EventTail(path, start="end")
    assert tail.offset == complete  # the partial line will be read when complete
    with open(path, "ab") as f:
        f.write(b'"step":3}\n')
    assert tail.poll().events == [ev("log", 3)]
    tail.close()
    # An offset from read_tail: follows from there.
    events, end = read_tail(path, max_events=1)
    assert events == [ev("log", 3)]
    with EventTail(path, start=end) as t:
        assert t.poll().events == []
        with open(path, "ab") as f:
            f.write(line(ev("log", 4)))
        assert t.poll().events == [ev("log", 4)]
    # An offset that no longer matches the file (not at a line start): reset, read from 0.
    with EventTail(path, start=complete + 3) as t:
        res = t.poll()
        assert res.reset and [e["step"] for e in res.events] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="start must be"):
        EventTail(path, start="middle")  # type: ignore[arg-type]
    # Closed: poll returns nothing and does not reopen the file.
    with open(path, "ab") as f:
        f.write(line(ev("log", 99)))
    assert tail.poll() == ReadResult()


def test_iter_history_yields_everything_before_end_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    events = write_run(path, 2500)
    size = path.stat().st_size
    with EventTail(path) as tail:
        state = tail.seek_tail(want_types={"run_start", "eval"}, max_events=100)
        assert tail.start_offset == size
        with open(path, "ab") as f:  # the run goes on while history is read
            for i in range(5):
                f.write(line(ev("log", 10_000 + i)))
        history = tail.history(chunk_events=1000)
        chunks = list(history)
        assert all(0 < len(c) <= 1000 for c in chunks)
        assert [e for c in chunks for e in c] == events  # exactly once, in order, nothing after
        assert history.malformed_total == 3  # the garbage lines at 777, 1554, 2331
        followed = tail.poll().events
        assert [e["step"] for e in followed] == list(range(10_000, 10_005))
        assert state[-1] == events[-1]
    # The module-level form, with an explicit end offset in the middle of the file.
    data = path.read_bytes()
    end_offset = data.index(b"\n", len(data) // 2) + 1
    expected = []
    for raw in data[:end_offset].split(b"\n")[:-1]:
        try:
            expected.append(json.loads(raw))
        except json.JSONDecodeError:
            pass  # the garbage lines
    got = [e for c in iter_history(path, end_offset=end_offset, chunk_events=333) for e in c]
    assert got == expected
    assert len(got) > 1000
    with pytest.raises(ValueError, match="chunk_events"):
        iter_history(path, chunk_events=0)


def test_reader_imports_no_heavy_modules() -> None:
    code = (
        "import json, sys\n"
        "import syllo_train.events, syllo_tui.stream\n"
        # Every module below the widgets: reading, folding, selecting, rendering to text.
        "import syllo_tui.ndjson, syllo_tui.backward, syllo_tui.pipe, syllo_tui.fields\n"
        "import syllo_tui.series, syllo_tui.views, syllo_tui.state, syllo_tui.render\n"
        "import syllo_tui.follower, syllo_tui.browse, syllo_tui.feed, syllo_tui.remote\n"
        "import syllo_tui.charts, syllo_tui.runs, syllo_tui.runtable\n"
        "import syllo_tui.tokens, syllo_tui.diff, syllo_tui.prompts\n"
        "heavy = ('torch', 'transformers', 'textual', 'datasets', 'pyarrow')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60, check=True
    )
    assert json.loads(out.stdout) == []
    # The check itself can fail: importing something heavy does show up.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, json; import textual.app; print(json.dumps('textual' in sys.modules))",
        ],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) is True
