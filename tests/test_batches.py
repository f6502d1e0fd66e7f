"""data/batches.py: the dataset yields the encoded ids and labels; the collator pads and masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syllo_train.data import IGNORE_INDEX
from syllo_train.data.batches import PadCollator, TokenDataset
from syllo_train.data.encode import Encoder, encode_examples
from syllo_train.data.records import Example


@pytest.fixture(scope="module")
def plain_tok(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_dataset_and_collator_mask_prompt_and_padding(plain_tok: Any) -> None:
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
    enc, _ = encode_examples(exs, Encoder(plain_tok, template="plain", max_length=256))
    ds = TokenDataset(enc)
    items = [ds[0], ds[1]]
    batch = PadCollator(plain_tok.pad_token_id)(items)
    width = max(len(it["input_ids"]) for it in items)
    assert batch["input_ids"].shape == (2, width)
    assert batch["idx"] == [0, 1]
    assert batch["n_tokens"] == sum(len(it["input_ids"]) for it in items)
    for row, i in enumerate((0, 1)):
        item = enc.items[i]
        n, start = len(item.input_ids), item.answer_start
        answer = plain_tok(exs[i].golden + plain_tok.eos_token, add_special_tokens=False)
        labels = batch["labels"][row].tolist()
        # Prompt and padding are -100; the answer tokens (and EOS) are their own ids.
        assert labels[:start] == [IGNORE_INDEX] * start
        assert labels[start:n] == answer["input_ids"]
        assert labels[n:] == [IGNORE_INDEX] * (width - n)
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
        assert batch["input_ids"][row].tolist()[:n] == item.input_ids
