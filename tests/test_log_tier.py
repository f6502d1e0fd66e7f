"""tiers/log_tier.py + token_view.py: the trained example token by token, from that step's forward pass.

A real run of the CLI on a word-level tokenizer (tests/_families.py
``bos_twice``: a token is a word, so the view is written out literally),
learning rate 0 so the weights each step used are the initial ones: each
labelled token's loss must equal a recomputation outside syllo to 1e-4, their
mean the example's loss, and the mask shown the labels trained.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _families as F
import pytest

from syllo_train.data import IGNORE_INDEX
from syllo_train.tiers.token_view import token_view

pytestmark = pytest.mark.slow

RECORD = {
    "messages": [
        {"role": "user", "content": "what is 3+3?"},
        {"role": "assistant", "content": "6"},
    ]
}


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, make_config: Callable[..., Path], run_syllo: Any
) -> tuple[Path, list[dict[str, Any]]]:
    cwd = tmp_path_factory.mktemp("token-view")
    model = F.save_family("bos_twice", cwd / "model")
    for name in ("train.jsonl", "val.jsonl"):
        (cwd / name).write_text(json.dumps(RECORD) + "\n", encoding="utf-8")
    cfg = make_config(
        cwd,
        model={"name_or_path": str(model)},
        data={"train": str(cwd / "train.jsonl"), "val": str(cwd / "val.jsonl"), "max_length": 64},
        train={"max_steps": 2, "batch_size": 1, "learning_rate": 0.0},
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 0, "eval_at_end": False},
    )
    proc = run_syllo("run", cfg, "--quiet", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (cwd / "status" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    logs = [e for e in map(json.loads, lines) if e["type"] == "log"]
    return model, logs


def test_the_view_shows_the_tokens_and_the_mask_trained(
    run: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, logs = run
    tokens = logs[0]["example"]["tokens"]
    assert tokens["text"] == [
        "<|bot|>", "<|hdr|>", "user", "<|/hdr|>", "\n\n", "what", " ", "is", " ", "3+3?", "<|eot|>",
        "<|hdr|>", "assistant", "<|/hdr|>", "\n\n", "6", "<|eot|>",
    ]  # fmt: skip
    assert [i for i, t in enumerate(tokens["trained"]) if t] == [15, 16]  # "6" and its <|eot|>
    assert [i for i, s in enumerate(tokens["special"]) if s] == [0, 1, 3, 10, 11, 13, 16]
    assert (tokens["count"], tokens["cut"]) == (17, None)
    assert [i for i, x in enumerate(tokens["loss"]) if x is not None] == [15, 16]


def test_token_losses_are_the_recomputed_ones_and_average_to_the_example_loss(
    run: tuple[Path, list[dict[str, Any]]],
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir, logs = run
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32").eval()
    ids = tok.apply_chat_template(RECORD["messages"], tokenize=True)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    per_token = torch.nn.functional.cross_entropy(
        logits[:-1], torch.tensor(ids[1:]), reduction="none"
    )
    for e in logs:
        view, ex = e["example"]["tokens"], e["example"]
        for t in (15, 16):
            assert view["loss"][t] == pytest.approx(float(per_token[t - 1]), abs=1e-4), (
                e["step"],
                t,
            )
        trained = [x for x in view["loss"] if x is not None]
        assert sum(trained) / len(trained) == pytest.approx(ex["loss"], abs=1e-4)


def test_a_long_example_keeps_its_start_and_its_end() -> None:
    n = 100
    ids = list(range(n))
    labels = [IGNORE_INDEX] * 90 + ids[90:]
    shifted = [0.5] * (n - 1)
    view = token_view(ids, labels, shifted, [f"t{i}" for i in ids], {0}, cap=20)
    assert view["text"] == [f"t{i}" for i in (*range(5), *range(85, 100))]
    assert view["cut"] == {"at": 5, "tokens": 80}
    assert view["trained"] == [False] * 10 + [True] * 10
    assert view["special"] == [True] + [False] * 19
    assert view["loss"] == [None] * 10 + [0.5] * 10


def test_a_wrong_mask_shows_as_it_was_trained() -> None:
    """Whatever the labels were, the view says so: a prompt token trained, an answer token not."""
    ids = [2, 2, 10, 11, 12, 13]  # a doubled BOS, too
    labels = [IGNORE_INDEX, IGNORE_INDEX, 10, IGNORE_INDEX, 12, 13]
    view = token_view(
        ids, labels, [1.0, 2.0, 3.0, 4.0, 5.0], ["B", "B", "p", "a", "b", "c"], {2}, 0
    )
    assert view["trained"] == [False, False, True, False, True, True]
    assert view["loss"] == [None, None, 2.0, None, 4.0, 5.0]
    assert view["special"][:2] == [True, True]
