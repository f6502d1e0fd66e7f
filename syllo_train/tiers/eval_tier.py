"""The eval tier: validation loss and bounded generation on fixed prompts, one ``eval`` event.

Under ``syllo-train run`` it is due every ``monitor.eval_steps`` and at the
end (``monitor.eval_at_end``) and ``SylloTrainer.evaluate`` calls ``run``; the
validation loss is syllo's own (tiers/validation.py). Under ``SylloCallback``
the Trainer decides when and hands its ``eval_loss``; under ``Run`` the loop
does. Generation (generation.py) is bounded per prompt and per round, in
batches of ``monitor.generation_batch_size``, on the fixed prompts
(tiers/eval_prompts.py: the same every eval); a timeout is recorded as a
``timeout`` event (one per prompt) the moment its batch is done, a stall (one
forward pass stuck past its limit) live, from the watchdog's thread. Every
``eval`` event carries this process's seconds in evals and in training so far
(the eval share); with ``monitor.eval_budget_pct`` a round that would take the
share past it generates fewer prompts (tiers/eval_budget.py) and says so. The
best eval so far (``monitor.best_metric``) rides on each event. With sharded
weights every rank generates, in lockstep; only the main rank reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import TrainerCallback

from syllo_train import derived
from syllo_train.distributed import agree_min, is_sharded
from syllo_train.generation import GenerationResult, StallInfo, StallWatchdog, run_eval_round
from syllo_train.matching import is_match
from syllo_train.tiers.eval_budget import BudgetDecision, RoundCost, prompts_within_budget
from syllo_train.tiers.eval_prompts import EvalPrompt
from syllo_train.tiers.health import Best
from syllo_train.tiers.log_tier import finite
from syllo_train.tiers.timing import TrainClock


class EvalTier(TrainerCallback):
    """Decides when the eval tier is due (``sets_schedule``); runs a round and reports it."""

    def __init__(
        self,
        reporter: Any,
        monitor: Any,
        *,
        tokenizer: Any,
        prompts: list[EvalPrompt] | None,
        validation: Callable[[Any], float | None] | None,
        clock: TrainClock,
        max_steps: int,
        rank: int,
        world_size: int,
        beat: Any = None,
        best: Best | None = None,
        gen_clock: Callable[[], float] = time.monotonic,
        sets_schedule: bool = True,
        saves_best: bool = True,
    ) -> None:
        self.reporter = reporter
        self.monitor = monitor  # the [monitor] config section
        self.tokenizer = tokenizer
        # The fixed eval prompts; None: not known yet (SylloCallback takes them at the first eval).
        self.prompts = prompts
        self.validation = validation  # syllo's own validation loss; None: the caller's
        self.clock = clock
        self.max_steps = max_steps
        self.rank, self.world_size = rank, world_size
        self.is_main = rank == 0
        self.beat = beat or (lambda: None)  # the heartbeat: alive between generations
        self.sets_schedule = sets_schedule
        self.saves_best = saves_best  # a new best's step gets a checkpoint (syllo-train's own runs)
        self.last_train_loss: float | None = None
        self.last_eval_step = -1
        self._eval_step = 0
        self.best = best or Best(monitor.best_metric)  # restored across a resume by the runner
        self._new_best_at: int | None = None
        # gen_clock: the clock generation limits are measured in (tests move their own).
        self.watchdog = StallWatchdog(
            self._on_stall, grace_s=monitor.stall_grace_s, clock=gen_clock
        )
        # What a round's parts cost (the budget's estimate): the latest validation
        # pass, and the latest round that generated, per batch.
        self.cost = RoundCost(validation_s=0.0, batch_s=None)

    # ---- TrainerCallback ---------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.watchdog.start()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.watchdog.stop()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if not self.sets_schedule:
            return control
        step = state.global_step
        every = self.monitor.eval_steps
        due = bool(every) and step % every == 0
        at_end = step >= self.max_steps and self.monitor.eval_at_end
        if (due or at_end) and step != self.last_eval_step:
            control.should_evaluate = True
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.last_train_loss = finite(logs["loss"])  # the eval's train_loss and gap

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.saves_best and self._new_best_at == state.global_step:
            control.should_save = True  # the best eval's step gets its checkpoint
        return control

    # ---- the round ---------------------------------------------------------------------

    def run(
        self,
        model: Any,
        step: int,
        epoch: float,
        *,
        val_loss: float | None = None,
        val_seconds: float = 0.0,
    ) -> dict[str, float]:
        """One round: the validation loss (syllo's own, or ``val_loss`` given, which took
        ``val_seconds``) on every rank, generation on the main one (every rank when sharded)."""
        t0 = time.perf_counter()
        self.last_eval_step = step
        prompts = self.prompts or []
        lockstep = self.world_size > 1 and is_sharded(model)
        generates = bool(prompts) and (self.is_main or lockstep)
        budget = self._budget(len(prompts)) if generates else None
        if self.validation is not None:
            val_loss = self.validation(model)
        t_val = time.perf_counter()
        samples: list[dict[str, Any]] = []
        if generates:
            count = len(prompts) if budget is None else budget.prompts
            if lockstep:
                # Every rank must generate the same batches: the smallest count wins.
                count = int(agree_min(float(count), next(model.parameters()).device))
                if budget is not None:
                    budget = BudgetDecision(budget.pct, budget.share_pct, count, budget.of)
            samples = self.generate(model, step, lockstep=lockstep, count=count)
            self._learn_cost(t_val - t0 + val_seconds, time.perf_counter() - t_val, count)
        if self.world_size > 1 and not lockstep:
            # Other ranks wait here while the main one generates; the generation
            # bounds (checked against the process-group timeout at start) keep it short.
            torch.distributed.barrier()
        seconds = time.perf_counter() - t0 + val_seconds
        self.report(step, epoch, val_loss, samples, seconds, budget=budget, model=model)
        return {"eval_loss": float("nan") if val_loss is None else val_loss}

    def report(
        self,
        step: int,
        epoch: float,
        val_loss: float | None,
        samples: list[dict[str, Any]],
        seconds: float,
        *,
        budget: BudgetDecision | None = None,
        model: Any = None,
    ) -> None:
        """The round's ``eval`` event (main rank), the best so far, the eval share."""
        self.last_eval_step = step
        self.clock.add_eval(seconds)
        matched = sum(1 for s in samples if s["output"] is not None and s["match"])
        accuracy = (matched / len(samples)) if samples else None
        val = finite(val_loss)
        new_best = self.best.metric != "none" and self.best.offer(step, val, accuracy)
        if self.world_size > 1 and model is not None:
            # The save a new best asks for is a collective: every rank takes the main rank's
            # verdict (accuracy is known there alone).
            device = next(model.parameters()).device
            flag = torch.tensor([1.0 if (new_best and self.is_main) else 0.0], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            new_best = bool(flag.item())
        self._new_best_at = step if new_best else None
        if not self.is_main:
            return
        self.reporter.counters.evals += 1
        self.reporter.emit(
            "eval",
            step,
            total_steps=self.max_steps,
            epoch=round(float(epoch or 0.0), 4),
            val_loss=val,
            train_loss=self.last_train_loss,
            gap=derived.gap(val, self.last_train_loss),
            accuracy=accuracy,
            samples=samples,
            seconds=round(seconds, 3),
            best=self.best.as_dict(),
            is_best=new_best,
            # This process's totals so far, this round included: the eval share.
            eval_s_total=round(self.clock.eval_total_s, 3),
            train_s_total=round(self.clock.train_total_s(), 3),
            **({"budget": budget.as_event()} if budget is not None else {}),
        )

    def _budget(self, prompts: int) -> BudgetDecision | None:
        """How many prompts this round may generate under monitor.eval_budget_pct (None: no budget)."""
        pct = self.monitor.eval_budget_pct
        if pct <= 0:
            return None
        return prompts_within_budget(
            pct=pct,
            eval_s=self.clock.eval_total_s,
            train_s=self.clock.train_total_s(),
            cost=self.cost,
            prompts=prompts,
            batch_size=self.monitor.generation_batch_size,
        )

    def _learn_cost(self, validation_s: float, generation_s: float, prompts: int) -> None:
        """Keep this round's costs for the next round's budget (a round that generated nothing keeps the old batch cost)."""
        batches = -(-prompts // max(1, self.monitor.generation_batch_size))
        batch_s = generation_s / batches if batches else self.cost.batch_s
        self.cost = RoundCost(validation_s=validation_s, batch_s=batch_s)

    # ---- generation ------------------------------------------------------------------

    def generate(
        self, model: Any, step: int, *, lockstep: bool = False, count: int | None = None
    ) -> list[dict[str, Any]]:
        """Generate the first ``count`` eval prompts (all of them unless the budget says fewer)."""
        m = self.monitor
        self._eval_step = step
        chosen = (self.prompts or [])[: count if count is not None else None]
        samples: list[dict[str, Any]] = []

        def on_result(k: int, res: GenerationResult) -> None:
            samples.append(self._sample_record(k, res))
            self.beat()

        device = next(model.parameters()).device
        run_eval_round(
            model,
            self.tokenizer,
            [p.prompt_ids for p in chosen],
            max_new_tokens=m.max_new_tokens,
            timeout_s=m.generation_timeout_s,
            round_budget_s=m.eval_timeout_s,
            batch_size=m.generation_batch_size,
            watchdog=self.watchdog,
            on_result=on_result,
            **(
                {"agree_limit": lambda limit: agree_min(limit, device), "synced_gpus": True}
                if lockstep
                else {}
            ),
        )
        return samples

    def _judged(self, output: str | None, golden: str, opened: bool) -> bool | None:
        counters = self.reporter.counters
        counters.generations += 1
        match = is_match(output, golden, self.monitor.match, opened=opened)
        if match:
            counters.matches += 1
        return match

    def _sample_record(self, k: int, res: GenerationResult) -> dict[str, Any]:
        p = (self.prompts or [])[k]
        match = self._judged(res.output, p.golden, p.opens_think)
        if res.timed_out and not res.stalled:  # a stall was reported live by the watchdog
            self.reporter.counters.timeouts += 1
            self.reporter.emit(
                "timeout",
                self._eval_step,
                sample=k,
                limit_s=res.limit_s,  # a round budget may have shortened it
                elapsed_s=round(res.seconds, 4),
                tokens=res.tokens,
                partial=res.partial,
                stall=False,
                skipped=res.skipped,  # the round budget was spent before this sample
            )
        return {
            "sample": k,
            "index": p.index,
            "prompt": p.prompt,
            "golden": p.golden,
            "output": res.output,
            "match": match,
            "prompt_tokens": len(p.prompt_ids),
            "golden_tokens": p.golden_tokens,
            "output_tokens": res.tokens,
            "seconds": round(res.seconds, 4),
            "timed_out": res.timed_out,
            "think_opened": p.opens_think,  # the prompt opened a think block (the think rule)
        }

    def given_sample(self, k: int, given: dict[str, Any]) -> dict[str, Any]:
        """A sample generated by the caller (Run.eval): judged and counted like syllo's own."""
        for key in ("prompt", "golden"):
            if not isinstance(given.get(key), str):
                raise ValueError(f"samples[{k}]: {key!r} must be a string")
        output = given.get("output")
        if output is not None and not isinstance(output, str):
            raise ValueError(f"samples[{k}]: 'output' must be a string, or None for no output")
        timed_out = bool(given.get("timed_out", False))
        opened = bool(given.get("think_opened", False))
        match = None if output is None else self._judged(output, given["golden"], opened)
        if timed_out:
            self.reporter.counters.timeouts += 1
        return {
            "sample": k,
            "index": int(given.get("index", k)),
            "prompt": given["prompt"],
            "golden": given["golden"],
            "output": output,
            "match": match,
            "prompt_tokens": int(given.get("prompt_tokens", 0)),
            "golden_tokens": int(given.get("golden_tokens", 0)),
            "output_tokens": int(given.get("output_tokens", 0)),
            "seconds": round(float(given.get("seconds", 0.0)), 4),
            "timed_out": timed_out,
            "think_opened": opened,
        }

    def _on_stall(self, info: StallInfo) -> None:
        """Runs on the watchdog thread while one forward pass is stuck: record it now.

        One ``timeout`` event per prompt of the batch still generating (the
        rows that had finished keep their outputs).
        """
        counters = self.reporter.counters
        for row in info.rows or (info.label,):
            counters.timeouts += 1
            counters.stalls += 1
            self.reporter.emit(
                "timeout",
                self._eval_step,
                sample=row if isinstance(row, int) else -1,
                limit_s=info.limit_s,
                elapsed_s=round(info.elapsed_s, 4),
                tokens=info.tokens_so_far,
                partial=None,
                stall=True,
            )
