"""Shared fixtures: tiny real models and SYLLO puzzle data, built once per test session.

* ``puzzle_data``: ``PuzzleData(train, val)``, two chat-form JSONL files (with a
  system turn) of tiny SYLLO puzzles;
* ``tiny_model_dir``: a tiny Llama-style model with NO chat template (so the
  trainer uses the documented plain template);
* ``tiny_chat_model_dir``: the same size, with a ChatML chat template;
* ``make_config``: ``make_config(tmp_path, **sections) -> Path`` writes a small
  run config into ``tmp_path`` (sections merge into the defaults; a section
  set to None is left out of the file);
* ``run_syllo``: runs ``python -m syllo_train ...`` as a real subprocess;
* ``read_events``: decodes an ``events.jsonl`` into a list of dicts.

The models are built in-process (a second or two each) rather than through
the CLI, which would pay for the torch/transformers imports again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from _support import SUBPROCESS_ENV, decode_events

# A failed test's files (events, logs, screens) are saved where CI's log says;
# _lines holds the reader tests' writer-process fixture (writer_for).
pytest_plugins = ["_artefacts", "_lines"]


class PuzzleData(NamedTuple):
    """Paths of the shared train/val JSONL files (chat form, with a system turn)."""

    train: Path
    val: Path


@pytest.fixture(scope="session")
def puzzle_data(tmp_path_factory: pytest.TempPathFactory) -> PuzzleData:
    from syllo_train.demo.puzzles import generate, write_jsonl

    folder = tmp_path_factory.mktemp("puzzles")
    train, val = folder / "train.jsonl", folder / "val.jsonl"
    write_jsonl(generate(64, level="tiny", seed=0), train)
    write_jsonl(generate(6, level="tiny", seed=1), val)
    return PuzzleData(train, val)


def _tokenizer_texts(data: PuzzleData) -> list[str]:
    from syllo_train.demo.tiny_model import texts_from_jsonl

    # The plain template's markers too, so they get merges like real text does.
    return [*texts_from_jsonl([data.train, data.val]), "### User:\n", "\n\n### Assistant:\n"]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, puzzle_data: PuzzleData) -> Path:
    """A tiny model whose tokenizer has no chat template."""
    from syllo_train.demo.tiny_model import build_tiny_model

    return build_tiny_model(
        _tokenizer_texts(puzzle_data), tmp_path_factory.mktemp("tiny-model"), preset="tiny"
    )


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tmp_path_factory: pytest.TempPathFactory, puzzle_data: PuzzleData) -> Path:
    """A tiny model whose tokenizer has a ChatML chat template."""
    from syllo_train.demo.tiny_model import CHATML_TEMPLATE, build_tiny_model

    return build_tiny_model(
        _tokenizer_texts(puzzle_data),
        tmp_path_factory.mktemp("tiny-chat-model"),
        preset="tiny",
        chat_template=CHATML_TEMPLATE,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def write_toml(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """Write ``{section: {key: value}}`` as TOML (tables only, which is all syllo uses)."""
    lines: list[str] = []
    for name, table in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def default_sections(model_dir: Path, data: PuzzleData) -> dict[str, dict[str, Any]]:
    """A run small enough for a 2-core box: a few steps, short generations."""
    return {
        "model": {"name_or_path": str(model_dir)},
        "data": {"train": str(data.train), "val": str(data.val), "max_length": 256},
        "train": {"output_dir": "runs/out", "max_steps": 4, "batch_size": 4, "save_steps": 100},
        "monitor": {
            "log_steps": 2,
            "eval_steps": 0,
            "eval_samples": 1,
            "generation_timeout_s": 30,
            "max_new_tokens": 8,
        },
        "output": {"dir": "status"},
    }


MakeConfig = Callable[..., Path]


@pytest.fixture(scope="session")
def make_config(tiny_model_dir: Path, puzzle_data: PuzzleData) -> MakeConfig:
    """``make_config(tmp_path, name="config.toml", **sections) -> Path``.

    Each keyword is a section whose keys are merged into the defaults
    (``train={"max_steps": 7}``); ``section=None`` drops it. Relative output
    paths (``status``, ``runs/out``) are meant to be run with cwd = tmp_path.
    """

    def make(tmp_path: Path, name: str = "config.toml", **overrides: dict[str, Any] | None) -> Path:
        sections = default_sections(tiny_model_dir, puzzle_data)
        for section, table in overrides.items():
            if table is None:
                sections.pop(section, None)
            else:
                sections.setdefault(section, {}).update(table)
        return write_toml(Path(tmp_path) / name, sections)

    return make


RunSyllo = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def run_syllo() -> RunSyllo:
    """``run_syllo(*args, cwd, timeout=180) -> CompletedProcess``: the real CLI, as a subprocess."""

    def run(*args: str | Path, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "syllo_train", *map(str, args)],
            cwd=cwd,
            env={**os.environ, **SUBPROCESS_ENV},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def start_syllo(
    *args: str | Path, cwd: Path, stdout: Any = None, fault: str | None = None
) -> subprocess.Popen[str]:
    """Start the CLI in the background (for signal tests).

    Output goes to ``stdout.txt``/``stderr.txt`` in cwd, or stdout to ``stdout``
    when given (e.g. ``subprocess.PIPE``). ``fault`` sets ``SYLLO_FAULT``
    (syllo_train/ops/faults.py) for this process only.
    """
    env = {**os.environ, **SUBPROCESS_ENV}
    env.pop("SYLLO_FAULT", None)
    if fault:
        env["SYLLO_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "syllo_train", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=open(Path(cwd) / "stdout.txt", "a") if stdout is None else stdout,
        stderr=open(Path(cwd) / "stderr.txt", "a"),
        text=True,
    )


@pytest.fixture(scope="session")
def start_syllo_bg() -> Callable[..., subprocess.Popen[str]]:
    """``start_syllo_bg(*args, cwd, stdout=None, fault=None) -> Popen``: the CLI in the background."""
    return start_syllo


@pytest.fixture(scope="session")
def read_events() -> Callable[[Path], list[dict[str, Any]]]:
    """``read_events(path) -> list[dict]``."""
    return decode_events


@pytest.fixture()
def isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in-process CLI calls with cwd = tmp_path (relative output paths land there)."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
