"""SylloCallback and Run in real scripts: examples/integrations/*.py run as users run them.

Each script trains a tiny local model in a subprocess (plain ``Trainer``,
TRL's ``SFTTrainer`` in its prompt-completion, conversational and packed
forms, a custom loop on the Run API) with learning rate 0, so every step's
weights are the saved ones. A recorder of the tests' own (tests/_integration_driver.py)
keeps what the model was called with at each step; from it each logged
example's loss is recomputed here, with a cross-entropy written for the test,
and must match to 1e-4. Every stream must validate against docs/events.md,
carry eval samples with outputs and matches, and render in ``syllo-tui --once``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _support import SUBPROCESS_ENV, decode_events

from syllo_train.checkpoints import MARKER_NAME
from syllo_train.events import validate_event

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "integrations"
DRIVER = Path(__file__).resolve().parent / "_integration_driver.py"
TUI = Path(sys.executable).parent / "syllo-tui"
STEPS, LOG_EVERY, EVAL_EVERY = 8, 2, 4

#: name → (script, extra arguments, chat model?)
SCRIPTS: dict[str, tuple[str, list[str], bool]] = {
    "trainer": ("trainer_callback.py", [], False),
    "sft_prompt_completion": ("trl_sft.py", ["--form", "prompt_completion"], False),
    "sft_conversational": ("trl_sft.py", ["--form", "conversational", "--raw-eval-rows"], True),
    "sft_packing": ("trl_sft.py", ["--form", "prompt_completion", "--packing"], False),
    "sft_given_prompts": ("trl_sft.py", ["--form", "conversational", "--given-prompts"], True),
    "custom_loop": ("custom_loop.py", [], False),
}


def _run_script(name: str, cwd: Path, model: Path, data: Any) -> subprocess.CompletedProcess[str]:
    script, extra, _ = SCRIPTS[name]
    args = [
        "--model", str(model), "--train", str(data.train), "--val", str(data.val),
        "--status", str(cwd / "status"), "--max-steps", str(STEPS), "--lr", "0",
        "--log-every", str(LOG_EVERY), "--eval-every", str(EVAL_EVERY),
    ]  # fmt: skip
    args += ["--out", str(cwd / "out")]
    return subprocess.run(
        [
            sys.executable,
            str(DRIVER),
            str(cwd / "rows.json"),
            str(EXAMPLES / script),
            *args,
            *extra,
        ],
        cwd=cwd,
        env={**os.environ, **SUBPROCESS_ENV},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module", params=sorted(SCRIPTS))
def run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_model_dir: Path,
    tiny_chat_model_dir: Path,
    puzzle_data: Any,
) -> dict[str, Any]:
    name = request.param
    cwd = tmp_path_factory.mktemp(name)
    model = tiny_chat_model_dir if SCRIPTS[name][2] else tiny_model_dir
    proc = _run_script(name, cwd, model, puzzle_data)
    assert proc.returncode == 0, proc.stderr[-4000:]
    events = decode_events(cwd / "status" / "events.jsonl")
    rows = {int(k): v for k, v in json.loads((cwd / "rows.json").read_text()).items()}
    return {
        "name": name,
        "cwd": cwd,
        "model": model,
        "events": events,
        "rows": rows,
        "data": puzzle_data,
    }


def _answers(data: Any) -> set[str]:
    out = set()
    for path in (data.train, data.val):
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            out.add(json.loads(line)["messages"][-1]["content"].strip())
    return out


def recomputed_loss(model: Any, row: dict[str, list[int]], bf16: bool) -> float:
    """The mean next-token cross-entropy of the row's first sequence, over its labelled tokens.

    ``bf16``: the run trained under bfloat16 autocast (TRL's SFTConfig default), so
    its losses are recomputed under it too.
    """
    import contextlib

    import torch

    ids, labels = row["input_ids"], row["labels"]
    start, end = 0, len(ids)
    if "attention_mask" in row:
        real = [t for t, m in enumerate(row["attention_mask"]) if m]
        start, end = real[0], real[-1] + 1
    if "position_ids" in row:
        again = [t for t in range(start + 1, end) if row["position_ids"][t] == 0]
        end = again[0] if again else end
    ids, labels = ids[start:end], labels[start:end]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.no_grad(), autocast:
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    losses = [-float(logp[t - 1, labels[t]]) for t in range(1, len(ids)) if labels[t] != -100]
    return sum(losses) / len(losses)


def test_every_event_follows_the_contract(run: dict[str, Any]) -> None:
    events = run["events"]
    problems = [(e.get("type"), p) for e in events for p in validate_event(e)]
    assert problems == []
    assert [e["type"] for e in events].count("run_start") == 1
    assert events[0]["type"] == "run_start" and events[-1]["type"] == "run_end"
    assert events[-1]["status"] == "completed", events[-1]
    assert len({e["run_id"] for e in events}) == 1
    start = events[0]
    monitor = start["config"]["monitor"]
    assert monitor["generation_timeout_s"] == 30
    if run["name"] != "custom_loop":
        assert monitor["eval_samples"] == 3
        assert start["config"]["trainer_args"]["logging_steps"] == LOG_EVERY
        assert start["config"]["source"] == "SylloCallback"


def test_each_log_step_shows_the_trained_example_with_its_own_loss(run: dict[str, Any]) -> None:
    from transformers import AutoModelForCausalLM

    logs = [e for e in run["events"] if e["type"] == "log"]
    assert [e["step"] for e in logs] == list(range(LOG_EVERY, STEPS + 1, LOG_EVERY))
    model = AutoModelForCausalLM.from_pretrained(run["model"], dtype="float32").eval()
    answers = _answers(run["data"])
    bf16 = bool(run["events"][0]["config"].get("trainer_args", {}).get("bf16"))
    for event in logs:
        ex = event["example"]
        assert ex is not None, event
        assert ex["golden"].strip() in answers, ex["golden"]
        assert ex["golden_tokens"] > 0 and ex["prompt_tokens"] > 0
        assert "tokens" in ex and any(ex["tokens"]["trained"])
        expected = recomputed_loss(model, run["rows"][event["step"]], bf16)
        assert ex["loss"] == pytest.approx(expected, abs=1e-4), (
            event["step"],
            ex["loss"],
            expected,
        )
    if run["name"] == "sft_packing":
        assert all(e["example"]["packed"] > 1 for e in logs)  # several sequences a row


def test_evals_generate_on_the_eval_prompts_with_matches(run: dict[str, Any]) -> None:
    evals = [e for e in run["events"] if e["type"] == "eval"]
    assert [e["step"] for e in evals] == list(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY))
    answers = _answers(run["data"])
    for event in evals:
        assert event["val_loss"] is not None
        assert len(event["samples"]) == 3
        for s in event["samples"]:
            assert isinstance(s["output"], str) and isinstance(s["match"], bool), s
            assert s["golden"].strip() in answers
    counters = run["events"][-1]["counters"]
    assert counters["generations"] == 3 * len(evals) and counters["evals"] == len(evals)


def test_checkpoints_are_marked_complete(run: dict[str, Any]) -> None:
    saved = [e for e in run["events"] if e["type"] == "checkpoint"]
    assert [e["step"] for e in saved] == list(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY))
    for e in saved:
        marker = json.loads((Path(e["path"]) / MARKER_NAME).read_text())
        assert marker["step"] == e["step"] and marker["run_id"] == run["events"][0]["run_id"]


def test_the_monitor_renders_the_stream(run: dict[str, Any]) -> None:
    done = subprocess.run(
        [str(TUI), "--once", str(run["cwd"] / "status" / "events.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"step {STEPS}/{STEPS}" in done.stdout
    assert "completed" in done.stdout


@pytest.mark.skipif(
    shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun"
)
def test_torchrun_two_processes_write_one_stream(
    tmp_path: Path, tiny_model_dir: Path, puzzle_data: Any
) -> None:
    torchrun = Path(sys.executable).parent / "torchrun"
    args = [
        "--model", str(tiny_model_dir), "--train", str(puzzle_data.train), "--val", str(puzzle_data.val),
        "--status", str(tmp_path / "status"), "--out", str(tmp_path / "out"), "--max-steps", str(STEPS),
        "--log-every", str(LOG_EVERY), "--eval-every", str(EVAL_EVERY),
    ]  # fmt: skip
    proc = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node=2",
            str(EXAMPLES / "trainer_callback.py"),
            *args,
        ],
        cwd=tmp_path,
        env={**os.environ, **SUBPROCESS_ENV},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    events = decode_events(tmp_path / "status" / "events.jsonl")
    assert [p for e in events for p in validate_event(e)] == []
    kinds = [e["type"] for e in events]
    assert kinds.count("run_start") == 1 and kinds.count("run_end") == 1
    assert events[0]["world_size"] == 2 and events[0]["distributed"]["world_size"] == 2
    logs = [e["step"] for e in events if e["type"] == "log"]
    assert logs == list(range(LOG_EVERY, STEPS + 1, LOG_EVERY))  # one writer: each step once
    assert events[-1]["status"] == "completed"
