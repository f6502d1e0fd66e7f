"""render.py: plain text for the widgets and ``--once``; untrusted text made inert."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import eventgen
from _folds import fold

from syllo_tui.render import (
    SEAM,
    fmt_bytes,
    fmt_duration,
    inert,
    progress_bar,
    sparkline,
    split_think,
    summary,
)
from syllo_tui.series import Series


def test_inert_shows_control_characters() -> None:
    nasty = "a\x1b]52;c;SGVsbG8=\x07b\x1b[2Jc\rd\x9be\u202ef\x00\x7f\tg\nh"
    out = inert(nasty)
    assert out == "a␛]52;c;SGVsbG8=␇b␛[2Jc␍d\\x9be\\u202ef␀␡\tg\nh"
    assert not any(ord(ch) < 0x20 and ch not in "\t\n" for ch in out)
    assert inert("[bold red]x[/]") == "[bold red]x[/]"


def test_split_think() -> None:
    assert split_think("a<think>b</think>c<think>d") == [
        ("a", False),
        ("<think>b</think>", True),
        ("c", False),
        ("<think>d", True),
    ]
    assert split_think("plain") == [("plain", False)]
    # The eval prompt opened the block (think_opened): reasoning runs to the first </think>.
    assert split_think("hmm\n</think>\n\n6", opened=True) == [
        ("hmm\n</think>", True),
        ("\n\n6", False),
    ]
    assert split_think("still thinking", opened=True) == [("still thinking", True)]
    assert split_think("</think>6<think>x</think>", opened=True) == [
        ("</think>", True),
        ("6", False),
        ("<think>x</think>", True),
    ]


def test_formatting() -> None:
    assert [fmt_duration(s) for s in (None, 5, 250, 3725, 90000)] == [
        "–",
        "5s",
        "4m10s",
        "1h02m",
        "1d01h",
    ]
    assert fmt_bytes(1_288_490_189) == "1.2 GB"
    assert progress_bar(0.5, 10) == "█████░░░░░"
    assert progress_bar(None, 4) == "····"
    assert len(progress_bar(0.37, 13)) == 13


def test_sparkline_aligns_by_step_and_marks_seams() -> None:
    s = Series()
    for step in range(10, 110, 10):
        s.add(step, float(step))
    line = sparkline(s, 10)
    assert len(line) == 10 and line[0] == "▁" and line[-1] == "█"
    assert list(line) == sorted(line), "a rising series draws rising bars"
    sparse = Series()
    sparse.add(60, 1.0)
    sparse.add(100, 2.0)
    aligned = sparkline(sparse, 10, span=(10, 100))
    assert aligned.startswith("     ") and aligned.endswith("█"), aligned
    s.mark_seam(50)
    assert SEAM in sparkline(s, 10, span=(10, 100))


def test_summary_names_everything_the_header_shows(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_timeouts(path)
    st = fold(path)
    text = summary(st, st.last_ts + 5, UTC)
    for expected in (
        eventgen.RUN_ID,
        eventgen.MODEL,
        "status training",
        "step 1000/2000",
        "timeouts 2 (10.0% of 20 generations; stalls 1)",
        "⏱ TIMEOUT",
        "checkpoints 2, last at step 800",
        "22:19:52  step 1000 stall",
    ):
        assert expected in text, expected
