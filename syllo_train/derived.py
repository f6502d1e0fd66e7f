"""The values every reader derives from the event stream, each defined once.

The status snapshot (sinks/snapshot.py), the human log (sinks/humanlog.py),
``syllo-train status`` (ops/commands.py) and the TUI (syllo_tui/state.py) all
show a gap, accuracies, percentages, an ETA and whether a run is stale. Each
is computed here, so they cannot disagree:

* **gap**: an eval's ``val_loss − train_loss`` (the train loss of the latest
  ``log`` at that eval). It changes only at an eval: a later ``log`` moves
  ``loss``, not the gap.
* **accuracy**: an eval round's matches ÷ samples; the **running accuracy**
  and the **timeout percentage** are the cumulative counters' (matches ÷
  generations, timeouts ÷ generations), the writer's own values when they are
  well-typed, else computed the same way.
* **eval share**: the part of the run's time spent in eval rounds, from the
  latest ``eval``'s ``eval_s_total`` and ``train_s_total`` (this process's
  seconds in evals and in training): ``eval ÷ (eval + train)``.
* **ETA**: the latest ``log``'s ``eta_s``, counting down from that event while
  the run trains; 0 once completed.
* **overfitting**: the gap grew at each of the last ``monitor.overfit_evals``
  evals (default 3) and is positive: a trend, not one noisy rise.
* **stale**: a run that says it trains but has been silent for longer than
  ``stale_threshold``: the reader's own patience, or 1.25 × the longest
  silence a healthy run can have (an eval round generates without writing an
  event: ``generation.worst_case_round_s``). ``status`` also sees the
  heartbeat; the TUI sees only events.

Pure: stdlib only (generation.py's rule is imported lazily-safe: that module
imports no torch at import time).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from syllo_train.generation import DEFAULT_GRACE_S, worst_case_round_s

COUNTER_INTS = (
    "generations",
    "timeouts",
    "stalls",
    "evals",
    "matches",
    "checkpoints",
    "dropped_events",
    "anomalies",
)

#: Evals in a row with a widening train/val gap that make it overfitting (``monitor.overfit_evals``).
DEFAULT_OVERFIT_EVALS = 3

#: Silence after which the TUI shows a training run as stale (it sees events only;
#: a log every few seconds is normal).
SHOW_STALE_AFTER_S = 120.0
#: Silence after which ``syllo-train status`` calls an unsupervised trainer hung
#: (it also sees the heartbeat, beaten every step).
HUNG_AFTER_S = 600.0


def gap(val_loss: float | None, train_loss: float | None) -> float | None:
    """The train/val gap of an eval: ``val_loss − train_loss``; None if either is unknown."""
    if val_loss is None or train_loss is None:
        return None
    return val_loss - train_loss


def timeout_pct(timeouts: int, generations: int) -> float:
    """Timeouts as a percentage of generations, two decimals; 0 before any generation."""
    return round(100.0 * timeouts / generations, 2) if generations else 0.0


def accuracy(matches: int, generations: int) -> float | None:
    """Matches ÷ generations, four decimals; None before any generation."""
    return round(matches / generations, 4) if generations else None


def eval_share(eval_s: float | None, train_s: float | None) -> float | None:
    """Evals' share of the run's time, ``eval ÷ (eval + train)`` in [0, 1]; None if unknown."""
    if eval_s is None or train_s is None or eval_s < 0 or train_s < 0:
        return None
    total = eval_s + train_s
    return eval_s / total if total > 0 else None


def eval_share_of(event: Mapping[str, Any]) -> float | None:
    """An ``eval`` event's eval share (its ``eval_s_total`` and ``train_s_total``), four decimals."""
    share = eval_share(_number(event.get("eval_s_total")), _number(event.get("train_s_total")))
    return None if share is None else round(share, 4)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def counters_view(counters: Mapping[str, Any]) -> dict[str, Any]:
    """An event's ``counters`` well-typed: the integer counts, and the two derived values.

    A count that is missing or not an integer reads 0. ``timeout_pct`` and
    ``accuracy`` are the writer's own when they are numbers, else computed here.
    """
    out: dict[str, Any] = {}
    for name in COUNTER_INTS:
        value = counters.get(name)
        out[name] = value if isinstance(value, int) and not isinstance(value, bool) else 0
    pct = _number(counters.get("timeout_pct"))
    out["timeout_pct"] = (
        pct if pct is not None else timeout_pct(out["timeouts"], out["generations"])
    )
    acc = _number(counters.get("accuracy"))
    out["accuracy"] = acc if acc is not None else accuracy(out["matches"], out["generations"])
    return out


