"""Run health: raw per-step losses and gradient norms, anomalies, and the best eval kept.

**Recorded raw.** transformers' ``logging_nan_inf_filter`` (syllo turns it off)
would replace a NaN or infinite loss with the running mean and hide it. Here
each step's own loss (``SylloTrainer.training_step``) and gradient norm
(``SylloTrainer._get_grad_norm``) are kept as device tensors — no sync on the
step — and read together at the next log step, right after the Trainer's own
sync. A step whose loss or gradient norm is not finite, or whose loss is a
spike (more than ``monitor.spike_mads`` median absolute deviations, scaled to a
standard deviation and at least 5 % of the median, above the median of the
previous 100 finite step losses, after 20 of them), is an ``anomaly`` event
naming that step, its value, the threshold and the examples of its batch.

**Stopping a broken run.** ``monitor.stop_after_nonfinite`` steps in a row
with a non-finite value stop training (agreed across ranks), ``run_end``
failed saying why; and a checkpoint is never saved with non-finite weights
(``weights_finite``), so ``resume = "auto"`` takes the last good one.

**The best point.** ``Best`` tracks the best eval by ``monitor.best_metric``;
its step gets a checkpoint, which rotation keeps.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import TrainerCallback

from syllo_train.data.encode import EncodedSet
from syllo_train.tiers.rows import ROW_KEYS, row_example

#: Step losses the spike rule's running level is taken over, and how many it needs first.
SPIKE_WINDOW, SPIKE_MIN_HISTORY = 100, 20
#: A MAD is scaled by this to read as a standard deviation of a normal distribution.
MAD_TO_SIGMA = 1.4826
#: Examples of an anomalous batch named in its event (the rest are counted).
MAX_EXAMPLES = 8
#: Steps whose batch row is kept to show, when the batch does not name its examples.
RECENT_ROWS = 64


@dataclass
class _Step:
    """One optimizer step's raw values, still on the device."""

    loss: torch.Tensor | None = None  # the sum of its micro-batches' losses
    grad_norm: torch.Tensor | float | None = None
    idx: list[int] = field(default_factory=list)  # the examples of its batch (host ints)
    row: dict[str, torch.Tensor] | None = None  # else row 0 of its batch (SylloCallback)
    rows: int = 0  # the rows of its batch, when they are not named by ``idx``


