"""state.py: events folded into the view model the monitor draws.

Events come from files written by tests/eventgen.py through the real
EventWriter and read back through syllo_tui.stream, as the app reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import eventgen
import pytest
from _folds import fold, read_all

from syllo_train.events import SCHEMA_VERSION, Counters
from syllo_tui.render import verdict
from syllo_tui.state import RunState


def test_mid_run_state(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path)
    st = fold(path)
    assert st.run_id == eventgen.RUN_ID
    assert st.model == eventgen.MODEL
    assert st.status == "training"
    assert (st.step, st.total_steps) == (1200, 2000)
    assert st.progress == pytest.approx(0.6)
    assert st.counters["evals"] == 6 == len(st.evals)
    assert st.counters["checkpoints"] == 3
    assert st.last_checkpoint_step == 1200
    assert st.counters == run.counters.as_dict()
    # 120 log examples + 6 evals x 4 samples.
    assert len(st.examples) == 120 + 24
    assert st.examples[-1].tier == "eval" and st.examples[-1].step == 1200
    assert [p[0] for p in st.train_loss.points()] == list(range(10, 1210, 10))
    # The gap rose at the last eval only (0.0737 → 0.1112): one noisy rise is not a trend
    # (derived.py's rule wants monitor.overfit_evals = 3 rises in a row).
    assert not st.overfitting and st.overfit_evals == 3
    assert list(st.warnings) == []


def test_timeouts_are_counted_logged_and_attached(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_timeouts(path)
    st = fold(path)
    assert st.counters["timeouts"] == 2
    assert st.counters["stalls"] == 1
    assert st.counters["timeout_pct"] == 10.0
    kinds = [e.kind for e in st.log]
    assert kinds.count("timeout") == 1 and kinds.count("stall") == 1
    last_eval = [e for e in st.examples if e.step == 1000 and e.tier == "eval"]
    assert [e.timed_out for e in last_eval] == [False, True, False, True]
    timed_out = last_eval[1]
    assert timed_out.output is None and timed_out.match is None
    assert timed_out.partial is not None and timed_out.partial.startswith("<think>")
    assert verdict(timed_out) == "⏱ TIMEOUT"
    assert st.evals[-1].timeouts == 2


def test_finished_run(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.finished(path)
    st = fold(path)
    assert st.status == "completed"
    now = st.last_ts + 10_000  # long after: a finished run is never stale
    assert st.display_status(now) == "completed"
    assert st.eta_at(now) == 0.0
    assert st.elapsed_at(now) == st.elapsed_s
    assert st.log[-1].kind == "end"


def test_resume_does_not_double_count(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.resumed(path)
    st = fold(path)
    steps = [p[0] for p in st.train_loss.points()]
    assert steps == sorted(set(steps)), "each step once, in order"
    assert steps == list(range(10, 810, 10))
    assert 9.0 not in st.train_loss.values(), "the lost pre-crash losses are gone"
    assert st.train_loss.seams == [600]
    assert st.resumes == 1
    example_steps = [e.step for e in st.examples if e.tier == "log"]
    assert example_steps == list(range(10, 810, 10))
    assert [e.step for e in st.evals] == [200, 400, 600, 800]
    assert st.step == 800
    assert [e.kind for e in st.log].count("resume") == 1


def test_resume_seen_live_cuts_what_came_before(tmp_path: Path) -> None:
    """A resume read in the middle of following (not from a whole file) also cuts."""
    path = tmp_path / "events.jsonl"
    eventgen.resumed(path)
    events = read_all(path)
    seam = next(i for i, e in enumerate(events) if e["type"] == "resume")
    st = RunState()
    st.apply_all(events[:seam])
    assert st.train_loss.latest == 9.0 and st.step == 650
    st.apply(events[seam])
    assert st.step == 600
    assert st.train_loss.latest_step == 600
    assert all(e.step <= 600 for e in st.examples)


def test_counters_come_from_the_latest_event_only(tmp_path: Path) -> None:
    """A state folded from the tail alone agrees with one folded from the start."""
    path = tmp_path / "events.jsonl"
    eventgen.finished(path)
    events = read_all(path)
    full, tail = RunState(), RunState()
    full.apply_all(events)
    tail.apply_all(events[-5:])
    assert tail.counters == full.counters
    assert tail.step == full.step and tail.status == full.status
    assert tail.running_accuracy == full.running_accuracy


def test_unknown_type_and_newer_schema_warn_once_and_keep_going(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=100)
    run.emit("gpu_temperature", 100, celsius=81)
    run.emit("gpu_temperature", 100, celsius=82)
    run.w.schema_version = SCHEMA_VERSION + 1
    run.log(110, brand_new_field={"x": 1})
    st = fold(path)
    assert len(st.warnings) == 2
    assert "gpu_temperature" in st.warnings[0]
    assert f"v{SCHEMA_VERSION + 1}" in st.warnings[1]
    assert st.step == 110 and st.train_loss.latest_step == 110
    assert [e.kind for e in st.log].count("warning") == 2


def test_wrong_field_types_never_raise() -> None:
    st = RunState()
    bad: list[Any] = [
        {
            "v": 1,
            "type": "log",
            "ts": "noon",
            "run_id": 7,
            "step": "ten",
            "loss": "low",
            "example": "x",
        },
        {
            "v": 1,
            "type": "eval",
            "ts": 1.0,
            "run_id": "r",
            "step": 5,
            "samples": [1, None, {"prompt": 3}],
        },
        {
            "v": 1,
            "type": "timeout",
            "ts": 1.0,
            "run_id": "r",
            "step": 5,
            "stall": "yes",
            "partial": 9,
        },
        {
            "v": 1,
            "type": "log",
            "ts": 2.0,
            "run_id": "r",
            "step": 6,
            "counters": {"timeouts": "many"},
        },
        {"v": 1, "type": "run_end", "ts": 3.0, "run_id": "r", "step": 6, "status": "exploded"},
        {"v": 1, "type": "log", "ts": float("nan"), "run_id": "r", "step": 7, "loss": float("inf")},
        {"type": None},
        [1, 2, 3],
    ]
    for event in bad:
        st.apply(event)
        if isinstance(event, dict) and event.get("type") == "run_end":
            assert st.status == "stopped"  # an unknown end status is shown as stopped
    assert st.malformed == 1  # the list
    assert st.status == "training"  # events after an end mean the run goes on
    assert st.train_loss.latest is None
    assert st.counters["timeouts"] == 0
    assert any("without a string 'type'" in w for w in st.warnings)


def test_a_different_run_in_the_same_file_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.mid_run(path, step=300)
    eventgen.mid_run(path, step=50, run_id="20990101-000000-000002")
    st = fold(path)
    assert st.run_id == "20990101-000000-000002"
    assert st.step == 50
    assert len(st.evals) == 0
    assert st.train_loss.points()[0][0] == 10 and len(st.train_loss) == 5
    assert st.restarts == 1


def test_staleness_follows_the_clock(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.mid_run(path, step=100)
    st = RunState(stale_after_s=60)
    st.apply_all(read_all(path))
    last = st.last_ts
    assert last is not None
    assert st.display_status(last + 59) == "training"
    assert st.display_status(last + 61) == "stale"
    assert st.eta_at(last + 61) is None
    assert st.elapsed_at(last + 30) == pytest.approx(st.elapsed_s + 30)


def test_a_long_eval_is_not_stale(tmp_path: Path) -> None:
    """4 prompts one at a time, each up to 60 s + the 5 s stall grace, may pass without an event."""
    path = tmp_path / "events.jsonl"
    run = eventgen.RunWriter(path)
    run.run_start(monitor={"generation_timeout_s": 60.0, "eval_samples": 4})
    run.log(10)
    st = RunState(stale_after_s=60)
    st.apply_all(read_all(path))
    assert st.stale_threshold_s == 1.25 * 4 * 65  # derived.quiet_eval_s, as the snapshot's
    assert st.display_status(st.last_ts + 320) == "training"
    assert st.display_status(st.last_ts + 326) == "stale"


def test_a_batched_eval_is_quiet_for_one_batch_only(tmp_path: Path) -> None:
    """4 prompts in one batch share one 60 s limit: staleness waits for one batch, not four."""
    path = tmp_path / "events.jsonl"
    run = eventgen.RunWriter(path)
    monitor = {"generation_timeout_s": 60.0, "eval_samples": 4, "stall_grace_s": 5.0}
    run.run_start(monitor={**monitor, "generation_batch_size": 4})
    run.log(10)
    st = RunState(stale_after_s=60)
    st.apply_all(read_all(path))
    assert st.stale_threshold_s == 1.25 * 65


def test_cut_texts_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.RunWriter(path, max_text_chars=50)
    run.run_start()
    example = {
        "index": 1,
        "prompt": "p" * 500,
        "golden": "g",
        "prompt_tokens": 500,
        "golden_tokens": 1,
    }
    run.log(10, example={**example, "loss": 0.5})
    st = fold(path)
    ex = st.examples[-1]
    assert ex.cut == {"prompt": 500}
    assert len(ex.prompt) == 50 and ex.prompt.endswith("…[cut]")


def test_counters_roundtrip_matches_the_contract() -> None:
    c = Counters(generations=4, timeouts=1, matches=2)
    st = RunState()
    st.apply({"v": 1, "type": "log", "ts": 1.0, "run_id": "r", "step": 1, "counters": c.as_dict()})
    assert st.counters == c.as_dict()
    assert st.running_accuracy == 0.5


def test_run_health_anomalies_best_and_overfitting(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_health(path).close()
    st = fold(path)
    assert st.counters["anomalies"] == 2 == len(st.anomalies)
    spike, nan = st.anomalies
    assert (spike.step, spike.kind, spike.value, spike.threshold) == (455, "loss_spike", 9.5, 3.25)
    assert spike.what == "loss spike 9.5 (threshold 3.25)"
    assert [e.index for e in spike.examples] == [100, 101, 102] and spike.batch_examples == 8
    assert nan.what == "the loss is not finite" and nan.value is None
    # Marks the charts and trends draw: each anomaly's own step, and the best eval so far
    # (the best at 200 was replaced by the one at 400).
    assert st.marks["anomaly"] == [455, 690]
    assert st.marks["best"] == [400]
    assert st.best is not None and (st.best.metric, st.best.value, st.best.step) == (
        "val_loss",
        0.7,
        400,
    )
    assert st.best.checkpoint == "runs/demo/checkpoint-400"
    # Gaps 0.05, 0.02, 0.04, 0.07, 0.11: three rises in a row at the last eval.
    assert st.overfitting
    kinds = [e.kind for e in st.log]
    assert kinds.count("anomaly") == 2 and kinds.count("best") == 2 and kinds.count("overfit") == 1
    text = next(e.text for e in st.log if e.kind == "anomaly")
    assert text.startswith("loss spike 9.5 (threshold 3.25); its batch: 8 examples")


def test_a_resume_drops_the_health_marks_it_redoes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.with_health(path)
    run.resume(600)
    run.close()
    st = fold(path)
    assert st.marks["anomaly"] == [455] and [a.step for a in st.anomalies] == [455]
    assert not st.overfitting, "a seam starts the gap trend over"
    assert [r.step for r in st.prompts.rounds(0)] == [200, 400, 600]
