"""tiers/health.py: anomalies recorded raw, a broken run stopped unsaved, the best eval kept.

Real runs of the CLI on tiny models: a model whose loss is NaN from the first
step (one NaN in its embedding), weights turned NaN mid-run (SYLLO_FAULT
nan@N), a poisoned batch (SYLLO_FAULT spike@N), and a validation set the
training makes worse, so the best eval comes early and must survive
``save_total_limit`` and a resume.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _support import decode_events

from syllo_train import derived, exitcodes
from syllo_train.events import validate_event
from syllo_train.sinks.humanlog import HumanLog
from syllo_train.sinks.snapshot import StatusSnapshot
from syllo_tui.render import summary
from syllo_tui.state import RunState

pytestmark = pytest.mark.slow


def _events(cwd: Path) -> list[dict[str, Any]]:
    evs = decode_events(cwd / "status" / "events.jsonl")
    for e in evs:
        assert validate_event(e) == [], e
    return evs


def _of(evs: list[dict[str, Any]], etype: str) -> list[dict[str, Any]]:
    return [e for e in evs if e["type"] == etype]


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The tiny model with one NaN in its (tied) embedding: every loss is NaN."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("nan-model")
    shutil.copytree(tiny_model_dir, out, dirs_exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        model.get_input_embeddings().weight[5, 0] = float("nan")
    model.save_pretrained(out)
    return out


def test_a_nan_loss_is_recorded_raw_everywhere(
    tmp_path: Path, nan_model: Path, make_config: Callable[..., Path], run_syllo: Any
) -> None:
    cfg = make_config(
        tmp_path,
        model={"name_or_path": str(nan_model)},
        train={"max_steps": 4, "save_steps": 100},
        monitor={"log_steps": 2, "eval_samples": 0, "eval_at_end": False},
    )
    proc = run_syllo("run", cfg, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    evs = _events(tmp_path)
    anomalies = _of(evs, "anomaly")
    assert [(a["step"], a["kind"]) for a in anomalies if a["kind"] == "nonfinite_loss"] == [
        (1, "nonfinite_loss"),
        (2, "nonfinite_loss"),
        (3, "nonfinite_loss"),
        (4, "nonfinite_loss"),
    ]
    assert all(a["value"] is None and a["examples"] for a in anomalies)
    assert all(len(a["examples"]) == 4 and a["batch_examples"] == 4 for a in anomalies)
    logs = _of(evs, "log")
    assert [e["loss"] for e in logs] == [None, None]  # raw: NaN is null, never a mean
    end = evs[-1]
    assert end["counters"]["anomalies"] == len(anomalies) >= 4
    snap = json.loads((tmp_path / "status" / "training_status.json").read_text())
    assert snap["anomalies"] == len(anomalies)
    assert snap["last_anomaly"]["step"] == 4
    log = (tmp_path / "status" / "train.log").read_text(encoding="utf-8")
    assert log.count("⚠️ ANOMALY at step") == len(anomalies)
    assert "the loss is not finite" in log


def test_a_diverged_run_stops_unsaved_and_resumes_from_the_last_finite_checkpoint(
    tmp_path: Path, make_config: Callable[..., Path], run_syllo: Any, start_syllo_bg: Any
) -> None:
    cfg = make_config(
        tmp_path,
        train={"max_steps": 40, "save_steps": 2, "save_total_limit": 0},
        monitor={
            "log_steps": 1,
            "eval_samples": 0,
            "eval_at_end": False,
            "stop_after_nonfinite": 2,
        },
    )
    proc = start_syllo_bg("run", cfg, cwd=tmp_path, fault="nan@5")  # weights NaN after step 5
    code = proc.wait(timeout=300)
    assert code == exitcodes.FAILED, (tmp_path / "stderr.txt").read_text()[-2000:]
    evs = _events(tmp_path)
    end = evs[-1]
    assert end["type"] == "run_end" and end["status"] == "failed"
    assert (
        "2 consecutive steps with a non-finite loss or gradient norm (from step 6" in end["reason"]
    )
    bad = _of(evs, "anomaly")
    assert {a["step"] for a in bad} == {6, 7}
    # Checkpoints 2 and 4 have finite weights; step 6's save was refused.
    saved = [e["step"] for e in _of(evs, "checkpoint")]
    assert saved == [2, 4]
    assert sorted(p.name for p in (tmp_path / "runs" / "out").glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
    ]
    log = (tmp_path / "status" / "train.log").read_text(encoding="utf-8")
    assert "not saving a checkpoint at step 6: its weights are not finite" in log
    # The resume takes the last finite checkpoint and trains on (no fault this time).
    again = run_syllo("run", cfg, "--set", "train.max_steps=8", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    evs = _events(tmp_path)
    (resume,) = _of(evs, "resume")
    assert resume["from_checkpoint"].endswith("checkpoint-4") and resume["step"] == 4
    assert evs[-1]["status"] == "completed" and evs[-1]["step"] == 8


def test_a_poisoned_batch_is_a_loss_spike_naming_its_examples(
    tmp_path: Path, make_config: Callable[..., Path], start_syllo_bg: Any
) -> None:
    cfg = make_config(
        tmp_path,
        # Long enough for the loss to settle: a poisoned batch then stands far above it.
        train={"max_steps": 160, "save_steps": 1000, "learning_rate": 3e-3},
        monitor={"log_steps": 10, "eval_samples": 0, "eval_at_end": False},
    )
    proc = start_syllo_bg("run", cfg, cwd=tmp_path, fault="spike@150")
    assert proc.wait(timeout=300) == 0, (tmp_path / "stderr.txt").read_text()[-2000:]
    evs = _events(tmp_path)
    spikes = [a for a in _of(evs, "anomaly") if a["kind"] == "loss_spike"]
    assert [a["step"] for a in spikes] == [150]
    (spike,) = spikes
    assert spike["value"] > spike["threshold"] > 0
    assert len(spike["examples"]) == 4 and all(ex["prompt"] for ex in spike["examples"])
    # Reported at the log step (150 is one), named by the step it happened at.
    log_150 = next(e for e in evs if e["type"] == "log" and e["step"] == 150)
    assert evs.index(log_150) < evs.index(spike)


def test_the_best_eval_survives_rotation_and_a_resume(
    tmp_path: Path, make_config: Callable[..., Path], run_syllo: Any, puzzle_data: Any
) -> None:
    # Validation answers that training makes wrong: the best val_loss is the first eval's.
    records = [json.loads(x) for x in Path(puzzle_data.train).read_text().splitlines() if x]
    val = tmp_path / "val.jsonl"
    with open(val, "w", encoding="utf-8") as fh:
        for rec in records[:6]:
            rec["messages"][-1]["content"] = "zzzz " * 8
            fh.write(json.dumps(rec) + "\n")
    cfg = make_config(
        tmp_path,
        data={"val": str(val)},
        train={"max_steps": 12, "save_steps": 4, "save_total_limit": 2, "learning_rate": 3e-3},
        monitor={"log_steps": 2, "eval_steps": 2, "eval_samples": 0, "eval_at_end": False},
    )
    proc = run_syllo("run", cfg, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    evs = _events(tmp_path)
    evals = _of(evs, "eval")
    assert evals[0]["is_best"] and evals[0]["best"]["step"] == 2
    best_step = evals[-1]["best"]["step"]
    assert best_step < 12 and best_step % 4 != 0  # an eval step with no checkpoint due
    assert all(e["best"]["step"] == best_step for e in evals if e["step"] >= best_step)
    # Its step got a checkpoint, marked best, and rotation (limit 2) kept it.
    best_ckpt = f"checkpoint-{best_step}"
    assert any(e["best"] and e["path"].endswith(best_ckpt) for e in _of(evs, "checkpoint"))
    kept = sorted(p.name for p in (tmp_path / "runs" / "out").glob("checkpoint-*"))
    assert best_ckpt in kept and "checkpoint-12" in kept and len(kept) == 2
    snap = json.loads((tmp_path / "status" / "training_status.json").read_text())
    assert snap["best"]["step"] == best_step and snap["best"]["checkpoint"].endswith(best_ckpt)
    assert "★ new best val_loss" in (tmp_path / "status" / "train.log").read_text(encoding="utf-8")
    # A resume continues the same best and keeps protecting its checkpoint.
    again = run_syllo("run", cfg, "--set", "train.max_steps=20", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    evs = _events(tmp_path)
    later = [e for e in _of(evs, "eval") if e["step"] > 12]
    assert later and all(e["best"]["step"] == best_step for e in later)
    kept = sorted(p.name for p in (tmp_path / "runs" / "out").glob("checkpoint-*"))
    assert best_ckpt in kept and "checkpoint-20" in kept


def _stream(gaps: list[float | None], k: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"v": 2, "type": "run_start", "ts": 1.0, "run_id": "r", "step": 0,
         "config": {"monitor": {"overfit_evals": k}}, "max_steps": 100},
    ]  # fmt: skip
    for i, gap in enumerate(gaps):
        events.append(
            {"v": 2, "type": "eval", "ts": 2.0 + i, "run_id": "r", "step": 10 * (i + 1),
             "val_loss": None if gap is None else 1.0 + gap, "train_loss": 1.0, "gap": gap,
             "accuracy": None, "samples": []}
        )  # fmt: skip
    return events


@pytest.mark.parametrize(
    ("gaps", "k", "expected"),
    [
        ([0.1, 0.2, 0.3, 0.4], 3, True),  # three rises in a row, positive
        ([0.1, 0.2, 0.3], 3, False),  # only two rises
        ([0.1, 0.3, 0.2, 0.4], 3, False),  # one fall breaks the run
        ([-0.4, -0.3, -0.2, -0.1], 3, False),  # widening toward zero is not overfitting
        ([0.1, 0.2], 1, True),  # k = 1: the old one-rise rule
        ([0.1, 0.2, 0.3, 0.4], 0, False),  # off
    ],
)
def test_overfitting_is_k_widening_evals_in_the_snapshot_the_human_log_and_the_tui(
    gaps: list[float], k: int, expected: bool, tmp_path: Path
) -> None:
    events = _stream(gaps, k)
    snap = StatusSnapshot(tmp_path / "s.json")
    log = HumanLog(tmp_path / "train.log")
    tui = RunState()
    for e in events:
        snap.apply(e)
        log.apply(e)
        tui.apply(e)
        assert tui.overfitting is snap.data["overfitting"], f"after {e['type']} @{e['step']}"
    log.close()
    assert derived.gap_widening(gaps, k) is expected
    assert snap.data["overfitting"] is expected
    assert ("⚠️ OVERFITTING" in (tmp_path / "train.log").read_text(encoding="utf-8")) is expected
    # The TUI says it where a person looks: the event log, the trends' ▲, and --once.
    assert any(entry.kind == "overfit" for entry in tui.log) is expected
    assert ("(overfitting: widened at each of the last" in summary(tui, 1e9)) is expected
