"""Tests for syllo_tui.stream: incremental NDJSON reading of a file being written.

Where timing between writer and reader matters, the bytes are written by a
separate process (tests/_writer_proc.py) that acknowledges each write, so the
tests are deterministic without sleeping.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syllo_train.events import EventWriter
from syllo_tui import stream
from syllo_tui.stream import (
    MALFORMED_REASONS,
    EventTail,
    ReadResult,
    StdinTail,
    iter_history,
    open_source,
    read_tail,
)

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


# -- following a file -----------------------------------------------------


def test_half_line_is_held_back_until_complete(
    tmp_path: Path, writer_for: Callable[..., Writer]
) -> None:
    path = tmp_path / "events.jsonl"
    event = ev("log", 10, loss=1.5, text="ü" * 50)
    data = line(event)
    w = writer_for(path)
    tail = EventTail(path)
    w.append(data[:20])
    res = tail.poll()
    assert res.events == [] and res.malformed == 0
    assert tail.offset == 0  # the partial line is not consumed
    w.append(data[20:-1])  # all but the newline: still not a line
    assert tail.poll().events == []
    w.append(b"\n")
    res = tail.poll()
    assert res.events == [event]
    assert res.malformed == 0 and not res.reset
    assert tail.offset == len(data)
    assert tail.poll().events == []  # yielded once
    w.close()
    tail.close()


def test_malformed_lines_are_counted_by_reason(
    tmp_path: Path, writer_for: Callable[..., Writer]
) -> None:
    path = tmp_path / "events.jsonl"
    good = [ev("run_start", 0), ev("log", 1), ev("eval", 2), ev("log", 3)]
    w = writer_for(path)
    tail = EventTail(path)
    w.append(
        line(good[0])
        + b'{"type": "log", "step": \n'  # bad_json
        + b"not json at all\n"  # bad_json
        + b'{"type":"log","text":"\xff\xfe"}\n'  # not_utf8
        + line(good[1])
        + b"[1, 2, 3]\n"  # not_object
        + b'"a string"\n'  # not_object
        + b'{"step": 4}\n'  # no_type
        + b'{"type": 7}\n'  # no_type
        + b"\n   \n\r\n"  # blank: skipped, not counted
        + line(good[2])
        + line(good[3])
    )
    res = tail.poll()
    assert res.events == good
    assert res.malformed == 7
    assert tail.malformed_total == 7
    assert tail.malformed_by_reason == {
        "bad_json": 2,
        "not_utf8": 1,
        "not_object": 2,
        "no_type": 2,
        "too_long": 0,
    }
    assert set(tail.malformed_by_reason) == set(MALFORMED_REASONS)
    w.close()
    tail.close()


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


def test_five_megabyte_line(tmp_path: Path, writer_for: Callable[..., Writer]) -> None:
    path = tmp_path / "events.jsonl"
    big = ev("eval", 200, output="y" * (5 << 20))
    data = line(big)
    assert len(data) > 5 << 20
    w = writer_for(path)
    tail = EventTail(path)
    third = len(data) // 3
    w.append(line(ev("log", 1)) + data[:third])
    assert tail.poll().events == [ev("log", 1)]
    w.append(data[third : 2 * third])
    assert tail.poll().events == []
    w.append(data[2 * third :] + line(ev("log", 2)))
    res = poll_all(tail)  # more than one poll's 4 MB
    assert res.events == [big, ev("log", 2)]
    assert res.malformed == 0
    # Reading backwards across 1 MB blocks finds it whole too.
    events, end = read_tail(path, max_events=2)
    assert events == [big, ev("log", 2)]
    assert end == path.stat().st_size
    w.close()
    tail.close()


def test_too_long_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    long_event = line(ev("log", 2, text="z" * 500))
    content = line(ev("log", 1)) + long_event + line(ev("log", 3))
    with open(path, "wb") as f:
        f.write(content[:300])
        f.flush()
        tail = EventTail(path, max_line_bytes=200)
        before = tail.poll()  # one read: the whole partial arrives at once
        # Still incomplete, but already past the limit: counted now, its bytes not kept.
        assert before.malformed == 1
        f.write(content[300:])
    after = poll_all(tail, max_bytes=64)
    assert [e["step"] for e in before.events + after.events] == [1, 3]
    assert tail.malformed_by_reason["too_long"] == 1 and tail.malformed_total == 1
    assert before.malformed + after.malformed == 1
    tail.close()
    for block in (16, 1 << 20):  # reading backwards, with the line across many blocks or in one
        old = stream.BLOCK_SIZE
        stream.BLOCK_SIZE = block
        try:
            with EventTail(path, max_line_bytes=200) as t:
                events = t.seek_tail(max_events=10)
                assert [e["step"] for e in events] == [1, 3]
                assert t.malformed_by_reason["too_long"] == 1
        finally:
            stream.BLOCK_SIZE = old


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


# -- property: any split of the byte stream gives the same events ----------

_VALID = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["run_start", "log", "eval", "checkpoint", "x"]),
        "step": st.integers(0, 10**6),
    },
    optional={"text": st.text(max_size=30), "v": st.floats(allow_nan=False, allow_infinity=False)},
)


@st.composite
def _labelled_line(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any] | None]:
    """A line without its newline and what the reader must make of it."""
    kind = draw(
        st.sampled_from(
            ["ok", "ok", "ok", "cut", "not_object", "no_type", "utf8", "blank", "garbage"]
        )
    )
    event = draw(_VALID)
    raw = orjson.dumps(event)
    if kind == "ok":
        return "ok", raw, event
    if kind == "cut":  # a strict prefix of an object is never valid JSON
        return _garbage(raw[: draw(st.integers(1, len(raw) - 1))])
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
    return _garbage(b"#" + noise)  # '#' never starts JSON


def _garbage(data: bytes) -> tuple[str, bytes, None]:
    """Label a line that is not JSON: not_utf8 if its bytes are not UTF-8 (a cut may split a character)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8", data, None
    return "bad_json", data, None


