"""sinks/snapshot.py: training_status.json, the run's state folded from the events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _sample_events import GOLD, PROMPT, eval_event, sample, worst_case, writer

from syllo_train.events import EVENT_FIELDS, SNAPSHOT_FILE, validate_event
from syllo_train.sinks.snapshot import StatusSnapshot, read_snapshot


@pytest.mark.parametrize("nulls", [True, False], ids=["nulls", "values"])
@pytest.mark.parametrize("etype", list(EVENT_FIELDS))
def test_every_event_type_folds_with_nulls(etype: str, nulls: bool) -> None:
    event = worst_case(etype, nulls)
    assert validate_event(event) == []  # a legal event, so the fold must take it
    snap = StatusSnapshot("unused.json")
    snap.apply(event)
    json.dumps(snap.data)  # still plain data


def test_snapshot_folds_a_run() -> None:
    w = writer()
    snap = StatusSnapshot("unused.json")
    assert snap.data["status"] == "starting"
    snap.apply(
        w.build(
            "run_start",
            0,
            config={},
            model="m",
            params_total=10,
            params_trainable=10,
            train_examples=5,
            val_examples=2,
            eval_prompts=2,
            max_steps=10,
            world_size=1,
            resumed_from=None,
            device="cpu",
            pid=4242,
            versions={},
        )
    )
    assert (
        snap.data["status"],
        snap.data["total_steps"],
        snap.data["pid"],
        snap.data["model"],
    ) == ("training", 10, 4242, "m")
    ex = {
        "index": 1,
        "prompt": PROMPT,
        "golden": GOLD,
        "prompt_tokens": 20,
        "golden_tokens": 25,
        "loss": 1.9,
    }
    log = dict(
        total_steps=10,
        epoch=0.2,
        lr=1e-4,
        grad_norm=0.5,
        steps_per_s=2.0,
        tokens_per_s=100.0,
        eta_s=4.0,
        elapsed_s=1.0,
        peak_mem_bytes=1,
        mem_kind="rss",
        example=ex,
    )
    snap.apply(w.build("log", 2, loss=2.0, **log))
    assert (snap.data["step"], snap.data["loss"], snap.data["eta_s"]) == (2, 2.0, 4.0)
    assert snap.data["last_example"] == {
        "step": 2,
        "tier": "log",
        "prompt": PROMPT,
        "golden": GOLD,
        "output": None,
        "match": None,
        "loss": 1.9,
    }
    w.counters.generations, w.counters.timeouts, w.counters.evals = 2, 1, 1
    snap.apply(eval_event(w, 4, [sample(0, None, None, True), sample(1, GOLD, True, False)]))
    assert (snap.data["val_loss"], snap.data["gap"], snap.data["last_eval_accuracy"]) == (
        2.5,
        0.5,
        0.5,
    )
    assert (
        snap.data["last_example"]["output"] is None and snap.data["last_example"]["match"] is None
    )
    assert snap.data["last_example"]["timed_out"] is True
    assert (snap.data["timeouts"], snap.data["timeout_pct"]) == (1, 50.0)
    snap.apply(w.build("log", 6, loss=1.5, **log))
    # The gap is the latest eval's (derived.gap): a later log moves the loss, not the gap.
    assert (snap.data["loss"], snap.data["gap"]) == (1.5, 0.5)
    snap.apply(w.build("checkpoint", 6, path="runs/x/checkpoint-6", seconds=0.1))
    assert snap.data["last_checkpoint"]["step"] == 6
    end = w.build("run_end", 6, status="completed", reason=None, elapsed_s=9.0)
    snap.apply(end)
    assert (snap.data["status"], snap.data["step"], snap.data["eta_s"]) == ("completed", 6, 0.0)
    assert snap.data["counters"] == end["counters"] and snap.data["run_id"] == "run-1"


def test_snapshot_keeps_the_failure_reason() -> None:
    w = writer()
    snap = StatusSnapshot("unused.json")
    snap.apply(w.build("error", 3, error_type="RuntimeError", message="boom", traceback=None))
    snap.apply(w.build("run_end", 3, status="failed", reason="RuntimeError: boom", elapsed_s=1.0))
    assert (snap.data["status"], snap.data["reason"]) == ("failed", "RuntimeError: boom")


def test_read_snapshot_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / SNAPSHOT_FILE
    bad.write_text("{half")
    with pytest.raises(ValueError, match=str(bad)):
        read_snapshot(bad)
