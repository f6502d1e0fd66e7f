"""The eval budget: how many eval prompts a round may generate under ``monitor.eval_budget_pct``.

The eval share is the part of this process's run time spent in eval rounds
(derived.eval_share: eval seconds ÷ (eval + training seconds)). With a budget
of ``pct`` percent, before each round the eval tier predicts the share the
round would bring, from what the last rounds cost, and when it would go past
``pct`` it generates fewer prompts. The rule (docs/events.md, ``eval.budget``):

* whole generation batches are dropped, from the end: the prompts kept are
  always the first ones (samples 0, 1, …), so the prompts that are generated
  are the same at every eval and each one's history stays whole;
* validation loss always runs: at the least, a round is validation loss only;
* the first round (no cost known yet) generates every prompt.

Pure: the standard library and derived.py only.
"""

from __future__ import annotations

from dataclasses import dataclass

from syllo_train.derived import eval_share


@dataclass(frozen=True)
class RoundCost:
    """What one eval round's parts cost, from the rounds seen so far (seconds)."""

    validation_s: float  # the validation-loss pass
    batch_s: float | None  # one generation batch; None until a round has generated


@dataclass(frozen=True)
class BudgetDecision:
    """How many prompts this round generates, and why."""

    pct: float  # monitor.eval_budget_pct
    share_pct: float | None  # the share the full round would bring (None: cost not known yet)
    prompts: int  # prompts to generate: the first ones
    of: int  # the eval prompts there are

    def as_event(self) -> dict[str, object]:
        """The ``eval`` event's ``budget`` object."""
        return {
            "pct": self.pct,
            "share_pct": None if self.share_pct is None else round(self.share_pct, 2),
            "prompts": self.prompts,
            "of": self.of,
        }


def prompts_within_budget(
    *,
    pct: float,
    eval_s: float,
    train_s: float,
    cost: RoundCost,
    prompts: int,
    batch_size: int,
) -> BudgetDecision:
    """The most prompts (whole batches, the first ones) the budget allows this round.

    ``eval_s`` and ``train_s``: this process's seconds in evals and in
    training so far; ``cost``: the expected cost of the round's parts.
    """
    batch_size = max(1, batch_size)
    if cost.batch_s is None:
        return BudgetDecision(pct, None, prompts, prompts)
    batches = -(-prompts // batch_size)

    def share_with(n_batches: int) -> float:
        spent = eval_s + cost.validation_s + n_batches * (cost.batch_s or 0.0)
        return 100.0 * (eval_share(spent, train_s) or 0.0)

    full = share_with(batches)
    keep = batches
    while keep > 0 and share_with(keep) > pct:
        keep -= 1
    return BudgetDecision(pct, full, min(prompts, keep * batch_size), prompts)
