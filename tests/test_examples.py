"""The shipped example configs are accepted by `syllo-train validate` (no weights loaded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _support import SUBPROCESS_ENV

from syllo_train.config import load_config
from syllo_train.demo import puzzles

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_example_configs_load(name: str) -> None:
    cfg = load_config(EXAMPLES / name)
    assert cfg.to_dict()["model"]["name_or_path"]


def test_qwen_lora_example_validates_without_weights(tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = list(puzzles.generate(40, level="medium", seed=0))
    puzzles.write_jsonl(records[:36], data / "train.jsonl")
    puzzles.write_jsonl(records[36:], data / "train.val.jsonl")
    proc = subprocess.run(
        [sys.executable, "-m", "syllo_train", "validate", str(EXAMPLES / "qwen3-lora.toml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **SUBPROCESS_ENV},
    )
    assert proc.returncode == 0, proc.stderr
    assert "config: ok" in proc.stdout
    assert "data.train" in proc.stdout and "36 records ok" in proc.stdout
    # No model weights were fetched or loaded: nothing but the run's own folders appeared.
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.safetensors"))
