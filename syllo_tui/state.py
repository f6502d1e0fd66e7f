"""Fold the event stream into the view model the monitor draws.

``RunState.apply(event)`` takes one decoded event (a dict from
``syllo_tui.stream``) and updates plain Python state: the header values, the
cumulative counters (always taken from the newest event that carries them, so
a state built from the file's tail alone is right), bounded histories for the
sparklines, the examples and evals a person can step through, and the event
log. Nothing here imports Textual; the widgets only read this object.

Every read of an event field is type-checked (``syllo_tui.fields``): a reader must survive any line a
writer (or a disk) produces, so a field of the wrong type is treated as absent
and an unknown event type or a newer schema version becomes a warning.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from typing import Any

from syllo_train import derived
from syllo_train.events import SCHEMA_VERSION, Counters
from syllo_tui.fields import bool_field, cut_fields, int_field, num_field, str_field
from syllo_tui.prompts import PromptHistory, Round
from syllo_tui.series import Series
from syllo_tui.tokens import TokenView, parse_tokens
from syllo_tui.views import AnomalyView, BatchExample, BestView, EvalView, ExampleView, LogEntry

# What the widgets read from a state, importable from here as before.
__all__ = ["DEFAULT_STALE_AFTER_S", "EvalView", "ExampleView", "LogEntry", "RunState", "Series"]

#: Seconds without a new event after which a training run is shown as stale.
DEFAULT_STALE_AFTER_S = 120.0


#: How many past examples, evals, event-log lines and warnings are kept.
EXAMPLES_CAP = 500
EVALS_CAP = 200
LOG_CAP = 500
WARNINGS_CAP = 50
MARKS_CAP = 64  # per kind
ANOMALIES_CAP = 64
#: Log examples whose token view is kept (the newest): a token view is ~500 tokens.
TOKEN_VIEWS_CAP = 100

# Versions come from one process-wide clock, so two states (a cold-open state
# and the history state that replaces it) never share a version number and a
# cached "already drawn" version can never match the wrong state.
_VERSIONS = itertools.count(1)

#: Event types whose arrival means the run is (still) going.
_PROGRESS_TYPES = frozenset(
    {"run_start", "resume", "log", "eval", "timeout", "checkpoint", "anomaly"}
)


class RunState:
    """The monitor's view of one run, folded from its events."""

    def __init__(self, *, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> None:
        self.stale_after_s = stale_after_s
        self.reset()

    def reset(self) -> None:
        """Forget everything (the file was truncated or replaced)."""
        # Identity of the run (run_start).
        self.run_id: str | None = None
        self.model: str | None = None
        self.device: str | None = None
        self.world_size: int | None = None
        self.params_total: int | None = None
        self.params_trainable: int | None = None
        self.resumed_from: str | None = None
        # Where it is.
        self.status = "waiting"  # waiting | training | completed | stopped | failed
        self.end_reason: str | None = None
        self.step: int | None = None
        self.total_steps: int | None = None
        self.epoch: float | None = None
        self.loss: float | None = None
        self.lr: float | None = None
        self.grad_norm: float | None = None
        self.steps_per_s: float | None = None
        self.tokens_per_s: float | None = None
        self.eta_s: float | None = None
        self.eta_ts: float | None = None  # ts of the event that gave eta_s
        self.elapsed_s: float | None = None
        self.elapsed_ts: float | None = None  # ts of the event that gave elapsed_s
        self.peak_mem_bytes: int | None = None
        self.mem_kind: str | None = None
        self.val_loss: float | None = None
        self.gap: float | None = None
        self.last_eval_accuracy: float | None = None
        self.eval_share: float | None = None  # the latest eval's (derived.eval_share_of)
        self.eval_budget: dict[str, Any] | None = None  # the latest eval's budget object
        self.counters: dict[str, Any] = Counters().as_dict()
        self._raw_counters: dict[str, Any] | None = None
        self.last_checkpoint_step: int | None = None
        self.last_checkpoint_ts: float | None = None
        self.last_checkpoint_path: str | None = None
        self.last_error: str | None = None
        self.last_ts: float | None = None
        self.quiet_eval_s = 0.0  # the longest an eval may go without an event (from run_start)
        # Histories (all bounded).
        self.train_loss = Series()
        self.val_loss_series = Series()
        self.throughput = Series()
        self.throughput_unit = "tok/s"
        self.gap_series = Series()
        self.grad_norm_series = Series()
        self.lr_series = Series()
        # Overfitting: the gap widened at each of the last K evals (derived.py's rule).
        self.gap_trend = derived.GapTrend()
        self.train_on: str | None = None  # run_start.tokenization.train_on (the token view's notes)
        self.best: BestView | None = None  # the best eval so far (eval.best)
        self.anomalies: deque[AnomalyView] = deque(maxlen=ANOMALIES_CAP)
        self._next_anomaly_seq = 0
        self.prompts = PromptHistory()  # each eval prompt's output at every round
        self._token_views: OrderedDict[int, TokenView] = OrderedDict()  # example seq -> tokens
        self.examples: deque[ExampleView] = deque(maxlen=EXAMPLES_CAP)
        self.evals: deque[EvalView] = deque(maxlen=EVALS_CAP)
        self.log: deque[LogEntry] = deque(maxlen=LOG_CAP)
        # Steps a chart marks, by kind ("resume" seams; more kinds as events carry them).
        self.marks: dict[str, list[int]] = {}
        self.warnings: deque[str] = deque(maxlen=WARNINGS_CAP)
        self._warned: set[str] = set()
        self._partials: dict[tuple[int, int], str] = {}  # (step, sample) -> partial output
        self._next_example_seq = 0
        self._next_eval_seq = 0
        # Bookkeeping.
        self.applied = 0  # events folded in
        self.malformed = 0  # lines that were not events
        self.resumes = 0
        self.restarts = 0  # times another run took over the file (a run_start for a new run id)
        # Compared by the UI to know what to redraw (see _VERSIONS).
        self.version = next(_VERSIONS)  # any change
        self.log_version = next(_VERSIONS)  # the event log changed

    # -- reading ---------------------------------------------------------------

    def apply_all(self, events: Iterable[Any]) -> None:
        """Fold events in order."""
        for event in events:
            self.apply(event)

    def note_malformed(self, count: int) -> None:
        """Count lines the reader could not decode (shown in the footer)."""
        if count > 0:
            self.malformed += count
            self.version = next(_VERSIONS)

    def apply(self, event: Any) -> None:
        """Fold one decoded event into the state; never raises on bad content."""
        self.version = next(_VERSIONS)
        if not isinstance(event, dict):
            self.malformed += 1
            return
        self.applied += 1
        etype = event.get("type")
        step = int_field(event, "step")
        ts = num_field(event, "ts")
        if ts is not None:
            self.last_ts = ts
        v = int_field(event, "v")
        if v is not None and v > SCHEMA_VERSION:
            self.warn(
                f"schema v{v}",
                f"events use schema v{v}; this syllo-tui knows v{SCHEMA_VERSION}: "
                "upgrade syllo to see every field",
                ts,
                step,
            )
        run_id = str_field(event, "run_id")
        if etype == "run_start" and self._is_new_run(event, run_id):
            # The file now holds a different run (replaced in place): start over,
            # keeping the count of bad lines the reader already reported.
            malformed, applied, restarts = self.malformed, self.applied, self.restarts
            self.reset()
            self.malformed, self.applied, self.restarts = malformed, applied, restarts + 1
        if run_id is not None:
            self.run_id = run_id
        counters = event.get("counters")
        if isinstance(counters, dict):
            self._take_counters(counters)
        if not isinstance(etype, str):
            self.warn("no type", "an event without a string 'type' field was skipped", ts, step)
            return
        if etype in _PROGRESS_TYPES and self.status not in ("training",):
            self.status = "training"
            self.end_reason = None
        if step is not None and etype != "resume":
            self.step = step if self.step is None else max(self.step, step)
        was_overfitting = self.gap_trend.overfitting
        self.gap_trend.apply(event)
        if etype == "eval" and self.gap_trend.overfitting and not was_overfitting:
            self._log(
                ts,
                step,
                "overfit",
                f"the train/val gap widened at each of the last {self.gap_trend.k} evals",
            )
        handler = _HANDLERS.get(etype)
        if handler is None:
            self.warn(
                f"type {etype}",
                f"unknown event type {etype!r} (first at step {step}): skipped; "
                "a newer syllo may know it",
                ts,
                step,
            )
            return
        handler(self, event, step, ts)

    def _is_new_run(self, event: Mapping[str, Any], run_id: str | None) -> bool:
        """A run_start for another run id that is not a resume begins a new run."""
        return (
            self.run_id is not None
            and run_id is not None
            and run_id != self.run_id
            and str_field(event, "resumed_from") is None
        )

    def warn(self, key: str, text: str, ts: float | None = None, step: int | None = None) -> None:
        """Record a warning once per ``key``: in the warnings list and the event log."""
        if key in self._warned:
            return
        self._warned.add(key)
        self.warnings.append(text)
        self._log(ts, step, "warning", text)

    def notice(self, kind: str, text: str, ts: float | None = None) -> None:
        """An event-log line that no event brought (e.g. a remote connection lost, or back)."""
        self.version = next(_VERSIONS)
        self._log(ts, self.step, kind, text)

    def _log(self, ts: float | None, step: int | None, kind: str, text: str) -> None:
        self.log.append(LogEntry(ts, step, kind, text))
        self.log_version = next(_VERSIONS)

    def _take_counters(self, counters: Mapping[str, Any]) -> None:
        if counters == self._raw_counters:
            return  # the usual case between evals: nothing moved
        self._raw_counters = dict(counters)
        # Read the way the snapshot and the human log read them (derived.py).
        self.counters = derived.counters_view(counters)

    # -- handlers, one per event type --------------------------------------------

    def _on_run_start(self, ev: Mapping[str, Any], step: int | None, ts: float | None) -> None:
        self.model = str_field(ev, "model") or self.model
        self.device = str_field(ev, "device") or self.device
        self.world_size = int_field(ev, "world_size") or self.world_size
        self.params_total = int_field(ev, "params_total") or self.params_total
        self.params_trainable = int_field(ev, "params_trainable") or self.params_trainable
        self.total_steps = int_field(ev, "max_steps") or self.total_steps
        self.resumed_from = str_field(ev, "resumed_from")
        # An eval round may be silent for its worst case (derived.quiet_eval_s: its
        # batches × their limit + grace): that is not a stall, so staleness waits longer.
        config = ev.get("config")
        if isinstance(config, dict) and isinstance(config.get("monitor"), dict):
            self.quiet_eval_s = derived.quiet_eval_s(config)
        tokenization = ev.get("tokenization")
        if isinstance(tokenization, dict):
            self.train_on = str_field(tokenization, "train_on") or self.train_on
        where = f" from {self.resumed_from}" if self.resumed_from else ""
        self._log(
            ts, step, "start", f"run started{where}: {self.model or '?'} on {self.device or '?'}"
        )

    def _on_log(self, ev: Mapping[str, Any], step: int | None, ts: float | None) -> None:
        self.total_steps = int_field(ev, "total_steps") or self.total_steps
        self.epoch = num_field(ev, "epoch")
        self.loss = num_field(ev, "loss")
        self.lr = num_field(ev, "lr")
        self.grad_norm = num_field(ev, "grad_norm")
        self.steps_per_s = num_field(ev, "steps_per_s")
        self.tokens_per_s = num_field(ev, "tokens_per_s")
        self.eta_s = num_field(ev, "eta_s")
        self.eta_ts = ts
        elapsed = num_field(ev, "elapsed_s")
        if elapsed is not None:
            self.elapsed_s, self.elapsed_ts = elapsed, ts
        peak = int_field(ev, "peak_mem_bytes")
        if peak is not None:
            self.peak_mem_bytes = peak
        self.mem_kind = str_field(ev, "mem_kind") or self.mem_kind
        if step is not None:
            if self.loss is not None:
                self.train_loss.add(step, self.loss)
            if self.grad_norm is not None:
                self.grad_norm_series.add(step, self.grad_norm)
            if self.lr is not None:
                self.lr_series.add(step, self.lr)
            if self.tokens_per_s is not None:
                self.throughput_unit = "tok/s"
                self.throughput.add(step, self.tokens_per_s)
            elif self.steps_per_s is not None and self.throughput_unit == "steps/s":
                self.throughput.add(step, self.steps_per_s)
            elif self.steps_per_s is not None and len(self.throughput) == 0:
                self.throughput_unit = "steps/s"
                self.throughput.add(step, self.steps_per_s)
        example = ev.get("example")
        if isinstance(example, dict) and step is not None:
            self._drop_examples_after(step)
            view = self._add_example(
                step=step,
                tier="log",
                prompt=str_field(example, "prompt") or "",
                golden=str_field(example, "golden") or "",
                prompt_tokens=int_field(example, "prompt_tokens"),
                golden_tokens=int_field(example, "golden_tokens"),
                index=int_field(example, "index"),
                loss=num_field(example, "loss"),
                cut=cut_fields(example),
            )
            tokens = parse_tokens(example.get("tokens"))
            if tokens is not None:
                self._token_views[view.seq] = tokens
                while len(self._token_views) > TOKEN_VIEWS_CAP:
                    self._token_views.popitem(last=False)

    def _on_eval(self, ev: Mapping[str, Any], step: int | None, ts: float | None) -> None:
        self.total_steps = int_field(ev, "total_steps") or self.total_steps
        self.val_loss = num_field(ev, "val_loss")
        self.gap = num_field(ev, "gap")
        self.last_eval_accuracy = num_field(ev, "accuracy")
        self.eval_share = derived.eval_share_of(ev)
        budget = ev.get("budget")
        self.eval_budget = budget if isinstance(budget, dict) else None
        step = step if step is not None else (self.step or 0)
        if self.val_loss is not None:
            self.val_loss_series.add(step, self.val_loss)
        if self.gap is not None:
            self.gap_series.add(step, self.gap)
        self._take_best(ev, step, ts)
        self._drop_examples_after(step)
        while self.evals and self.evals[-1].step >= step:
            self.evals.pop()
        eval_seq = self._next_eval_seq
        self._next_eval_seq += 1
        first: int | None = None
        timeouts = 0
        samples = ev.get("samples")
        count = 0
        for raw in samples if isinstance(samples, list) else []:
            if not isinstance(raw, dict):
                continue
            sample_no = int_field(raw, "sample")
            timed_out = bool_field(raw, "timed_out") is True
            timeouts += timed_out
            partial = self._partials.get((step, sample_no)) if sample_no is not None else None
            view = self._add_example(
                step=step,
                tier="eval",
                prompt=str_field(raw, "prompt") or "",
                golden=str_field(raw, "golden") or "",
                prompt_tokens=int_field(raw, "prompt_tokens"),
                golden_tokens=int_field(raw, "golden_tokens"),
                index=int_field(raw, "index"),
                sample=sample_no,
                output=str_field(raw, "output"),
                output_tokens=int_field(raw, "output_tokens"),
                match=bool_field(raw, "match"),
                think_opened=bool_field(raw, "think_opened") is True,
                timed_out=timed_out,
                seconds=num_field(raw, "seconds"),
                partial=partial,
                cut=cut_fields(raw),
                eval_seq=eval_seq,
            )
            count += 1
            if first is None:
                first = view.seq
            if sample_no is not None:
                self.prompts.add(
                    sample_no,
                    Round(
                        step=step,
                        prompt=view.prompt,
                        golden=view.golden,
                        output=view.output,
                        match=view.match,
                        timed_out=view.timed_out,
                        partial=partial,
                        think_opened=view.think_opened,
                    ),
                )
        self._partials.clear()
        self.evals.append(
            EvalView(
                seq=eval_seq,
                step=step,
                ts=ts,
                val_loss=self.val_loss,
                train_loss=num_field(ev, "train_loss"),
                gap=self.gap,
                accuracy=self.last_eval_accuracy,
                seconds=num_field(ev, "seconds"),
                samples=count,
                timeouts=timeouts,
                first_example_seq=first,
            )
        )

    def _take_best(self, ev: Mapping[str, Any], step: int, ts: float | None) -> None:
        """The best eval so far, as this eval states it; its step is marked on the charts."""
        best = ev.get("best")
        if isinstance(best, dict) and (best_step := int_field(best, "step")) is not None:
            self.best = BestView(
                metric=str_field(best, "metric") or "?",
                value=num_field(best, "value"),
                step=best_step,
                checkpoint=str_field(best, "checkpoint"),
            )
            self.mark("best", best_step)
        elif bool_field(ev, "is_best") is True:
            self.mark("best", step)
        if bool_field(ev, "is_best") is True and self.best is not None:
            value = "?" if self.best.value is None else f"{self.best.value:.4g}"
            self._log(ts, step, "best", f"new best {self.best.metric} {value} (checkpoint kept)")

    def _on_timeout(self, ev: Mapping[str, Any], step: int | None, ts: float | None) -> None:
        stall = bool_field(ev, "stall") is True
        sample = int_field(ev, "sample")
        elapsed = num_field(ev, "elapsed_s")
        limit = num_field(ev, "limit_s")
        tokens = int_field(ev, "tokens")
        partial = str_field(ev, "partial")
        if step is not None and sample is not None and partial is not None:
            self._partials[(step, sample)] = partial
            if len(self._partials) > 256:  # an eval that never came: do not grow
                self._partials.pop(next(iter(self._partials)))
        what = "one forward pass stalled" if stall else "generation cut off"
        self._log(
            ts,
            step,
            "stall" if stall else "timeout",
            f"sample {_fmt_opt(sample)}: {what} at {_fmt_s(elapsed)} "
            f"(limit {_fmt_s(limit)}, {_fmt_opt(tokens)} tokens)",
        )

    def _on_checkpoint(self, ev: Mapping[str, Any], step: int | None, ts: float | None) -> None:
        self.last_checkpoint_step = step
        self.last_checkpoint_ts = ts
        self.last_checkpoint_path = str_field(ev, "path")
        if bool_field(ev, "best") is True and self.best is not None:
            # The best eval's checkpoint, saved now (the eval said null until then).
            self.best = BestView(
                self.best.metric, self.best.value, self.best.step, self.last_checkpoint_path
            )
        self._log(
            ts,
            step,
            "checkpoint",
            f"{self.last_checkpoint_path or '?'} ({_fmt_s(num_field(ev, 'seconds'))})",
        )

    def _on_resume(self, ev: Mapping[str, Any], step: int | None, ts: float | None) -> None:
        # Steps after the checkpoint that were logged before the crash are
        # re-done by the resumed run: drop them so no step counts twice.
        seam = step if step is not None else (self.last_checkpoint_step or 0)
        for series in self.all_series():
            series.mark_seam(seam)
        self.mark("resume", seam)
        self._drop_examples_after(seam)
        while self.evals and self.evals[-1].step > seam:
            self.evals.pop()
        self.prompts.cut_after(seam)
        while self.anomalies and self.anomalies[-1].step > seam:
            self.anomalies.pop()
        self.step = seam
        self.resumes += 1
        self.resumed_from = str_field(ev, "from_checkpoint")
        reason = str_field(ev, "reason") or "?"
        self._log(
            ts,
            step,
            "resume",
            f"from {self.resumed_from or '(no checkpoint)'}: {reason}",
        )

    def _on_run_end(self, ev: Mapping[str, Any], step: int | None, ts: float | None) -> None:
        status = str_field(ev, "status")
        self.status = status if status in ("completed", "stopped", "failed") else "stopped"
        self.end_reason = str_field(ev, "reason")
        elapsed = num_field(ev, "elapsed_s")
        if elapsed is not None:
            self.elapsed_s, self.elapsed_ts = elapsed, ts
        if self.status == "completed":
            self.eta_s = 0.0
        why = f": {self.end_reason}" if self.end_reason else ""
        self._log(ts, step, "end", f"run {self.status}{why}")

    def _on_anomaly(self, ev: Mapping[str, Any], step: int | None, ts: float | None) -> None:
        step = step if step is not None else (self.step or 0)
        examples = []
        raw_examples = ev.get("examples")
        for raw in raw_examples if isinstance(raw_examples, list) else []:
            if isinstance(raw, dict):
                examples.append(
                    BatchExample(
                        index=int_field(raw, "index"),
                        prompt=str_field(raw, "prompt") or "",
                        golden=str_field(raw, "golden") or "",
                        loss=num_field(raw, "loss"),
                    )
                )
        view = AnomalyView(
            seq=self._next_anomaly_seq,
            step=step,
            ts=ts,
            kind=str_field(ev, "kind") or "?",
            value=num_field(ev, "value"),
            threshold=num_field(ev, "threshold"),
            examples=tuple(examples),
            batch_examples=int_field(ev, "batch_examples"),
        )
        self._next_anomaly_seq += 1
        self.anomalies.append(view)
        self.mark("anomaly", step)
        batch = f"{view.batch_examples} examples" if view.batch_examples is not None else "?"
        self._log(ts, step, "anomaly", f"{view.what}; its batch: {batch} (a shows them)")

    def _on_error(self, ev: Mapping[str, Any], step: int | None, ts: float | None) -> None:
        etype = str_field(ev, "error_type") or "Error"
        message = str_field(ev, "message") or ""
        self.last_error = f"{etype}: {message}"
        self._log(ts, step, "error", self.last_error)

    def mark(self, kind: str, step: int) -> None:
        """Remember a step a chart marks; a resume drops the marks of the steps it re-does."""
        if kind == "resume":
            for steps in self.marks.values():
                steps[:] = [s for s in steps if s <= step]
        steps = self.marks.setdefault(kind, [])
        if kind == "best":  # the best so far, not the ones it replaced (each eval restates it)
            steps.clear()
        if not steps or steps[-1] != step:
            steps.append(step)
            del steps[:-MARKS_CAP]

    def all_series(self) -> tuple[Series, ...]:
        """Every sparkline series."""
        return (
            self.train_loss,
            self.val_loss_series,
            self.throughput,
            self.gap_series,
            self.grad_norm_series,
            self.lr_series,
        )

    # -- examples -----------------------------------------------------------------

    def _add_example(self, **kwargs: Any) -> ExampleView:
        view = ExampleView(seq=self._next_example_seq, **kwargs)
        self._next_example_seq += 1
        self.examples.append(view)
        return view

    def _drop_examples_after(self, step: int) -> None:
        while self.examples and self.examples[-1].step > step:
            self.examples.pop()

    def example_at(self, seq: int) -> ExampleView | None:
        """The example with this ``seq``, or None when it has left the bounded history."""
        if not self.examples:
            return None
        i = seq - self.examples[0].seq
        if 0 <= i < len(self.examples) and self.examples[i].seq == seq:
            return self.examples[i]
        # Seqs are contiguous unless a resume dropped some: fall back to a scan.
        for view in self.examples:
            if view.seq == seq:
                return view
        return None

    def same_example(self, other: ExampleView) -> ExampleView | None:
        """This state's copy of an example from another state (same step, tier, sample, row)."""
        for view in reversed(self.examples):
            if view.step < other.step:
                break
            if (view.step, view.tier, view.sample, view.index) == (
                other.step,
                other.tier,
                other.sample,
                other.index,
            ):
                return view
        return None

    def tokens_of(self, example: ExampleView | None) -> TokenView | None:
        """The token view of a log example (kept for the newest TOKEN_VIEWS_CAP), or None."""
        return None if example is None else self._token_views.get(example.seq)

    def eval_at(self, seq: int) -> EvalView | None:
        """The eval with this ``seq``, or None."""
        for view in self.evals:
            if view.seq == seq:
                return view
        return None

    # -- derived values (``now`` is injected so tests and snapshots are deterministic) --

    @property
    def stale_threshold_s(self) -> float:
        """Silence after which a training run is stale: ``stale_after_s``, or a whole eval's worth."""
        return derived.stale_threshold(self.stale_after_s, self.quiet_eval_s)

    def is_stale(self, now: float) -> bool:
        """True while training but no event has come for ``stale_threshold_s``."""
        return derived.is_stale(self.status, self.last_ts, now, self.stale_threshold_s)

    def display_status(self, now: float) -> str:
        """The status word for the header: training, stale, completed, stopped, failed, waiting."""
        return "stale" if self.is_stale(now) else self.status

    def elapsed_at(self, now: float) -> float | None:
        """Run time, counting on from the last event while training."""
        if self.elapsed_s is None:
            return None
        if self.status == "training" and self.elapsed_ts is not None and not self.is_stale(now):
            return self.elapsed_s + max(0.0, now - self.elapsed_ts)
        return self.elapsed_s

    def eta_at(self, now: float) -> float | None:
        """Time left, counting down from the last log event while training (unknown when stale)."""
        if self.is_stale(now):
            return None  # a silent run's countdown would be a guess
        return derived.eta_at(self.eta_s, self.eta_ts, self.status, now)

    def checkpoint_age(self, now: float) -> float | None:
        """Seconds since the last checkpoint event."""
        if self.last_checkpoint_ts is None:
            return None
        return max(0.0, now - self.last_checkpoint_ts)

    @property
    def overfitting(self) -> bool:
        """The train/val gap widened at each of the last ``monitor.overfit_evals`` evals (derived.py)."""
        return self.gap_trend.overfitting

    @property
    def overfit_evals(self) -> int:
        """K of the overfitting rule (``monitor.overfit_evals``; 0: the rule is off)."""
        return self.gap_trend.k

    @property
    def running_accuracy(self) -> float | None:
        """Matches over all generations so far (from the cumulative counters)."""
        acc = self.counters.get("accuracy")
        if isinstance(acc, (int, float)) and not isinstance(acc, bool):
            return float(acc)
        return None

    @property
    def progress(self) -> float | None:
        """Fraction of total steps done, in [0, 1]."""
        if self.step is None or not self.total_steps:
            return None
        return min(1.0, max(0.0, self.step / self.total_steps))


def _fmt_s(x: float | None) -> str:
    return "?" if x is None else f"{x:.1f}s"


def _fmt_opt(x: int | None) -> str:
    return "?" if x is None else str(x)


_HANDLERS = {
    "run_start": RunState._on_run_start,
    "log": RunState._on_log,
    "eval": RunState._on_eval,
    "timeout": RunState._on_timeout,
    "checkpoint": RunState._on_checkpoint,
    "resume": RunState._on_resume,
    "run_end": RunState._on_run_end,
    "error": RunState._on_error,
    "anomaly": RunState._on_anomaly,
}
