"""syllo-train's validation loss: token-weighted over the answers of a fixed validation subset.

The prompt and padding are masked exactly as in training (the same
``TokenDataset`` and collator). Each rank takes every world_size-th example
and the sums are all-reduced, so the figure is the one a single process would
compute alone. (Under ``SylloCallback`` the Trainer computes its own
``eval_loss`` instead.) Imports torch.
"""

from __future__ import annotations

from typing import Any

import torch

from syllo_train.data.batches import PadCollator, TokenDataset
from syllo_train.data.encode import EncodedSet
from syllo_train.losses import loss_sum_and_count


class ValidationLoss:
    """``ValidationLoss(...)(model)``: the mean loss over every answer token of the subset, or None."""

    def __init__(
        self,
        val_set: EncodedSet,
        ids: list[int],
        *,
        pad_token_id: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.items = TokenDataset(val_set)
        self.ids = ids
        self.collator = PadCollator(pad_token_id)
        self.batch_size = max(1, batch_size)
        self.rank, self.world_size = rank, world_size

    def __call__(self, model: Any) -> float | None:
        ids = self.ids[self.rank :: self.world_size]
        device = next(model.parameters()).device
        total = torch.zeros(2, dtype=torch.float64, device=device)  # (loss sum, token count)
        was_training = model.training
        model.eval()
        bs = self.batch_size
        # Every rank runs the same number of forward passes (sharded weights need all
        # ranks in each); a rank out of examples reruns one and counts nothing.
        per_rank = -(-len(self.ids) // self.world_size)
        try:
            with torch.no_grad():
                for start in range(0, per_rank, bs):
                    chunk = ids[start : start + bs]
                    counted = bool(chunk)
                    chunk = chunk or self.ids[:1]
                    batch = self.collator([self.items[i] for i in chunk])
                    labels = batch["labels"].to(device)
                    logits = model(
                        input_ids=batch["input_ids"].to(device),
                        attention_mask=batch["attention_mask"].to(device),
                    ).logits
                    if counted:
                        loss_sum, count = loss_sum_and_count(logits, labels)
                        total[0] += loss_sum.double()
                        total[1] += count.double()
        finally:
            model.train(was_training)
        if self.world_size > 1:
            torch.distributed.all_reduce(total)
        loss_sum, count = total.tolist()
        return loss_sum / count if count else None
