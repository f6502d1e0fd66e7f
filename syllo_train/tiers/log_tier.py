"""The log tier: one trained example with its own loss, and the step's numbers, every log step.

``SylloTrainer.compute_loss`` hands ``on_batch`` every training micro-batch
after its forward pass. On a log step the tier keeps the first example's
loss from the logits already there — a small cross-entropy over one row,
left on the device (no ``.item()``); on other steps it only adds the batch's
token count to a host integer. ``on_log`` comes right after the Trainer's own
``.item()`` on the loss (its sync point), so reading the example's loss there
costs nothing more; it emits the ``log`` event.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Any

import torch
from transformers import TrainerCallback

from syllo_train.data.encode import EncodedSet
from syllo_train.losses import example_loss
from syllo_train.tiers.timing import TrainClock


@dataclass
class CapturedExample:
    """The example kept from a log step's batch, with its loss still on the device."""

    step: int
    index: int
    loss: torch.Tensor  # 0-dim, detached; read with .item() only in on_log


def peak_memory(device: torch.device) -> tuple[int | None, str]:
    """Peak device memory on CUDA, peak process RSS on a CPU (bytes)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda"
    # ru_maxrss is in KiB on Linux.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "rss"


def finite(x: Any) -> float | None:
    """``x`` as a float, or None when it is missing, NaN or infinite (JSON has neither)."""
    if x is None:
        return None
    x = float(x)
    return x if x == x and abs(x) != float("inf") else None


def rounded(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


class LogTier(TrainerCallback):
    """Emits a ``log`` event at every log step (and at the last step)."""

    def __init__(
        self,
        reporter: Any,
        *,
        train_set: EncodedSet,
        clock: TrainClock,
        log_steps: int,
        eval_steps: int,
        max_steps: int,
        world_size: int,
        is_main: bool,
    ) -> None:
        self.reporter = reporter
        self.train_set = train_set
        self.clock = clock
        self.log_steps = log_steps
        self.eval_steps = eval_steps
        self.max_steps = max_steps
        self.world_size = world_size
        self.is_main = is_main
        self.captured: CapturedExample | None = None

    # ---- called by SylloTrainer for every training micro-batch -----------------------

    def is_log_step(self, step: int) -> bool:
        return step % self.log_steps == 0 or step == self.max_steps

    def on_batch(
        self, step: int, inputs: dict[str, Any], outputs: Any, idx: list[int] | None, n_tokens: int
    ) -> None:
        """After the forward pass of ``step`` (the step being trained)."""
        self.clock.add_tokens(n_tokens)
        if not idx or not self.is_log_step(step):
            return
        if self.captured is not None and self.captured.step == step:
            return  # gradient accumulation: the step's first micro-batch gave the example
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        with torch.no_grad():
            loss = example_loss(logits[0].detach(), inputs["labels"][0])
        self.captured = CapturedExample(step=step, index=idx[0], loss=loss)

    # ---- TrainerCallback ---------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.start(state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.is_log_step(state.global_step):
            control.should_log = True
        return control

    def on_log(
        self,
        args: Any,
        state: Any,
        control: Any,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or "loss" not in logs:
            return  # the Trainer's end-of-training summary: not a log-tier event
        step = state.global_step
        tokens = self.clock.window_tokens
        if self.world_size > 1:
            # One small all-reduce, on a log step only (the Trainer has just synced for
            # its loss): the tokens of every rank.
            t = torch.tensor([tokens], dtype=torch.float64, device=args.device)
            torch.distributed.all_reduce(t)
            tokens = int(t.item())
        steps_per_s, tokens_per_s = self.clock.close_window(step, tokens)
        if not self.is_main:
            return
        mem, mem_kind = peak_memory(args.device)
        self.reporter.emit(
            "log",
            step,
            total_steps=self.max_steps,
            epoch=round(float(state.epoch or 0.0), 4),
            loss=finite(logs.get("loss")),
            lr=finite(logs.get("learning_rate")),
            grad_norm=finite(logs.get("grad_norm")),
            steps_per_s=rounded(steps_per_s),
            tokens_per_s=rounded(tokens_per_s),
            eta_s=rounded(self.clock.eta(step, self.max_steps, self.eval_steps)),
            elapsed_s=self.clock.elapsed(),
            peak_mem_bytes=mem,
            mem_kind=mem_kind,
            example=self._example(step),
        )

    def _example(self, step: int) -> dict[str, Any] | None:
        cap = self.captured
        if cap is None or cap.step != step:
            return None
        ex = self.train_set.examples[cap.index]
        enc = self.train_set.items[cap.index]
        loss = float(cap.loss.item())  # the Trainer synced for its loss just now
        return {
            "index": cap.index,
            "prompt": ex.prompt,
            "golden": ex.golden,
            "prompt_tokens": enc.answer_start,  # tokens before the final answer
            "golden_tokens": enc.answer_tokens,  # the final answer's trained tokens
            "loss": loss if loss == loss else None,  # NaN → null (JSON has no NaN)
        }
