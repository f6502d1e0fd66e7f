"""backward.py: the current state from a file's end, as a forward read would find it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from _lines import ev, label, labelled_line, line, write_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syllo_tui import backward
from syllo_tui.stream import (
    EventTail,
    read_tail,
)


@pytest.mark.parametrize("block", [97, 1 << 20])
def test_read_tail_finds_last_events_of_each_wanted_type(tmp_path: Path, block: int) -> None:
    path = tmp_path / "events.jsonl"
    events = write_run(path, 3500)
    with open(path, "ab") as f:
        f.write(b'{"type":"log","step":99999')  # partial: not read, followed later
    complete_size = path.stat().st_size - len(b'{"type":"log","step":99999')
    old = backward.BLOCK_SIZE
    backward.BLOCK_SIZE = block
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
        backward.BLOCK_SIZE = old


def test_type_name_cut_by_a_block_edge_is_found(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    old = backward.BLOCK_SIZE
    backward.BLOCK_SIZE = 64
    try:
        # Shifting the later bytes moves the block edges across '"checkpoint"' one byte at a time.
        for pad in range(80):
            path.write_bytes(
                line(ev("checkpoint", 1)) + line(ev("log", 2, text="t" * pad)) + line(ev("log", 3))
            )
            got, _ = read_tail(path, want_types={"checkpoint"}, max_events=1)
            assert got == [ev("checkpoint", 1), ev("log", 3)], f"pad={pad}"
    finally:
        backward.BLOCK_SIZE = old


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(labelled_line(), max_size=40),
    partial=st.one_of(st.none(), labelled_line()),
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
        (label(k, raw, max_line), off, e) for (k, raw, e), off in zip(lines, offsets, strict=True)
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
        old = backward.BLOCK_SIZE
        backward.BLOCK_SIZE = block
        try:
            with EventTail(path, max_line_bytes=max_line) as tail:
                got = tail.seek_tail(want_types=want, max_events=max_events)
                assert tail.offset == len(complete)
                assert tail.malformed_total == bad_parsed
                history = [e for chunk in tail.history(chunk_events=3) for e in chunk]
        finally:
            backward.BLOCK_SIZE = old
    assert got == expected
    assert history == [e for _, e in ok]