class RunHealth(TrainerCallback):
    """Keeps each step's raw loss and gradient norm; reports anomalies at the next log step."""

    def __init__(
        self,
        reporter: Any,
        *,
        train_set: EncodedSet | None,
        spike_mads: float,
        stop_after_nonfinite: int,
        world_size: int,
        is_main: bool,
        examples_loss: Any = None,
        tokenizer: Any = None,
    ) -> None:
        self.reporter = reporter
        self.train_set = train_set
        self.spike_mads = spike_mads
        self.stop_after = stop_after_nonfinite
        self.world_size = world_size
        self.is_main = is_main
        self.examples_loss = examples_loss or (lambda step: {})  # the log tier's captured losses
        self.tokenizer = tokenizer  # reads a row back as text (SylloCallback's batches)
        self._row_steps: deque[int] = deque()  # steps whose row is still held, oldest first
        self._steps: dict[int, _Step] = {}
        self._finite: deque[float] = deque(maxlen=SPIKE_WINDOW)
        self.nonfinite_run = 0  # consecutive non-finite steps so far
        self.nonfinite_from: int | None = None
        self.stop_reason: str | None = None

    # ---- fed by SylloTrainer, every step (host bookkeeping only) -------------------

    def add_loss(self, step: int, loss: torch.Tensor) -> None:
        rec = self._steps.setdefault(step, _Step())
        loss = loss.detach()
        rec.loss = loss if rec.loss is None else rec.loss + loss

    def add_grad_norm(self, step: int, grad_norm: torch.Tensor | float | None) -> None:
        if grad_norm is not None:
            rec = self._steps.setdefault(step, _Step())
            rec.grad_norm = grad_norm.detach() if isinstance(grad_norm, torch.Tensor) else grad_norm

    def add_batch(self, step: int, idx: list[int] | None) -> None:
        if idx:
            self._steps.setdefault(step, _Step()).idx.extend(idx)

    def add_row(self, step: int, inputs: dict[str, Any]) -> None:
        """A batch that does not name its examples (SylloCallback): keep its row 0 to show.

        Only the latest ``RECENT_ROWS`` steps keep theirs (a reference to the
        batch's tensors, no copy), so a long logging window holds little memory;
        an anomaly at an older step still counts its batch, without an example.
        """
        rec = self._steps.setdefault(step, _Step())
        rec.rows += int(inputs["input_ids"].shape[0])
        if rec.row is not None:
            return  # gradient accumulation: the first micro-batch's row is the one shown
        rec.row = {
            k: inputs[k][0].detach()
            for k in ROW_KEYS
            if isinstance(inputs.get(k), torch.Tensor) and inputs[k].dim() == 2
        }
        self._row_steps.append(step)
        while len(self._row_steps) > RECENT_ROWS:
            old = self._steps.get(self._row_steps.popleft())
            if old is not None:
                old.row = None

    # ---- TrainerCallback -----------------------------------------------------------

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
        if not logs or "loss" not in logs:
            return control
        self.check(state.global_step, args.device)
        if self.stop_reason is not None:
            control.should_training_stop = True
            control.should_save = False
            control.should_evaluate = False
        return control

    def check(self, upto: int, device: Any) -> bool:
        """Judge every step recorded up to ``upto`` (one transfer); True once the run must stop."""
        steps = sorted(s for s in self._steps if s <= upto)
        window = [self._steps.pop(s) for s in steps]
        values = self._read(window)  # the one transfer of the window's values
        stop = False
        for step, rec, (loss, norm) in zip(steps, window, values, strict=True):
            self._judge(step, rec, loss, norm)
            stop = stop or (self.stop_after > 0 and self.nonfinite_run >= self.stop_after)
        if self.world_size > 1:  # every rank stops at the same step, or none does
            t = torch.tensor([1.0 if stop else 0.0], device=device)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            stop = bool(t.item())
        if stop and self.stop_reason is None:
            self.stop_reason = (
                f"{self.nonfinite_run} consecutive steps with a non-finite loss or gradient norm "
                f"(from step {self.nonfinite_from}; monitor.stop_after_nonfinite = {self.stop_after}): "
                "stopped without saving their weights; resume takes the last finite checkpoint"
            )
            self.reporter.note(f"⚠️ {self.stop_reason}")
        return self.stop_reason is not None

    def _read(self, window: list[_Step]) -> list[tuple[float | None, float | None]]:
        tensors = [
            t for rec in window for t in (rec.loss, rec.grad_norm) if isinstance(t, torch.Tensor)
        ]
        flat = iter(
            torch.stack([t.float().reshape(()) for t in tensors]).tolist() if tensors else []
        )
        out: list[tuple[float | None, float | None]] = []
        for rec in window:
            loss = next(flat) if isinstance(rec.loss, torch.Tensor) else None
            norm: float | None
            if isinstance(rec.grad_norm, torch.Tensor):
                norm = next(flat)
            else:
                norm = None if rec.grad_norm is None else float(rec.grad_norm)
            out.append((loss, norm))
        return out

    def _judge(self, step: int, rec: _Step, loss: float | None, norm: float | None) -> None:
        bad_loss = loss is not None and not math.isfinite(loss)
        bad_norm = norm is not None and not math.isfinite(norm)
        if bad_loss or bad_norm:
            if self.nonfinite_run == 0:
                self.nonfinite_from = step
            self.nonfinite_run += 1
        else:
            self.nonfinite_run = 0
        if bad_loss:
            self._report(step, rec, "nonfinite_loss", loss, None)
        if bad_norm:
            self._report(step, rec, "nonfinite_grad_norm", norm, None)
        if loss is None or bad_loss:
            return
        threshold = self._spike_threshold()
        if threshold is not None and loss > threshold:
            self._report(step, rec, "loss_spike", loss, threshold)
        else:  # a spike does not raise the level it is judged against
            self._finite.append(loss)

    def _spike_threshold(self) -> float | None:
        if self.spike_mads <= 0 or len(self._finite) < SPIKE_MIN_HISTORY:
            return None
        history = list(self._finite)
        median = statistics.median(history)
        mad = statistics.median(abs(x - median) for x in history)
        spread = max(MAD_TO_SIGMA * mad, 0.05 * abs(median))
        return median + self.spike_mads * spread

    def _report(
        self, step: int, rec: _Step, kind: str, value: float | None, threshold: float | None
    ) -> None:
        if not self.is_main:
            return
        self.reporter.counters.anomalies += 1
        captured = self.examples_loss(step)
        examples = []
        if self.train_set is not None:
            for i in rec.idx[:MAX_EXAMPLES]:
                ex = self.train_set.examples[i]
                examples.append(
                    {"index": i, "prompt": ex.prompt, "golden": ex.golden, "loss": captured.get(i)}
                )
        if rec.row is not None and self.tokenizer is not None:
            host = {k: v.tolist() for k, v in rec.row.items()}
            ex, _ = row_example(
                self.tokenizer,
                host["input_ids"],
                host["labels"],
                host.get("attention_mask"),
                host.get("position_ids"),
            )
            examples.append(
                {
                    "index": None,
                    "prompt": ex["prompt"],
                    "golden": ex["golden"],
                    "loss": captured.get(None),
                }
            )
        self.reporter.emit(
            "anomaly",
            step,
            kind=kind,
            value=_json_number(value),
            threshold=None if threshold is None else round(threshold, 6),
            examples=examples,
            batch_examples=len(rec.idx) or rec.rows,
        )


