"""runtable.py: one line a run, for the run list and --once on several runs."""

from __future__ import annotations

from pathlib import Path

import eventgen
from _folds import fold

from syllo_tui.runtable import run_row, table


def test_rows_hold_what_the_list_promises(tmp_path: Path) -> None:
    fin, mid = tmp_path / "fin.jsonl", tmp_path / "mid.jsonl"
    eventgen.finished(fin)
    run = eventgen.with_timeouts(mid)
    now = run.w.now + 65
    rows = [run_row("finished", fold(fin), now), run_row("evil\x1b]52;c;x\x07", fold(mid), now)]
    assert rows[0].cells[:2] == ("completed", "2,000/2,000")
    assert rows[1].cells == (
        "training",
        "1,000/2,000",
        rows[1].cells[2],
        rows[1].cells[3],
        "25.0%",
        "2",
        "1m05s",
    )
    assert rows[1].name == "evil␛]52;c;x␇"
    text = table(rows)
    lines = text.splitlines()
    assert lines[0].split() == [
        "run",
        "status",
        "step",
        "loss",
        "val",
        "loss",
        "acc",
        "timeouts",
        "last",
        "event",
    ]
    assert lines[1].startswith("finished ") and "completed" in lines[1]
    assert "\x1b" not in text and "\x07" not in text
    narrow = table(rows, width=60).splitlines()
    assert narrow[2].startswith("evi…"), "a long name is cut, the columns stay"
