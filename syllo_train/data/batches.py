"""Batches: the map-style Dataset of encoded examples and the padding collator."""

from __future__ import annotations

from typing import Any

from syllo_train.data import IGNORE_INDEX
from syllo_train.data.encode import EncodedSet


class TokenDataset:
    """A map-style dataset (torch-compatible) of ``{input_ids, labels, idx}`` items."""

    def __init__(self, encoded: EncodedSet) -> None:
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, i: int) -> dict[str, Any]:
        enc = self.encoded.items[i]
        return {"input_ids": enc.input_ids, "labels": enc.labels, "idx": i}


class PadCollator:
    """Right-pads a batch; padding is masked out of attention and loss.

    ``idx`` (dataset positions) and ``n_tokens`` stay plain Python values so
    the Trainer leaves them on the host: the log tier reads them without a
    device sync.
    """

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, it in enumerate(items):
            n = len(it["input_ids"])
            ids[row, :n] = torch.tensor(it["input_ids"], dtype=torch.long)
            labels[row, :n] = torch.tensor(it["labels"], dtype=torch.long)
            mask[row, :n] = 1
        return {
            "input_ids": ids,
            "labels": labels,
            "attention_mask": mask,
            "idx": [int(it["idx"]) for it in items],
            "n_tokens": sum(len(it["input_ids"]) for it in items),
        }