def _label(kind: str, raw: bytes, max_line: int) -> str:
    return "too_long" if len(raw) > max_line else kind


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_labelled_line(), max_size=40),
    partial=st.one_of(st.none(), _labelled_line()),
    data=st.data(),
)
def test_any_split_yields_exactly_the_complete_valid_lines(
    lines: list[tuple[str, bytes, dict[str, Any] | None]],
    partial: tuple[str, bytes, dict[str, Any] | None] | None,
    data: st.DataObject,
) -> None:
    max_line = 60  # small, so that some generated lines are too long
    complete = b"".join(raw + b"\n" for _, raw, _ in lines)
    blob = complete + (partial[1] if partial else b"")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=12), label="cuts"))
    chunks = [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=True)]

    expected = [e for k, raw, e in lines if _label(k, raw, max_line) == "ok"]
    reasons = collections.Counter(_label(k, raw, max_line) for k, raw, _ in lines)
    reasons.pop("ok", None)
    reasons.pop("blank", None)
    if partial is not None and len(partial[1]) > max_line:
        reasons["too_long"] += 1  # held bytes beyond the limit are dropped and counted at once

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        tail = EventTail(path, max_line_bytes=max_line)
        got: list[dict[str, Any]] = []
        malformed = 0
        try:
            for chunk in chunks:
                os.write(fd, chunk)
                res = tail.poll(data.draw(st.sampled_from([1, 7, 64, 4 << 20]), label="max_bytes"))
                assert not res.reset
                got += res.events
                malformed += res.malformed
            res = poll_all(tail)
            got += res.events
            malformed += res.malformed
        finally:
            os.close(fd)
            tail.close()
    assert got == expected
    assert malformed == sum(reasons.values()) == tail.malformed_total
    assert {k: v for k, v in tail.malformed_by_reason.items() if v} == dict(reasons)
    assert tail.offset == len(complete)


# -- reading backwards ------------------------------------------------------


def _write_run(path: Path, n_logs: int) -> list[dict[str, Any]]:
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


