"""Next-token cross-entropy over the trained tokens: the one definition the tiers use.

Position t of the logits predicts token t+1, so both are shifted by one; a
label of ``IGNORE_INDEX`` (prompt, template text, padding) counts nothing.
The log tier takes one example's mean from the logits its step already made;
the eval tier sums the validation set's, token-weighted. Imports torch.
"""

from __future__ import annotations

import torch

from syllo_train.data import IGNORE_INDEX


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-position losses (float32) of ``logits[..., :-1]`` against ``labels[..., 1:]``.

    Works on one row (``[T, V]`` / ``[T]``) or a batch (``[B, T, V]`` / ``[B, T]``);
    ignored positions are 0.
    """
    shift_logits = logits[..., :-1, :].float()
    shift_labels = labels[..., 1:]
    flat = torch.nn.functional.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    )
    return flat.view(shift_labels.shape)


def trained_mask(labels: torch.Tensor) -> torch.Tensor:
    """Which shifted positions carry a label (the same shift as ``token_losses``)."""
    return labels[..., 1:] != IGNORE_INDEX


def example_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean loss over one example's trained tokens (0-dim, on the logits' device; NaN if none)."""
    mask = trained_mask(labels)
    return token_losses(logits, labels).sum() / mask.sum()


def loss_sum_and_count(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The summed loss over a batch's trained tokens and their count (for a token-weighted mean)."""
    return token_losses(logits, labels).sum(), trained_mask(labels).sum()
