"""The log tier: one trained example with its own loss, and the step's numbers, every log step.

Every training micro-batch reaches ``on_batch`` after its forward pass: from
``SylloTrainer.compute_loss`` (syllo-train's own runs: the batch names its
examples, so the record's text is shown) or from ``ForwardTap``, the forward
hook ``SylloCallback`` puts on anyone's model (the example is read back from
the row's tokens: tiers/rows.py). On a log step the tier keeps the first
row's per-position losses from the outputs already there — a small
cross-entropy over one row of the logits, or TRL's own per-token log
probabilities when its fused LM head made no logits — left on the device (no
``.item()``); on other steps it only adds the batch's token count (a host
integer, or a device scalar summed without a sync). ``on_log`` comes right
after the Trainer's own ``.item()`` on the loss (its sync point), so reading
the example there costs nothing more; it emits the ``log`` event.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import TrainerCallback

from syllo_train.data.encode import EncodedSet
from syllo_train.losses import token_losses
from syllo_train.tiers.rows import ROW_KEYS, RowSequence, row_example, sequence_loss
from syllo_train.tiers.timing import TrainClock
from syllo_train.tiers.token_view import TokenTexts, token_view


@dataclass
class CapturedExample:
    """The example kept from a log step's batch, its losses still on the device."""

    step: int
    index: int | None  # the training example (syllo's own data); None: read from ``row``
    token_losses: torch.Tensor | None  # per position (the shift's); None: the model gave none
    row: dict[str, torch.Tensor] | None = None  # row 0 of the batch (ROW_KEYS present)


