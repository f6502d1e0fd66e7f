"""data.py: records → examples → token ids with the prompt masked, on real tiny tokenizers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syllo_train.data import (
    IGNORE_INDEX,
    DataError,
    Example,
    PadCollator,
    PromptFormatter,
    TokenDataset,
    data_fingerprint,
    encode_examples,
    load_examples,
    seeded_subset,
    split_train_val,
)


def _write(path: Path, *records: Any) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


def _chat(*turns: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


@pytest.fixture(scope="module")
def plain_tok(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def chat_tok(tiny_chat_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_chat_model_dir)


# --- loading ------------------------------------------------------------------------------------


def test_chat_and_prompt_completion_records(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "d.jsonl",
        _chat(
            ("system", "S"),
            ("user", "Q1"),
            ("assistant", "A1"),
            ("user", "Q2"),
            ("assistant", "A2"),
            metadata={"k": 1},
        ),
        {"prompt": "P", "completion": "C"},
    )
    rep = load_examples(path, system_prompt="SYS")
    chat, pc = rep.examples
    assert (chat.index, chat.prompt, chat.golden, chat.metadata) == (0, "Q2", "A2", {"k": 1})
    # Every turn before the final answer is prompt; the record's own system turn is kept.
    assert [m["role"] for m in chat.messages] == ["system", "user", "assistant", "user"]
    assert chat.source == f"{path}:1"
    # data.system_prompt applies to prompt/completion records only.
    assert (pc.index, pc.prompt, pc.golden) == (1, "P", "C")
    assert pc.messages == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "P"}]
    assert rep.skipped == []


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "a"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:3: 'prompt' and 'completion'"):
        load_examples(path)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("{nope", "invalid JSON"),
        ("[]", "expected a JSON object"),
        ({"messages": []}, "non-empty list"),
        ({"messages": [{"content": "x"}]}, "has no 'role'"),
        ({"messages": [{"role": "user"}]}, "no string 'content'"),
        (_chat(("robot", "x"), ("assistant", "y")), "unknown role 'robot'"),
        (
            _chat(("user", "x"), ("assistant", "y"), ("user", "z")),
            "last message must be the assistant",
        ),
        (_chat(("system", "x"), ("assistant", "y")), "no 'user' message"),
        (_chat(("user", "x"), ("assistant", "")), "answer is empty"),
        (_chat(("user", " "), ("assistant", "y")), "prompt is empty"),
        ({"prompt": "x", "completion": 3}, "must both be strings"),
        ({"text": "x"}, "needs 'messages'"),
    ],
)
def test_bad_record_names_file_and_line(tmp_path: Path, record: Any, reason: str) -> None:
    path = _write(tmp_path / "d.jsonl", {"prompt": "ok", "completion": "ok"}, record)
    with pytest.raises(DataError) as err:
        load_examples(path)
    assert f"{path}:2: " in str(err.value) and reason in str(err.value)
    rep = load_examples(path, on_bad="skip")
    assert len(rep.examples) == 1 and len(rep.skipped) == 1
    assert rep.skipped[0][0] == f"{path}:2" and reason in rep.skipped[0][1]


def test_non_utf8_empty_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(
        b'{"prompt": "ok", "completion": "ok"}\n{"prompt": "caf\xe9", "completion": "x"}\n'
    )
    with pytest.raises(DataError, match=rf"{bad}:2: not valid UTF-8"):
        load_examples(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    with pytest.raises(DataError, match="no usable records"):
        load_examples(empty)
    with pytest.raises(DataError, match="no such data file"):
        load_examples(tmp_path / "missing.jsonl")


def test_skipping_every_record_is_still_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", "{x", "{y")
    with pytest.raises(DataError, match="no usable records"):
        load_examples(path, on_bad="skip")


# --- split and subsets ------------------------------------------------------------------------------


def _examples(n: int) -> list[Example]:
    return [
        Example(i, f"p{i}", f"g{i}", [{"role": "user", "content": f"p{i}"}], f"f:{i + 1}")
        for i in range(n)
    ]


def test_split_is_seeded_disjoint_and_reindexed() -> None:
    train, val = split_train_val(_examples(40), 0.1, seed=7)
    again_train, again_val = split_train_val(_examples(40), 0.1, seed=7)
    assert [e.prompt for e in val] == [e.prompt for e in again_val]
    assert [e.prompt for e in train] == [e.prompt for e in again_train]
    assert len(val) == 4 and len(train) == 36
    assert {e.prompt for e in train}.isdisjoint({e.prompt for e in val})
    assert [e.index for e in train] == list(range(36)) and [e.index for e in val] == list(range(4))
    _, other_val = split_train_val(_examples(40), 0.1, seed=8)
    assert [e.prompt for e in other_val] != [e.prompt for e in val]


def test_split_keeps_at_least_one_on_each_side() -> None:
    train, val = split_train_val(_examples(2), 0.9, seed=0)
    assert len(train) == 1 and len(val) == 1
    with pytest.raises(DataError, match="fewer than 2"):
        split_train_val(_examples(1), 0.5, seed=0)


def test_seeded_subset() -> None:
    sub = seeded_subset(100, 5, seed=3)
    assert sub == sorted(set(sub)) and len(sub) == 5 and all(0 <= i < 100 for i in sub)
    assert seeded_subset(100, 5, seed=3) == sub
    assert seeded_subset(100, 5, seed=4) != sub
    assert seeded_subset(4, 10, seed=0) == [0, 1, 2, 3]
    assert seeded_subset(4, 0, seed=0) == [0, 1, 2, 3]  # 0 = all


# --- templates ----------------------------------------------------------------------------------------


def test_plain_template_is_the_documented_text(plain_tok: Any) -> None:
    fmt = PromptFormatter(plain_tok, "auto")
    assert fmt.name == "plain"
    ex = Example(
        0, "Q", "A", [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}], "f:1"
    )
    prompt = fmt.prompt_text(ex)
    assert prompt == "S\n\n### User:\nQ\n\n### Assistant:\n"
    assert fmt.answer_text(ex, prompt) == "A" + plain_tok.eos_token
    no_system = Example(0, "Q", "A", [{"role": "user", "content": "Q"}], "f:1")
    assert fmt.prompt_text(no_system) == "### User:\nQ\n\n### Assistant:\n"


def test_chat_template_renders_prompt_and_answer(chat_tok: Any) -> None:
    fmt = PromptFormatter(chat_tok, "auto")
    assert fmt.name == "chat"
    ex = Example(
        0, "Q", "A", [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}], "f:1"
    )
    prompt = fmt.prompt_text(ex)
    assert (
        prompt
        == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
    )
    assert fmt.answer_text(ex, prompt) == "A<|im_end|>\n"
    # "plain" wins over a chat template; "chat" without one is refused.
    assert PromptFormatter(chat_tok, "plain").name == "plain"


def test_chat_template_required_but_missing(plain_tok: Any) -> None:
    with pytest.raises(DataError, match=r'data\.template = "chat"'):
        PromptFormatter(plain_tok, "chat")


def test_encode_and_max_length(plain_tok: Any) -> None:
    fmt = PromptFormatter(plain_tok, "plain")
    short = Example(0, "Q", "A", [{"role": "user", "content": "Q"}], "d.jsonl:1")
    long = Example(1, "Q " * 300, "A", [{"role": "user", "content": "Q " * 300}], "d.jsonl:2")
    (p_ids, a_ids), _ = fmt.encode([short, long])
    assert p_ids == plain_tok(fmt.prompt_text(short))["input_ids"]
    assert a_ids == plain_tok("A" + plain_tok.eos_token, add_special_tokens=False)["input_ids"]
    assert a_ids[-1] == plain_tok.eos_token_id
    with pytest.raises(
        DataError, match=r"d\.jsonl:2: \d+ tokens, longer than data\.max_length = 64"
    ):
        encode_examples([short, long], fmt, 64)
    kept, skipped = encode_examples([long, short], fmt, 64, on_bad="skip")
    assert [e.prompt for e in kept.examples] == ["Q"] and kept.examples[0].index == 0
    assert skipped == [("d.jsonl:2", skipped[0][1])] and "longer than" in skipped[0][1]


# --- masking ------------------------------------------------------------------------------------------


def test_dataset_and_collator_mask_prompt_and_padding(plain_tok: Any) -> None:
    fmt = PromptFormatter(plain_tok, "plain")
    exs = [
        Example(0, "a short one", "yes", [{"role": "user", "content": "a short one"}], "f:1"),
        Example(
            1,
            "a much longer prompt than the first",
            "no",
            [{"role": "user", "content": "a much longer prompt than the first"}],
            "f:2",
        ),
    ]
    enc, _ = encode_examples(exs, fmt, 256)
    ds = TokenDataset(enc)
    items = [ds[0], ds[1]]
    batch = PadCollator(plain_tok.pad_token_id)(items)
    width = max(len(it["input_ids"]) for it in items)
    assert batch["input_ids"].shape == (2, width)
    assert batch["idx"] == [0, 1]
    assert batch["n_tokens"] == sum(len(it["input_ids"]) for it in items)
    for row, i in enumerate((0, 1)):
        p, a = enc.prompt_ids[i], enc.answer_ids[i]
        n = len(p) + len(a)
        labels = batch["labels"][row].tolist()
        # Prompt and padding are -100; the answer tokens are their own ids.
        assert labels[: len(p)] == [IGNORE_INDEX] * len(p)
        assert labels[len(p) : n] == a
        assert labels[n:] == [IGNORE_INDEX] * (width - n)
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
        assert batch["input_ids"][row].tolist()[:n] == p + a


def test_data_fingerprint_follows_content(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", {"prompt": "x", "completion": "y"})
    b = _write(tmp_path / "b.jsonl", {"prompt": "x", "completion": "y"})
    assert data_fingerprint([a]) == data_fingerprint([b])
    _write(b, {"prompt": "x", "completion": "z"})
    assert data_fingerprint([a]) != data_fingerprint([b])
    assert data_fingerprint([a, b]) != data_fingerprint([a])
