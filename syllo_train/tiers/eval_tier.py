"""The eval tier: validation loss and bounded generation on fixed prompts, one ``eval`` event.

Due every ``monitor.eval_steps`` and at the end (``monitor.eval_at_end``);
``SylloTrainer.evaluate`` calls ``run``. The validation loss is token-weighted
over the answer tokens of the fixed validation subset, with the same masking
as training, all-reduced across ranks so it is the figure one process would
compute alone. Generation (generation.py) is bounded per prompt and per
round, in batches of ``monitor.generation_batch_size``; a timeout is
recorded as a ``timeout`` event (one per prompt) the moment its batch is
done, a stall (one forward pass stuck past its limit) live, from the
watchdog's thread. Every ``eval`` event carries this process's seconds in
evals and in training so far (the eval share); with ``monitor.eval_budget_pct``
a round that would take the share past it generates fewer prompts
(tiers/eval_budget.py) and says so. With sharded weights every rank
generates, in lockstep; only the main rank reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import TrainerCallback

from syllo_train import derived
from syllo_train.data.batches import PadCollator, TokenDataset
from syllo_train.data.encode import EncodedSet
from syllo_train.distributed import agree_min, is_sharded
from syllo_train.generation import GenerationResult, StallInfo, StallWatchdog, run_eval_round
from syllo_train.losses import loss_sum_and_count
from syllo_train.matching import is_match
from syllo_train.tiers.eval_budget import BudgetDecision, RoundCost, prompts_within_budget
from syllo_train.tiers.log_tier import finite
from syllo_train.tiers.timing import TrainClock


class EvalTier(TrainerCallback):
    """Decides when the eval tier is due; runs it when the Trainer evaluates."""

    def __init__(
        self,
        reporter: Any,
        monitor: Any,
        *,
        tokenizer: Any,
        val_set: EncodedSet,
        val_loss_ids: list[int],
        eval_prompt_ids: list[int],
        clock: TrainClock,
        max_steps: int,
        rank: int,
        world_size: int,
        beat: Any = None,
        gen_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reporter = reporter
        self.monitor = monitor  # the [monitor] config section
        self.tokenizer = tokenizer
        self.val_set = val_set
        self.val_loss_ids = val_loss_ids  # the fixed validation-loss subset
        self.eval_prompt_ids = eval_prompt_ids  # the fixed eval prompts (same every eval)
        self.clock = clock
        self.max_steps = max_steps
        self.rank, self.world_size = rank, world_size
        self.is_main = rank == 0
        self.beat = beat or (lambda: None)  # the heartbeat: alive between generations
        self.collator = PadCollator(tokenizer.pad_token_id)
        self.val_items = TokenDataset(val_set)  # the same masking as training
        self.last_train_loss: float | None = None
        self.last_eval_step = -1
        self._eval_step = 0
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
        step = state.global_step
        every = self.monitor.eval_steps
        due = bool(every) and step % every == 0
        at_end = step >= self.max_steps and self.monitor.eval_at_end
        if (due or at_end) and step != self.last_eval_step:
            control.should_evaluate = True
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.last_train_loss = float(logs["loss"])  # the eval's train_loss and gap

    # ---- the round ---------------------------------------------------------------------

    def run(self, model: Any, step: int, epoch: float) -> dict[str, float]:
        """Validation loss on every rank, generation on the main one (every rank when sharded)."""
        t0 = time.perf_counter()
        self.last_eval_step = step
        lockstep = self.world_size > 1 and is_sharded(model)
        generates = bool(self.eval_prompt_ids) and (self.is_main or lockstep)
        budget = self._budget() if generates else None
        val_loss = self.validation_loss(model)
        t_val = time.perf_counter()
        samples: list[dict[str, Any]] = []
        if generates:
            count = len(self.eval_prompt_ids) if budget is None else budget.prompts
            if lockstep:
                # Every rank must generate the same batches: the smallest count wins.
                count = int(agree_min(float(count), next(model.parameters()).device))
                if budget is not None:
                    budget = BudgetDecision(budget.pct, budget.share_pct, count, budget.of)
            samples = self._generate(model, step, lockstep=lockstep, count=count)
            self._learn_cost(t_val - t0, time.perf_counter() - t_val, count)
        if self.world_size > 1 and not lockstep:
            # Other ranks wait here while the main one generates; the generation
            # bounds (checked against the process-group timeout at start) keep it short.
            torch.distributed.barrier()
        seconds = time.perf_counter() - t0
        self.clock.add_eval(seconds)
        if self.is_main:
            self.reporter.counters.evals += 1
            matched = sum(1 for s in samples if s["output"] is not None and s["match"])
            val = finite(val_loss)
            self.reporter.emit(
                "eval",
                step,
                total_steps=self.max_steps,
                epoch=round(float(epoch or 0.0), 4),
                val_loss=val,
                train_loss=self.last_train_loss,
                gap=derived.gap(val, self.last_train_loss),
                accuracy=(matched / len(samples)) if samples else None,
                samples=samples,
                seconds=round(seconds, 3),
                # This process's totals so far, this round included: the eval share.
                eval_s_total=round(self.clock.eval_total_s, 3),
                train_s_total=round(self.clock.train_total_s(), 3),
                **({"budget": budget.as_event()} if budget is not None else {}),
            )
        return {"eval_loss": float("nan") if val_loss is None else val_loss}

    def _budget(self) -> BudgetDecision | None:
        """How many prompts this round may generate under monitor.eval_budget_pct (None: no budget)."""
        pct = self.monitor.eval_budget_pct
        if pct <= 0:
            return None
        return prompts_within_budget(
            pct=pct,
            eval_s=self.clock.eval_total_s,
            train_s=self.clock.train_total_s(),
            cost=self.cost,
            prompts=len(self.eval_prompt_ids),
            batch_size=self.monitor.generation_batch_size,
        )

    def _learn_cost(self, validation_s: float, generation_s: float, prompts: int) -> None:
        """Keep this round's costs for the next round's budget (a round that generated nothing keeps the old batch cost)."""
        batches = -(-prompts // max(1, self.monitor.generation_batch_size))
        batch_s = generation_s / batches if batches else self.cost.batch_s
        self.cost = RoundCost(validation_s=validation_s, batch_s=batch_s)

    def validation_loss(self, model: Any) -> float | None:
        """Mean cross-entropy over every answer token of the validation subset (token-weighted).

        Each rank takes every world_size-th example; the sums are all-reduced,
        so the figure is the same as one process computing it alone.
        """
        ids = self.val_loss_ids[self.rank :: self.world_size]
        device = next(model.parameters()).device
        total = torch.zeros(2, dtype=torch.float64, device=device)  # (loss sum, token count)
        was_training = model.training
        model.eval()
        bs = max(1, self.monitor.eval_batch_size)
        # Every rank runs the same number of forward passes (sharded weights need all
        # ranks in each); a rank out of examples reruns one and counts nothing.
        per_rank = -(-len(self.val_loss_ids) // self.world_size)
        try:
            with torch.no_grad():
                for start in range(0, per_rank, bs):
                    chunk = ids[start : start + bs]
                    counted = bool(chunk)
                    chunk = chunk or self.val_loss_ids[:1]
                    batch = self.collator([self.val_items[i] for i in chunk])
                    labels = batch["labels"].to(device)
                    logits = model(
                        input_ids=batch["input_ids"].to(device),
                        attention_mask=batch["attention_mask"].to(device),
                    ).logits
                    if counted:
                        loss_sum, count = loss_sum_and_count(logits, labels)
                        total[0] += loss_sum.double()
                        total[1] += count.double()
        finally:
            model.train(was_training)
        if self.world_size > 1:
            torch.distributed.all_reduce(total)
        loss_sum, count = total.tolist()
        return loss_sum / count if count else None

    def _generate(
        self, model: Any, step: int, *, lockstep: bool, count: int
    ) -> list[dict[str, Any]]:
        """Generate the first ``count`` eval prompts (all of them unless the budget says fewer)."""
        m = self.monitor
        self._eval_step = step
        prompts = [self.val_set.items[i].prompt_ids for i in self.eval_prompt_ids[:count]]
        samples: list[dict[str, Any]] = []

        def on_result(k: int, res: GenerationResult) -> None:
            samples.append(self._sample_record(k, res))
            self.beat()

        device = next(model.parameters()).device
        run_eval_round(
            model,
            self.tokenizer,
            prompts,
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

    def _sample_record(self, k: int, res: GenerationResult) -> dict[str, Any]:
        i = self.eval_prompt_ids[k]
        ex, enc = self.val_set.examples[i], self.val_set.items[i]
        counters = self.reporter.counters
        counters.generations += 1
        match = is_match(res.output, ex.golden, self.monitor.match, opened=enc.opens_think)
        if match:
            counters.matches += 1
        if res.timed_out and not res.stalled:  # a stall was reported live by the watchdog
            counters.timeouts += 1
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
            "index": i,
            "prompt": ex.prompt,
            "golden": ex.golden,
            "output": res.output,
            "match": match,
            "prompt_tokens": len(enc.prompt_ids),
            "golden_tokens": enc.answer_tokens,
            "output_tokens": res.tokens,
            "seconds": round(res.seconds, 4),
            "timed_out": res.timed_out,
            "think_opened": enc.opens_think,  # the prompt opened a think block (the think rule)
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