@pytest.mark.parametrize("block", [97, 1 << 20])
def test_read_tail_finds_last_events_of_each_wanted_type(tmp_path: Path, block: int) -> None:
    path = tmp_path / "events.jsonl"
    events = _write_run(path, 3500)
    with open(path, "ab") as f:
        f.write(b'{"type":"log","step":99999')  # partial: not read, followed later
    complete_size = path.stat().st_size - len(b'{"type":"log","step":99999')
    old = stream.BLOCK_SIZE
    stream.BLOCK_SIZE = block
    try:
        want = {"run_start", "eval", "checkpoint", "log", "run_end"}  # run_end: never written
        got, end = read_tail(path, want_types=want, max_events=50, max_bytes=8 << 10)
        last_of = {e["type"]: e for e in events}
        assert end == complete_size
        # The last 50 events would need more than 8 KB: the tail is a suffix of the events
        # plus the last run_start / eval / checkpoint found further back.
        for t in ("run_start", "eval", "checkpoint", "log"):
            assert last_of[t] in got
        assert got == [e for e in events if e in got]  # file order, no duplicates
        assert got[-1] == events[-1]
        older = [last_of[t] for t in ("run_start", "eval", "checkpoint")]
        tail_part = [e for e in got if e not in older]
        assert 0 < len(tail_part) < 50
        assert tail_part == events[-len(tail_part) :]
        # Without a byte limit: exactly the last 50, plus the older wanted ones.
        got, _ = read_tail(path, want_types=want, max_events=50)
        expected = [e for e in events if e in events[-50:] or e in last_of.values()]
        assert got == expected
        # No wanted types: just the last N.
        got, _ = read_tail(path, max_events=10)
        assert got == events[-10:]
        # Only wanted types: one of each.
        got, _ = read_tail(path, want_types={"run_start", "checkpoint"}, max_events=0)
        assert got == [last_of["run_start"], last_of["checkpoint"]]
        # Whole file smaller than max_events.
        got, _ = read_tail(path, max_events=10**6)
        assert got == events
    finally:
        stream.BLOCK_SIZE = old


def test_type_name_cut_by_a_block_edge_is_found(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    old = stream.BLOCK_SIZE
    stream.BLOCK_SIZE = 64
    try:
        # Shifting the later bytes moves the block edges across '"checkpoint"' one byte at a time.
        for pad in range(80):
            path.write_bytes(
                line(ev("checkpoint", 1)) + line(ev("log", 2, text="t" * pad)) + line(ev("log", 3))
            )
            got, _ = read_tail(path, want_types={"checkpoint"}, max_events=1)
            assert got == [ev("checkpoint", 1), ev("log", 3)], f"pad={pad}"
    finally:
        stream.BLOCK_SIZE = old


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_labelled_line(), max_size=40),
    partial=st.one_of(st.none(), _labelled_line()),
    max_events=st.integers(0, 12),
    want=st.sets(st.sampled_from(["run_start", "log", "eval", "checkpoint", "x", "never"])),
    block=st.integers(1, 80),
)
def test_read_tail_matches_a_forward_read(
    lines: list[tuple[str, bytes, dict[str, Any] | None]],
    partial: tuple[str, bytes, dict[str, Any] | None] | None,
    max_events: int,
    want: set[str],
    block: int,
) -> None:
    max_line = 60
    offsets, pos = [], 0
    for _, raw, _ in lines:
        offsets.append(pos)
        pos += len(raw) + 1
    complete = b"".join(raw + b"\n" for _, raw, _ in lines)
    labelled = [
        (_label(k, raw, max_line), off, e) for (k, raw, e), off in zip(lines, offsets, strict=True)
    ]
    ok = [(off, e) for lab, off, e in labelled if lab == "ok"]
    keep = set(off for off, _ in ok[-max_events:]) if max_events else set()
    latest: dict[str, int] = {}
    for off, e in ok:
        assert e is not None
        latest[e["type"]] = off
    keep |= {off for t, off in latest.items() if t in want}
    expected = [e for off, e in ok if off in keep]
    # The lines parsed on the way back: from the oldest of the last N events to the end.
    if max_events == 0:
        parsed_from = len(complete)
    elif len(ok) < max_events:
        parsed_from = 0
    else:
        parsed_from = ok[-max_events][0]
    bad_parsed = sum(
        1 for lab, off, _ in labelled if lab not in ("ok", "blank") and off >= parsed_from
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(complete + (partial[1] if partial else b""))
        old = stream.BLOCK_SIZE
        stream.BLOCK_SIZE = block
        try:
            with EventTail(path, max_line_bytes=max_line) as tail:
                got = tail.seek_tail(want_types=want, max_events=max_events)
                assert tail.offset == len(complete)
                assert tail.malformed_total == bad_parsed
                history = [e for chunk in tail.history(chunk_events=3) for e in chunk]
        finally:
            stream.BLOCK_SIZE = old
    assert got == expected
    assert history == [e for _, e in ok]


def test_iter_history_yields_everything_before_end_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    events = _write_run(path, 2500)
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


# -- stdin -----------------------------------------------------------------


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


# -- the reader must stay light ---------------------------------------------


def test_reader_imports_no_heavy_modules() -> None:
    code = (
        "import json, sys\n"
        "import syllo_train.events, syllo_tui.stream\n"
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
