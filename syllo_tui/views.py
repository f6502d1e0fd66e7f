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