def eta_at(eta_s: float | None, eta_ts: float | None, status: str, now: float) -> float | None:
    """Time left at ``now``: the latest log's ETA counting down while training, 0 when completed."""
    if status == "completed":
        return 0.0
    if eta_s is None or status != "training":
        return None
    if eta_ts is None:
        return eta_s
    return max(0.0, eta_s - max(0.0, now - eta_ts))


def quiet_eval_s(config: Mapping[str, Any] | None) -> float:
    """The longest a healthy run can be silent in an eval round, from ``run_start.config``."""
    monitor = config.get("monitor") if isinstance(config, Mapping) else None
    if not isinstance(monitor, Mapping):
        return 0.0
    samples = _number(monitor.get("eval_samples"))
    timeout = _number(monitor.get("generation_timeout_s"))
    if samples is None or timeout is None or samples <= 0 or timeout <= 0:
        return 0.0
    budget = _number(monitor.get("eval_timeout_s")) or 0.0
    grace = _number(monitor.get("stall_grace_s"))
    # A run from before generation batches generated one prompt at a time.
    batch = _number(monitor.get("generation_batch_size"))
    return worst_case_round_s(
        int(samples),
        timeout,
        max(0.0, budget),
        DEFAULT_GRACE_S if grace is None else max(0.0, grace),
        batch_size=int(batch) if batch is not None and batch >= 1 else 1,
    )


def stale_threshold(stale_after_s: float, quiet_s: float = 0.0) -> float:
    """Silence after which a training run is stale: the reader's patience, or a whole eval's worth."""
    return max(stale_after_s, 1.25 * quiet_s)


def is_stale(status: str | None, last_activity: float | None, now: float, threshold: float) -> bool:
    """A run that says it trains but has been silent (no event, no beat) past ``threshold``."""
    return status == "training" and last_activity is not None and now - last_activity > threshold


def overfit_evals(config: Mapping[str, Any] | None) -> int:
    """``monitor.overfit_evals`` from ``run_start.config`` (the default when absent)."""
    monitor = config.get("monitor") if isinstance(config, Mapping) else None
    k = monitor.get("overfit_evals") if isinstance(monitor, Mapping) else None
    return k if isinstance(k, int) and not isinstance(k, bool) and k >= 0 else DEFAULT_OVERFIT_EVALS


def gap_widening(gaps: list[float], k: int) -> bool:
    """Overfitting, as a fact: the train/val gap grew at each of the last ``k`` evals, and is positive.

    ``gaps`` are the evals' gaps in order (a resume seam starts a new list);
    ``k`` of 0 turns the rule off. ``k`` rises need ``k + 1`` gaps.
    """
    if k <= 0 or len(gaps) < k + 1:
        return False
    last = gaps[-(k + 1) :]
    return last[-1] > 0 and all(b > a + 1e-9 for a, b in itertools.pairwise(last))


class GapTrend:
    """The overfitting rule followed along a stream (each fold keeps one).

    ``run_start`` gives ``k`` (``monitor.overfit_evals``); each eval's gap is
    added; a resume seam starts over (the gaps before it were another run's
    last word).
    """

    def __init__(self) -> None:
        self.k = DEFAULT_OVERFIT_EVALS
        self.gaps: list[float] = []

    def apply(self, event: Mapping[str, Any]) -> None:
        etype = event.get("type")
        if etype == "run_start":
            self.k = overfit_evals(event.get("config"))
        elif etype == "resume":
            self.gaps = []
        elif etype == "eval":
            gap = _number(event.get("gap"))
            if gap is not None:
                self.gaps = [*self.gaps[-self.k :], gap] if self.k else []

    @property
    def overfitting(self) -> bool:
        return gap_widening(self.gaps, self.k)
