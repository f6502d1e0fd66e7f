"""Real runs of the CLI on tokenizers that behave like the families people fine-tune.

Each family (tests/_families.py) gets a tiny Llama built on its tokenizer.
The log tier's example loss is recomputed here, outside syllo, from
transformers' own tokenization (``apply_chat_template(tokenize=True)``) and
labels worked out at the token level (each assistant turn from the end of its
generation prompt through the next end-of-turn token), with the weights the
step used (learning rate 0: the initial ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _families as F
import pytest
from _reference import reference_loss

from syllo_train.events import validate_event
from syllo_train.matching import answer_part

pytestmark = pytest.mark.slow

LOSS_TOL = 1e-4
END_OF_TURN = {
    "bos_twice": "<|eot|>",
    "metaspace": "</s>",
    "no_system": "</turn>",
    "empty_think": "<|im_end|>",
    "markers": "<|im_end|>",
    "think_opener": "<|end|>",
}


def _conv(*pairs: str) -> dict[str, Any]:
    roles = ["user", "assistant"]
    return {"messages": [{"role": roles[i % 2], "content": c} for i, c in enumerate(pairs)]}


RECORDS = [
    _conv("what is 3+3?", "6"),
    _conv("hi", "hello", "what is 2+2?", "4"),  # multi-turn: both answers train
    _conv("be brief.", "ok"),
    _conv("hi", "hello"),
]
BY_PROMPT = {r["messages"][-2]["content"]: r["messages"] for r in RECORDS}  # one record each


@pytest.fixture(scope="session")
def family_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = F.save_family(name, tmp_path_factory.mktemp(f"family-{name}"))
        return built[name]

    return get


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _events(cwd: Path) -> list[dict[str, Any]]:
    lines = (cwd / "status" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(x) for x in lines]
    for e in events:
        assert validate_event(e) == [], e
    return events


@pytest.mark.parametrize(
    "family", ["bos_twice", "metaspace", "no_system", "empty_think", "markers"]
)
def test_example_loss_is_the_loss_of_the_rendered_conversation(
    family: str,
    tmp_path: Path,
    family_dir: Callable[[str], Path],
    make_config: Callable[..., Path],
    run_syllo: Any,
) -> None:
    model_dir = family_dir(family)
    train = _write_jsonl(tmp_path / "train.jsonl", RECORDS)
    val = _write_jsonl(tmp_path / "val.jsonl", RECORDS[:2])
    cfg = make_config(
        tmp_path,
        model={"name_or_path": str(model_dir)},
        data={"train": str(train), "val": str(val), "max_length": 64},
        train={"max_steps": 4, "batch_size": 1, "learning_rate": 0.0},
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 2, "max_new_tokens": 4},
    )
    proc = run_syllo("run", cfg, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _events(tmp_path)
    facts = events[0]["tokenization"]
    assert facts["template"] == "chat" and facts["source"] == "tokenizer"
    assert facts["prefix"] is True and facts["train_on"] == "all"
    assert facts["bos"] == ("none" if family in ("empty_think", "markers") else "template")
    assert facts["generation_markers"] is (family == "markers")
    logs = [e for e in events if e["type"] == "log"]
    assert len(logs) == 4
    for e in logs:
        ex = e["example"]
        loss, prompt_tokens, golden_tokens = reference_loss(
            model_dir, END_OF_TURN[family], BY_PROMPT[ex["prompt"]]
        )
        assert (ex["prompt_tokens"], ex["golden_tokens"]) == (prompt_tokens, golden_tokens), e
        assert ex["loss"] == pytest.approx(loss, abs=LOSS_TOL), f"log@{e['step']}"
    assert any(len(BY_PROMPT[e["example"]["prompt"]]) > 2 for e in logs)  # the multi-turn one
    # The eval prompts are exactly the generation-prompt renders.
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    (final,) = [e for e in events if e["type"] == "eval"]
    for s in final["samples"]:
        messages = BY_PROMPT[s["prompt"]]
        prompt = tok.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True)
        assert s["prompt_tokens"] == len(prompt["input_ids"])


def test_a_system_turn_the_template_refuses_is_a_data_error(
    tmp_path: Path,
    family_dir: Callable[[str], Path],
    make_config: Callable[..., Path],
    run_syllo: Any,
) -> None:
    model_dir = family_dir("no_system")
    with_system = {
        "messages": [{"role": "system", "content": "be brief."}, *RECORDS[3]["messages"]]
    }
    train = _write_jsonl(tmp_path / "train.jsonl", [*RECORDS[:3], with_system])  # line 4 refused
    val = _write_jsonl(tmp_path / "val.jsonl", RECORDS[:2])
    cfg = make_config(
        tmp_path,
        model={"name_or_path": str(model_dir)},
        data={"train": str(train), "val": str(val), "max_length": 64},
        train={"max_steps": 2, "batch_size": 2, "save_steps": 1},
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 1, "max_new_tokens": 4},
    )
    for command in ("validate", "run"):
        proc = run_syllo(command, cfg, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert (
            f"{train}:4: the chat template refused this conversation: System role not supported"
            in proc.stderr
        )
        assert 'data.system_turn = "merge"' in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "status" / "events.jsonl").exists()
    assert not list(tmp_path.glob("runs/**/checkpoint-*"))

    proc = run_syllo("run", cfg, "--quiet", "--set", "data.system_turn=merge", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _events(tmp_path)
    assert events[0]["tokenization"]["system_turn"] == "merge"
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "completed"


@pytest.mark.parametrize("family", ["empty_think", "think_opener"])
def test_a_thinking_model_that_answers_right_matches_under_the_default_rule(
    family: str,
    tmp_path: Path,
    family_dir: Callable[[str], Path],
    make_config: Callable[..., Path],
    run_syllo: Any,
) -> None:
    model_dir = family_dir(family)
    records = [
        _conv(q, a) for q, a in [("what is 3+3?", "6"), ("hi", "hello"), ("be brief.", "ok")]
    ]
    train = _write_jsonl(tmp_path / "train.jsonl", records)
    val = _write_jsonl(
        tmp_path / "val.jsonl", records
    )  # the same puzzles: the model memorises them
    cfg = make_config(
        tmp_path,
        model={"name_or_path": str(model_dir)},
        data={"train": str(train), "val": str(val), "max_length": 64},
        train={
            "max_steps": 150,
            "batch_size": 3,
            "learning_rate": 5e-3,
            "lr_scheduler": "constant",
            "save_steps": 1000,
        },
        monitor={"log_steps": 50, "eval_steps": 0, "eval_samples": 3, "max_new_tokens": 12},
    )
    proc = run_syllo("run", cfg, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _events(tmp_path)
    facts = events[0]["tokenization"]
    if family == "empty_think":
        assert facts["prefix"] is True and facts["think"]["template_inserts_empty_block"] is True
    else:
        assert facts["prefix"] is False and facts["non_prefix_records"] == 6
        assert facts["think"]["prompts_open_block"] == 6
        train_log = (tmp_path / "status" / "train.log").read_text(encoding="utf-8")
        assert "non-prefix template (6 records):" in train_log and "closed empty" in train_log
    (final,) = [e for e in events if e["type"] == "eval"]
    right = []
    for s in final["samples"]:
        assert "</think>" in s["output"]  # the raw output keeps the reasoning wrapper
        opened = s["think_opened"]
        assert opened is (family == "think_opener")
        if answer_part(s["output"], s["golden"], opened=opened).strip() == s["golden"]:
            right.append(s)
            assert s["match"] is True, s  # exact means the answer, not the wrapper's bytes
        else:
            assert s["match"] is False, s
    assert right, final["samples"]
