"""sinks/reporter.py: one emit, three outputs (events file, snapshot, human log) that agree."""

from __future__ import annotations

import json
from pathlib import Path

from _sample_events import sample

from syllo_train.events import SNAPSHOT_FILE, validate_event
from syllo_train.sinks.reporter import Reporter
from syllo_train.sinks.snapshot import read_snapshot


def test_reporter_outputs_agree(tmp_path: Path) -> None:
    rep = Reporter(tmp_path, run_id="run-7")
    rep.emit(
        "run_start",
        0,
        config={},
        model="m",
        params_total=1,
        params_trainable=1,
        train_examples=1,
        val_examples=1,
        eval_prompts=1,
        max_steps=4,
        world_size=1,
        resumed_from=None,
        device="cpu",
        pid=1,
        versions={},
    )
    rep.counters.evals, rep.counters.generations, rep.counters.timeouts = 1, 1, 1
    rep.emit(
        "eval",
        2,
        total_steps=4,
        epoch=0.5,
        val_loss=None,
        train_loss=None,
        gap=None,
        accuracy=0.0,
        samples=[sample(0, None, None, True)],
        seconds=0.5,
    )
    rep.note("⚠️ a note for people only")
    last = rep.emit("run_end", 2, status="stopped", reason="SIGTERM received", elapsed_s=2.0)
    rep.close()
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["type"] for e in events] == ["run_start", "eval", "run_end"]
    assert all(validate_event(e) == [] for e in events)
    snap = read_snapshot(tmp_path / SNAPSHOT_FILE)
    assert (snap["status"], snap["step"], snap["counters"]) == ("stopped", 2, last["counters"])
    log = (tmp_path / "train.log").read_text(encoding="utf-8")
    assert (
        "⏱ TIMEOUT" in log and "a note for people only" in log and "■ run stopped at step 2" in log
    )
    assert "a note" not in (tmp_path / "events.jsonl").read_text(encoding="utf-8")