def row_token_losses(outputs: Any, labels: torch.Tensor) -> torch.Tensor | None:
    """Row 0's per-position losses from a forward pass's outputs, or None when it has neither.

    A model's ``logits`` give them by one row's cross-entropy; TRL's fused LM
    head returns ``log_probs`` instead (already shifted, zero where not trained).
    """
    get = outputs.get if isinstance(outputs, dict) else lambda k: getattr(outputs, k, None)
    logits = get("logits")
    if isinstance(logits, torch.Tensor) and logits.dim() == 3:
        return token_losses(logits[0].detach(), labels[0])
    log_probs = get("log_probs")
    if isinstance(log_probs, torch.Tensor) and log_probs.dim() == 2:
        return -log_probs[0].detach().float()
    return None


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
    """Emits a ``log`` event at every log step.

    ``log_step(step)`` says which steps log; with ``sets_schedule`` the tier
    asks the Trainer to log at them (syllo-train's ``monitor.log_steps``),
    without it the Trainer's own ``logging_steps`` decide and the tier only
    follows (SylloCallback).
    """

    def __init__(
        self,
        reporter: Any,
        *,
        clock: TrainClock,
        log_step: Callable[[int], bool],
        eval_steps: int,
        max_steps: int,
        world_size: int,
        is_main: bool,
        train_set: EncodedSet | None = None,
        tokenizer: Any = None,
        example_tokens: int = 0,
        sets_schedule: bool = True,
    ) -> None:
        self.reporter = reporter
        self.train_set = train_set
        self.tokenizer = tokenizer
        self.example_tokens = example_tokens if tokenizer is not None else 0  # the view's cap
        self.texts = TokenTexts(tokenizer) if tokenizer is not None else None
        self.clock = clock
        self.is_log_step = log_step
        self.sets_schedule = sets_schedule
        self.eval_steps = eval_steps
        self.max_steps = max_steps
        self.world_size = world_size
        self.is_main = is_main
        self.captured: CapturedExample | None = None
        self.given_example: dict[str, Any] | None = (
            None  # the next log's example, given as is (Run)
        )
        self._device_tokens: torch.Tensor | None = None  # tokens counted on the device, unread
        self._last_loss: tuple[int, int | None, float | None] | None = None  # (step, index, loss)

    # ---- every training micro-batch, after its forward pass -------------------------

    def add_tokens(self, n: int | torch.Tensor) -> None:
        """Count a batch's tokens: a host int, or a device scalar summed there (read at a log step)."""
        if isinstance(n, torch.Tensor):
            n = n.detach()
            self._device_tokens = n if self._device_tokens is None else self._device_tokens + n
        else:
            self.clock.add_tokens(int(n))

    def on_batch(
        self,
        step: int,
        inputs: dict[str, Any],
        outputs: Any,
        idx: list[int] | None = None,
        n_tokens: int | torch.Tensor = 0,
    ) -> None:
        """After the forward pass of ``step`` (the step being trained).

        ``idx``: the examples of the batch (syllo's own data); without it the
        example is read back from row 0's tensors.
        """
        self.add_tokens(n_tokens)
        if not self.is_log_step(step):
            return
        if self.captured is not None and self.captured.step == step:
            return  # gradient accumulation: the step's first micro-batch gave the example
        labels = inputs.get("labels")
        if not isinstance(labels, torch.Tensor) or (idx is not None and not idx):
            return  # no labels, no example: nothing says what it was trained on
        with torch.no_grad():
            per_token = row_token_losses(outputs, labels)  # one row: one small CE
        row = None
        if idx is None:
            row = {
                k: inputs[k][0].detach()
                for k in ROW_KEYS
                if isinstance(inputs.get(k), torch.Tensor) and inputs[k].dim() == 2
            }
        self.captured = CapturedExample(
            step=step, index=idx[0] if idx else None, token_losses=per_token, row=row
        )

    def captured_losses(self, step: int) -> dict[int | None, float | None]:
        """{example index: its loss} for the example captured at ``step``, once read (else {}).

        The index is None for an example read back from a row (SylloCallback).
        """
        if self._last_loss is None or self._last_loss[0] != step:
            return {}
        return {self._last_loss[1]: self._last_loss[2]}

    # ---- TrainerCallback ---------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.start(state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.sets_schedule and self.is_log_step(state.global_step):
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
        if self._device_tokens is not None:
            tokens += int(self._device_tokens.item())  # the Trainer synced for its loss just now
            self._device_tokens = None
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

    # ---- the example -------------------------------------------------------------------

    def _example(self, step: int) -> dict[str, Any] | None:
        if self.given_example is not None:
            given, self.given_example = self.given_example, None
            return given
        cap = self.captured
        if cap is None or cap.step != step:
            return None
        # The Trainer synced for its loss just now: these transfers wait for nothing.
        shifted = cap.token_losses.tolist() if cap.token_losses is not None else None
        if cap.index is not None and self.train_set is not None:
            example, ids, labels, seq = self._dataset_example(cap.index)
        elif cap.row is not None and self.tokenizer is not None:
            example, ids, labels, seq = self._row_example(cap.row)
        else:
            return None
        loss = sequence_loss(shifted, labels, seq) if shifted is not None else None
        example["loss"] = loss  # NaN → null (JSON has no NaN)
        self._last_loss = (step, cap.index, loss)
        if shifted is not None and self.texts is not None and self.example_tokens:
            own = ids[seq.start : seq.end]
            example["tokens"] = token_view(
                own,
                labels[seq.start : seq.end],
                shifted[seq.start : max(seq.start, seq.end - 1)],
                self.texts.of(own),
                self.texts.special,
                self.example_tokens,
            )
        return example

    def _dataset_example(
        self, index: int
    ) -> tuple[dict[str, Any], list[int], list[int], RowSequence]:
        """One of syllo's own training examples: the record's text, its encoding's counts."""
        assert self.train_set is not None
        ex, enc = self.train_set.examples[index], self.train_set.items[index]
        n = len(enc.input_ids)  # the row without its padding
        seq = RowSequence(0, n, 1, enc.answer_start, enc.answer_start + enc.answer_tokens, 0)
        example: dict[str, Any] = {
            "index": index,
            "prompt": ex.prompt,
            "golden": ex.golden,
            "prompt_tokens": enc.answer_start,  # tokens before the final answer
            "golden_tokens": enc.answer_tokens,  # the final answer's trained tokens
        }
        return example, list(enc.input_ids), list(enc.labels), seq

    def _row_example(
        self, row: dict[str, torch.Tensor]
    ) -> tuple[dict[str, Any], list[int], list[int], RowSequence]:
        """An example read back from its row's tokens (tiers/rows.py)."""
        host = {k: v.tolist() for k, v in row.items()}
        ids, labels = host["input_ids"], host["labels"]
        example, seq = row_example(
            self.tokenizer, ids, labels, host.get("attention_mask"), host.get("position_ids")
        )
        return example, ids, labels, seq
