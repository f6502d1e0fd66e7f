"""The embedded default: examples/demo.toml, end to end, through the real commands.

The same steps as scripts/demo.sh (data → model → run), with fewer steps so
it fits the suite: the loss must fall clearly and evals must carry outputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _support import SUBPROCESS_ENV, decode_events

from syllo_train.events import validate_event

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syllo_train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **SUBPROCESS_ENV},
    )


@pytest.mark.slow
def test_demo_config_learns_end_to_end(tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "demo.toml", tmp_path / "demo.toml")
    data = _cli(
        "data",
        "syllo",
        "--n",
        "3000",
        "--val-fraction",
        "0.02",
        "--level",
        "easy",
        "--seed",
        "0",
        "data/demo/train.jsonl",
        cwd=tmp_path,
    )
    assert data.returncode == 0, data.stderr
    model = _cli(
        "model",
        "tiny",
        "--data",
        "data/demo/train.jsonl",
        "--out",
        "runs/tiny-model",
        "--size",
        "small",
        cwd=tmp_path,
    )
    assert model.returncode == 0, model.stderr
    run = _cli(
        "run",
        "demo.toml",
        "--set",
        "train.max_steps=120",
        "--set",
        "train.warmup_steps=10",
        "--set",
        "monitor.eval_steps=60",
        "--set",
        "monitor.eval_samples=2",
        "--set",
        "monitor.max_new_tokens=40",
        # demo.toml's 10 s limit is a real one (~0.3 s an answer on a quiet box); here
        # the evals must carry outputs however loaded the machine is (the limit
        # itself is tested in test_generation.py).
        "--set",
        "monitor.generation_timeout_s=600",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    events = decode_events(tmp_path / "status" / "events.jsonl")
    for ev in events:
        assert validate_event(ev) == [], ev
    losses = [e["loss"] for e in events if e["type"] == "log"]
    assert len(losses) == 12
    # "Clearly below": the last loss is under half the first (in practice far lower).
    assert losses[-1] < 0.5 * losses[0], losses
    evals = [e for e in events if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [60, 120]
    outputs = [s["output"] for e in evals for s in e["samples"]]
    assert outputs and all(isinstance(o, str) and o for o in outputs)
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "completed"
    # The human log echoed to stdout (the headless form of `make demo`).
    assert "🔎 EVAL at step 120" in run.stdout
