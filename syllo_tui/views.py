"""What the panes show: one example, one eval round, one event-log line (frozen, no UI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExampleView:
    """One example for the prompt / golden / model panes."""

    seq: int  # position in this state's example history; increases by one per example
    step: int
    tier: str  # "log" (trained on at this step, never generated) or "eval"
    prompt: str
    golden: str
    prompt_tokens: int | None = None
    golden_tokens: int | None = None
    index: int | None = None  # row in the dataset
    sample: int | None = None  # eval prompt number (the same prompts every eval)
    output: str | None = None
    output_tokens: int | None = None
    match: bool | None = None
    timed_out: bool = False
    loss: float | None = None  # log tier: this example's loss at this step
    seconds: float | None = None  # eval tier: generation time
    partial: str | None = None  # text generated before a timeout cut it off
    cut: Mapping[str, int] = field(default_factory=dict)  # field -> original length
    eval_seq: int | None = None  # the eval this sample belongs to
    think_opened: bool = False  # the eval prompt opened a <think> block (the think rule)


@dataclass(frozen=True)
class EvalView:
    """One eval round."""

    seq: int
    step: int
    ts: float | None
    val_loss: float | None
    train_loss: float | None
    gap: float | None
    accuracy: float | None
    seconds: float | None
    samples: int
    timeouts: int
    first_example_seq: int | None  # the example holding its first sample


@dataclass(frozen=True)
class LogEntry:
    """A line of the event log pane. ``text`` may hold untrusted text: render it inert."""

    ts: float | None
    step: int | None
    kind: str  # start, checkpoint, timeout, stall, resume, error, end, warning
    text: str


@dataclass(frozen=True)
class BatchExample:
    """One example of the batch an anomaly happened in. Texts are untrusted: render them inert."""

    index: int | None
    prompt: str
    golden: str
    loss: float | None


@dataclass(frozen=True)
class AnomalyView:
    """One ``anomaly`` event: a raw per-step value gone wrong, and that step's batch."""

    seq: int
    step: int
    ts: float | None
    kind: str  # nonfinite_loss | nonfinite_grad_norm | loss_spike (or a newer kind)
    value: float | None
    threshold: float | None
    examples: tuple[BatchExample, ...]
    batch_examples: int | None  # how many the batch had (examples holds at most 8)

    @property
    def what(self) -> str:
        """The anomaly in words: "loss spike 9.12 (threshold 3.40)", "the loss is not finite"."""
        if self.kind == "nonfinite_loss":
            return "the loss is not finite"
        if self.kind == "nonfinite_grad_norm":
            return "the gradient norm is not finite"
        if self.kind == "loss_spike":
            value = "?" if self.value is None else f"{self.value:.4g}"
            limit = "?" if self.threshold is None else f"{self.threshold:.4g}"
            return f"loss spike {value} (threshold {limit})"
        return self.kind.replace("_", " ")


@dataclass(frozen=True)
class BestView:
    """The best eval so far (``eval.best``): by which metric, its value, step and checkpoint."""

    metric: str
    value: float | None
    step: int
    checkpoint: str | None
