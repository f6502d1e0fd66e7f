"""derived.py: one stream through every fold — snapshot, human log, TUI — and every shared value agrees.

The streams come from tests/eventgen.py (the real EventWriter): runs with
evals, timeouts, a resume seam, a log after the last eval (the gap must not
follow it), and an end. After each event the three folds are compared on
what more than one of them shows: the gap, the last eval's accuracy, the
running accuracy and the timeout percentage, and the ETA.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import eventgen
import pytest
from _support import decode_events

from syllo_train import derived
from syllo_train.sinks.humanlog import format_event
from syllo_train.sinks.snapshot import StatusSnapshot
from syllo_tui.render import summary
from syllo_tui.state import RunState

SCENARIOS: dict[str, Callable[[Path], Any]] = {
    "mid_run": eventgen.mid_run,
    "with_timeouts": eventgen.with_timeouts,
    "finished": eventgen.finished,
    "resumed": eventgen.resumed,
}


def _log_after_the_last_eval(path: Path) -> Any:
    run = eventgen.with_timeouts(path)
    run.log(run.step + 10, loss=0.01)  # a new train loss: the gap stays the eval's
    return run


SCENARIOS["log_after_eval"] = _log_after_the_last_eval


def _evals_with_their_share(path: Path) -> Any:
    """Evals that carry this process's eval and training seconds; the last one cut by the budget."""
    run = eventgen.RunWriter(path)
    run.run_start()
    run.train(0, 190)
    run.eval(
        200,
        eval_s_total=12.5,
        train_s_total=487.5,
        budget={"pct": 10, "share_pct": 2.5, "prompts": 4, "of": 4},
    )
    run.train(200, 390)
    budget = {"pct": 10, "share_pct": 11.2, "prompts": 1, "of": 4}
    run.eval(400, eval_s_total=25.0, train_s_total=975.0, budget=budget)
    run.log(410)
    return run


SCENARIOS["eval_share"] = _evals_with_their_share


def _percent(x: float | None) -> str:
    return "n/a" if x is None else format(x, ".2%")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_snapshot_human_log_and_tui_agree_on_every_shared_value(
    scenario: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    SCENARIOS[scenario](path).close()
    snap = StatusSnapshot(tmp_path / "snap.json")
    tui = RunState()
    last_eval_block: str | None = None
    last_eval: dict[str, Any] | None = None
    checked = 0
    for event in decode_events(path):
        snap.apply(event)
        tui.apply(event)
        text = format_event(event)
        if event["type"] == "eval":
            last_eval, last_eval_block = event, text
        s = snap.data
        # The gap: the latest eval's, in all three.
        assert s["gap"] == tui.gap
        if last_eval is not None:
            assert s["gap"] == last_eval["gap"]
            assert s["last_eval_accuracy"] == tui.last_eval_accuracy == last_eval["accuracy"]
        # The running accuracy and the timeout percentage: the counters', read one way.
        if isinstance(event.get("counters"), dict):
            view = derived.counters_view(event["counters"])
            assert s["accuracy"] == tui.running_accuracy == view["accuracy"]
            assert s["timeout_pct"] == tui.counters["timeout_pct"] == view["timeout_pct"]
            assert s["timeouts"] == tui.counters["timeouts"] == view["timeouts"]
        # The eval share: the latest eval's seconds, one rule.
        assert s["eval_share"] == tui.eval_share
        if last_eval is not None:
            assert s["eval_share"] == derived.eval_share_of(last_eval)
        # The ETA at the moment of the event.
        assert s["eta_s"] == tui.eta_at(event["ts"])
        checked += 1
    assert last_eval is not None and last_eval_block is not None and checked > 10
    # The human log's eval line shows the same numbers.
    counters = derived.counters_view(last_eval["counters"])
    gap = last_eval["gap"]
    line = next(x for x in last_eval_block.splitlines() if x.startswith("🔎 EVAL"))
    assert f"Gap={'n/a' if gap is None else format(gap, '+.4f')}" in line
    assert f"accuracy={_percent(last_eval['accuracy'])}" in line
    assert f"(running {_percent(counters['accuracy'])})" in line
    assert f"timeouts={counters['timeouts']} ({counters['timeout_pct']}%)" in line
    if scenario == "log_after_eval":
        assert snap.data["loss"] == 0.01 and snap.data["gap"] == last_eval["gap"] != 0.01
    if scenario == "eval_share":
        assert snap.data["eval_share"] == 0.025  # 25 s of evals in 25 + 975 s
        assert snap.data["eval_budget"]["prompts"] == 1
        assert "| evals 2.5% of run time" in line
        assert "EVAL BUDGET 10%" in last_eval_block and "first 1 of 4 prompts" in last_eval_block
        once = summary(tui, 1e12)
        assert "evals 2 (2.5% of run time, budget 10%: 1/4 prompts)" in once
    if scenario == "finished":
        assert snap.data["eta_s"] == tui.eta_at(1e12) == 0.0
    assert re.search(r"Gap=", line)


def test_staleness_is_one_rule() -> None:
    # 1.25 × the worst case of an eval round (generation.worst_case_round_s), or the patience.
    config = {"monitor": {"eval_samples": 4, "generation_timeout_s": 60.0, "stall_grace_s": 5.0}}
    quiet = derived.quiet_eval_s(config)
    assert quiet == 4 * (60 + 5)
    assert derived.stale_threshold(120.0, quiet) == 1.25 * quiet
    assert derived.stale_threshold(600.0, 0.0) == 600.0
    assert derived.is_stale("training", 100.0, 100.0 + 326, 325.0)
    assert not derived.is_stale("completed", 100.0, 1e9, 325.0)
    tui = RunState(stale_after_s=120.0)
    tui.apply(
        {
            "v": 2,
            "type": "run_start",
            "ts": 100.0,
            "run_id": "r",
            "step": 0,
            "config": config,
            "max_steps": 10,
        }
    )
    assert tui.stale_threshold_s == derived.stale_threshold(120.0, quiet)
    for now in (100.0 + 1.25 * quiet - 1, 100.0 + 1.25 * quiet + 1):
        assert tui.is_stale(now) == derived.is_stale("training", 100.0, now, tui.stale_threshold_s)
