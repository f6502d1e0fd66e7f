"""ndjson.py: line framing as a reader of a growing file sees it.

Half lines are held back, malformed lines counted by reason, too-long lines
skipped; any split of the bytes gives exactly the complete valid lines.
"""

from __future__ import annotations

import collections
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _lines import (
    Writer,
    ev,
    label,
    labelled_line,
    line,
    poll_all,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syllo_tui import backward
from syllo_tui.stream import (
    MALFORMED_REASONS,
    EventTail,
    read_tail,
)


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
        old = backward.BLOCK_SIZE
        backward.BLOCK_SIZE = block
        try:
            with EventTail(path, max_line_bytes=200) as t:
                events = t.seek_tail(max_events=10)
                assert [e["step"] for e in events] == [1, 3]
                assert t.malformed_by_reason["too_long"] == 1
        finally:
            backward.BLOCK_SIZE = old


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(labelled_line(), max_size=40),
    partial=st.one_of(st.none(), labelled_line()),
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

    expected = [e for k, raw, e in lines if label(k, raw, max_line) == "ok"]
    reasons = collections.Counter(label(k, raw, max_line) for k, raw, _ in lines)
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
