"""A forward hook on someone else's model: each training forward pass, handed to the tiers.

``SylloCallback`` cannot change the Trainer's ``compute_loss`` (the Trainer
may be TRL's, or the user's own subclass), so it listens to the model
instead: a forward hook (``register_forward_hook(with_kwargs=True)``) sees
the keyword inputs (``input_ids``, ``labels``, ``attention_mask`` or
``position_ids``) and the outputs of every call. In training mode it hands
them to

* the log tier, which on a log step keeps row 0's per-token losses (no extra
  forward pass) and on every step counts the batch's tokens as a device
  scalar (no sync);
* run health, the step's own loss (``outputs.loss``, left on the device) and
  row 0 of the batch, so an anomaly can name what it was trained on.

Calls in eval mode (the Trainer's evaluation, syllo's generation) are left
alone. Under gradient accumulation every micro-batch comes through; the
step's first one gives the example. With gradient checkpointing the
recomputation in backward runs the layers, not the model: the hook fires
once per micro-batch.
"""

from __future__ import annotations

from typing import Any

import torch


class ForwardTap:
    """Feeds the log tier and run health from the model's own forward passes."""

    def __init__(self, log_tier: Any, health: Any, grad_accum: int) -> None:
        self.log_tier = log_tier
        self.health = health
        self.grad_accum = max(1, grad_accum)
        self.step = 0  # the step being trained (set at each step's begin)
        self._handle: Any = None
        self.calls_without_labels = 0

    def attach(self, model: Any) -> None:
        self.detach()
        self._handle = model.register_forward_hook(self._hook, with_kwargs=True)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(
        self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], outputs: Any
    ) -> None:
        if not module.training:
            return
        inputs = dict(kwargs)
        if args and "input_ids" not in inputs and isinstance(args[0], torch.Tensor):
            inputs["input_ids"] = args[0]  # a model called positionally
        if not isinstance(inputs.get("input_ids"), torch.Tensor):
            return
        if not _has_labels(inputs):
            # A Trainer that computes the loss outside the model (a compute_loss_func, say)
            # gives the model no labels: nothing says which tokens it trains on here.
            self.calls_without_labels += 1
            return
        self.log_tier.on_batch(self.step, inputs, outputs, None, _token_count(inputs))
        self._add_loss(inputs, outputs)
        self.health.add_row(self.step, inputs)

    def _add_loss(self, inputs: dict[str, Any], outputs: Any) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else getattr(outputs, "loss", None)
        if not isinstance(loss, torch.Tensor):
            return
        if inputs.get("num_items_in_batch") is None:
            # Each micro-batch's loss is its own mean: the step's loss is their mean.
            loss = loss / self.grad_accum
        # With num_items_in_batch the model divided by the step's token count: the
        # micro-batches' losses add up to the step's.
        self.health.add_loss(self.step, loss)


def _has_labels(inputs: dict[str, Any]) -> bool:
    return isinstance(inputs.get("labels"), torch.Tensor)


def _token_count(inputs: dict[str, Any]) -> int | torch.Tensor:
    """The batch's real tokens: a device scalar from the attention mask, else the packed row's length."""
    mask = inputs.get("attention_mask")
    if isinstance(mask, torch.Tensor) and mask.dim() == 2:
        return mask.sum()
    return int(inputs["input_ids"].numel())
