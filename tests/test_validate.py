"""validate.py: ``syllo-train validate`` refuses exactly what ``syllo-train run`` refuses before training.

Both call prepare.py's ``prepare``; validate leaves out the weights. Each case
below is an input ``run`` refuses: validate must refuse it too, with the same
message and exit code, and neither may write an event.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _families as F
import pytest

from syllo_train import exitcodes

pytestmark = pytest.mark.slow


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("syllo-train: error:")]
    assert lines, stderr[-2000:]
    return lines[0]


def _case_resume_mismatch(
    cwd: Path, make_config: Callable[..., Path], run_syllo: Any, source: Path
) -> Path:
    """A run leaves a checkpoint; then the training data changes beside it."""
    local = cwd / "train.jsonl"
    shutil.copy(source, local)
    cfg = make_config(
        cwd,
        data={"train": str(local)},
        train={"max_steps": 2, "save_steps": 1},
        monitor={"eval_samples": 0, "eval_at_end": False},
    )
    first = run_syllo("run", cfg, "--quiet", cwd=cwd)
    assert first.returncode == 0, first.stderr[-2000:]
    lines = local.read_text(encoding="utf-8").splitlines()
    local.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    shutil.rmtree(cwd / "status")  # so "nothing written" is checked on a clean folder
    return cfg


CASES: dict[str, tuple[dict[str, Any], str]] = {
    # name: (config sections, what the message must say)
    "trainer_args TrainingArguments refuses": (
        {"trainer_args": {"optim": "no_such_optimizer"}},
        "TrainingArguments refused them",
    ),
    "unwritable checkpoint folder": (
        {"train": {"output_dir": "a_file/runs"}},
        "train.output_dir = 'a_file/runs': cannot write there",
    ),
    "record too long": ({"data": {"max_length": 8}}, "longer than data.max_length = 8"),
    "missing model folder": ({"model": {"name_or_path": "./no-such-model"}}, "no such folder"),
    "invalid chat template": (
        {"data": {"chat_template": "{% for m in messages %}{% if %}{% endfor %}"}},
        "data.chat_template: invalid Jinja",
    ),
}


@pytest.mark.parametrize("case", [*CASES, "resume mismatch", "template refuses a record"])
def test_validate_refuses_what_run_refuses(
    case: str,
    tmp_path: Path,
    make_config: Callable[..., Path],
    run_syllo: Any,
    puzzle_data: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    if case == "resume mismatch":
        cfg = _case_resume_mismatch(tmp_path, make_config, run_syllo, puzzle_data.train)
        needle = "was trained on different data"
    elif case == "template refuses a record":
        model = F.save_family("no_system", tmp_path_factory.mktemp("no-system"))
        data = tmp_path / "sys.jsonl"
        record = {
            "messages": [
                {"role": "system", "content": "be brief."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
            ]
        }
        data.write_text(json.dumps(record) + "\n", encoding="utf-8")
        cfg = make_config(
            tmp_path,
            model={"name_or_path": str(model)},
            data={"train": str(data), "val": str(data).replace("sys", "sys2")},
        )
        shutil.copy(data, str(data).replace("sys", "sys2"))
        needle = f"{data}:1: the chat template refused this conversation: System role not supported"
    else:
        sections, needle = CASES[case]
        cfg = make_config(tmp_path, **sections)
    checkpoints_before = sorted(p.name for p in tmp_path.glob("runs/out/checkpoint-*"))
    results = {}
    for command in ("validate", "run"):
        proc = run_syllo(command, cfg, cwd=tmp_path)
        assert proc.returncode == exitcodes.BAD_INPUT, (command, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (command, proc.stderr[-2000:])
        results[command] = _error_line(proc.stderr)
        assert not (tmp_path / "status" / "events.jsonl").exists(), command
    assert results["validate"] == results["run"]
    assert needle in results["run"], results["run"]
    assert sorted(p.name for p in tmp_path.glob("runs/out/checkpoint-*")) == checkpoints_before


def test_machine_facts_are_reported_not_refused(
    tmp_path: Path, make_config: Callable[..., Path], run_syllo: Any
) -> None:
    """A GPU config validates on a CPU box; run refuses it here (no CUDA on this machine)."""
    cfg = make_config(tmp_path, train={"device": "cuda"})
    checked = run_syllo("validate", cfg, cwd=tmp_path)
    assert checked.returncode == exitcodes.OK, checked.stderr[-2000:]
    assert 'train.device = "cuda" but no CUDA device is available' in checked.stdout
    assert "(run refuses it on this machine)" in checked.stdout
    assert "resume: starts fresh" in checked.stdout
    refused = run_syllo("run", cfg, cwd=tmp_path)
    assert refused.returncode == exitcodes.BAD_INPUT
    assert 'train.device = "cuda" but no CUDA device is available' in refused.stderr