def _json_number(x: float | None) -> float | None:
    """JSON has no NaN or infinity: those are null here, and the kind says which."""
    return x if x is not None and math.isfinite(x) else None


def weights_finite(model: Any, world_size: int = 1) -> bool:
    """Are all of the model's parameters finite, on every rank? (one pass and one sync: at a save only)."""
    params = [p for p in model.parameters() if p.numel()]
    if not params:
        return True
    ok = torch.stack([torch.isfinite(p).all() for p in params]).all().float()
    if world_size > 1:  # sharded weights differ per rank: every rank saves, or none does
        torch.distributed.all_reduce(ok, op=torch.distributed.ReduceOp.MIN)
    return bool(ok.item())


@dataclass
class Best:
    """The best eval so far by ``monitor.best_metric`` (lower val_loss, or higher accuracy)."""

    metric: str  # "val_loss", "accuracy" or "none"
    value: float | None = None
    step: int | None = None
    checkpoint: str | None = None  # the checkpoint saved at that step, once it is

    def offer(self, step: int, val_loss: float | None, accuracy: float | None) -> bool:
        """Take this eval's figures; True when it is the new best."""
        value = {"val_loss": val_loss, "accuracy": accuracy}.get(self.metric)
        if value is None or not math.isfinite(value):
            return False
        better = self.value is None or (
            value < self.value if self.metric == "val_loss" else value > self.value
        )
        if better:
            self.value, self.step, self.checkpoint = value, step, None
        return better

    def as_dict(self) -> dict[str, Any] | None:
        if self.value is None:
            return None
        return {
            "metric": self.metric,
            "value": round(self.value, 6),
            "step": self.step,
            "checkpoint": self.checkpoint,
        }

    @classmethod
    def restored(cls, metric: str, saved: Any) -> Best:
        """The best recorded in a checkpoint's marker (a resume continues it)."""
        best = cls(metric)
        if isinstance(saved, dict) and saved.get("metric") == metric:
            value = saved.get("value")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                best.value, best.step = float(value), saved.get("step")
                best.checkpoint = saved.get("checkpoint")
        return best
