"""The counters panel (syllo_tui/widgets/counters.py) and ``--once``: the evals' share of run time.

A real app following a real file (tests/eventgen.py writes it with the real
EventWriter), read off the screen; ``--once`` through the real CLI function.
"""

from __future__ import annotations

from pathlib import Path

import eventgen
import pytest
from _pilot import WIDE, app_for, screen_text, settle

from syllo_tui import cli


def _run_with_a_budget_cut(path: Path) -> eventgen.RunWriter:
    run = eventgen.mid_run(path, step=390)
    budget = {"pct": 10, "share_pct": 11.2, "prompts": 1, "of": 4}
    run.eval(400, eval_s_total=25.0, train_s_total=975.0, budget=budget)
    return run


@pytest.mark.asyncio
async def test_the_counters_panel_shows_the_eval_share_and_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = _run_with_a_budget_cut(path)
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.eval_share is not None)
        assert "evals    2 (2.5% of time · budget 1/4) · @400" in screen_text(app)


def test_once_shows_the_eval_share(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    _run_with_a_budget_cut(path).close()
    assert cli.main(["--once", str(path)]) == 0
    assert "(2.5% of run time, budget 10%: 1/4 prompts)" in capsys.readouterr().out
