"""The two monitoring tiers, as a TrainerCallback plus the hooks SylloTrainer calls.

* **log tier** (every ``monitor.log_steps``): SylloTrainer hands over the
  batch it is training at a log step; we keep one example's own loss from
  that forward pass as a device tensor and read it in ``on_log``, where the
  Trainer has just synced for its own loss anyway. Nothing here touches the
  device on other steps.
* **eval tier** (every ``monitor.eval_steps`` and at the end): validation
  loss over the fixed validation set (answer tokens only) and bounded
  generation on the fixed eval prompts, reported as one ``eval`` event.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from typing import Any

import torch
from transformers import TrainerCallback

from syllo_train.data import IGNORE_INDEX
from syllo_train.data.batches import PadCollator, TokenDataset
from syllo_train.data.encode import EncodedSet
from syllo_train.generation import (
    GenerationResult,
    StallInfo,
    StallWatchdog,
    generate_bounded,
    run_eval_round,
)
from syllo_train.matching import is_match
from syllo_train.ops import faults
from syllo_train.ops.heartbeat import Heartbeat
from syllo_train.sinks.reporter import Reporter


@dataclass
class CapturedExample:
    """The example kept from a log step's batch, with its loss still on the device."""

    step: int
    index: int
    loss: torch.Tensor  # 0-dim, detached; read with .item() only in on_log


def example_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over one example's answer tokens (labels != -100)."""
    shift_logits = logits[:-1].float()
    shift_labels = labels[1:]
    return torch.nn.functional.cross_entropy(
        shift_logits, shift_labels, ignore_index=IGNORE_INDEX, reduction="mean"
    )


def dist_info() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


#: The signals that ask for a graceful stop (runner._StopSignals); under several
#: processes, how many ranks got each one is agreed at a log step (issue #7).
STOP_SIGNALS = ("SIGINT", "SIGTERM")


def is_sharded(model: Any) -> bool:
    """Are the weights sharded across ranks (FSDP 1/2, DeepSpeed ZeRO-3)?

    Then every forward pass is a collective: all ranks must run it together.
    """
    import torch.distributed.fsdp as fsdp

    names = ("FSDPModule", "FullyShardedDataParallel")  # FSDP2 (torch >= 2.6 name), FSDP1
    kinds = tuple(k for k in (getattr(fsdp, n, None) for n in names) if k is not None)
    if kinds and any(isinstance(m, kinds) for m in model.modules()):
        return True
    from transformers.integrations import is_deepspeed_zero3_enabled

    return bool(is_deepspeed_zero3_enabled())


def peak_memory(device: torch.device) -> tuple[int | None, str]:
    """Peak device memory on CUDA, peak process RSS on a CPU (bytes)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda"
    # ru_maxrss is in KiB on Linux.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "rss"


class SylloMonitor(TrainerCallback):
    """Emits run/log/eval/timeout events; decides when the eval tier runs."""

    def __init__(
        self,
        reporter: Reporter,
        cfg: Any,
        *,
        tokenizer: Any,
        train_set: EncodedSet,
        val_set: EncodedSet,
        val_loss_ids: list[int],
        eval_prompt_ids: list[int],
        max_steps: int,
        start_step: int = 0,
    ) -> None:
        self.reporter = reporter
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.train_set = train_set
        self.val_set = val_set
        self.val_loss_ids = val_loss_ids  # the fixed validation-loss subset
        self.eval_prompt_ids = eval_prompt_ids  # the fixed eval prompts (same every eval)
        self.max_steps = max_steps
        self.rank, self.world_size = dist_info()
        self.is_main = self.rank == 0
        self.collator = PadCollator(tokenizer.pad_token_id)
        self.val_items = TokenDataset(val_set)  # the same masking as training
        self.captured: CapturedExample | None = None
        self.last_train_loss: float | None = None
        self.last_eval_step = -1
        self.stop_requested: str | None = None  # set by the signal handler
        self._stop_announced = False  # the handler takes no lock, so the note is written here
        # Throughput bookkeeping (host-side ints and clocks only).
        self.t_start = time.time()
        self.window_t0 = time.perf_counter()
        self.window_step0 = start_step
        self.window_tokens = 0
        self.excluded_s = 0.0  # eval and checkpoint time inside the current window
        self.last_eval_seconds = 0.0
        self.steps_per_s: float | None = None
        self.watchdog = StallWatchdog(self._on_stall, grace_s=cfg.monitor.stall_grace_s)
        self._eval_step = 0
        # Issue #8 hook: the supervisor's "still alive" signal (syllo_train/ops/heartbeat.py).
        self.heartbeat = Heartbeat(reporter.out_dir, enabled=reporter.enabled)

    # ---- hooks called by SylloTrainer -------------------------------------------------

    def wants_example(self, step: int) -> bool:
        """Is ``step`` (the step being trained) a log step whose example is not taken yet?"""
        log_steps = self.cfg.monitor.log_steps
        if step % log_steps != 0 and step != self.max_steps:
            return False
        return self.captured is None or self.captured.step != step

    def on_batch(
        self, step: int, inputs: dict[str, Any], outputs: Any, idx: list[int] | None, n_tokens: int
    ) -> None:
        """Called for every training micro-batch, after the forward pass."""
        self.window_tokens += n_tokens
        if not idx or not self.wants_example(step):
            return
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        with torch.no_grad():
            loss = example_loss(logits[0].detach(), inputs["labels"][0])
        self.captured = CapturedExample(step=step, index=idx[0], loss=loss)

    def add_excluded(self, seconds: float) -> None:
        """Time spent outside training steps (checkpoint saves) is left out of steps/s."""
        self.excluded_s += seconds

    # ---- TrainerCallback ----------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        faults.at_train_begin()  # test-only SYLLO_FAULT; a no-op without it
        self.watchdog.start()
        self.window_t0 = time.perf_counter()
        self.window_step0 = state.global_step

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.watchdog.stop()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        step = state.global_step
        self.heartbeat.beat()  # issue #8 hook: at most one utime a second
        faults.at_step_end(step)  # issue #8 hook: test-only SYLLO_FAULT; a no-op without it
        # Issue #7: under several processes a signal is acted on only once all ranks
        # agree, at the next log step (on_log), so every rank stops at the same step.
        if self.stop_requested and self.world_size == 1:
            return self._stop_here(step, control, self.stop_requested)
        eval_steps = self.cfg.monitor.eval_steps
        due = bool(eval_steps) and step % eval_steps == 0
        at_end = step >= self.max_steps and self.cfg.monitor.eval_at_end
        if (due or at_end) and step != self.last_eval_step:
            control.should_evaluate = True
        if step >= self.max_steps or step % self.cfg.monitor.log_steps == 0:
            control.should_log = True
        return control

    def _stop_here(self, step: int, control: Any, why: str) -> Any:
        """Finish this step, save it, stop: no eval on the way out."""
        if not self._stop_announced:
            self._stop_announced = True
            self.reporter.note(
                f"received {why}: saving a checkpoint at step {step}, then stopping "
                "(send it again to exit at once)"
            )
        control.should_save = True
        control.should_training_stop = True
        control.should_evaluate = False
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
        now = time.perf_counter()
        steps_done = step - self.window_step0
        train_s = max(1e-9, now - self.window_t0 - self.excluded_s)
        tokens = self.window_tokens
        if self.world_size > 1:
            # One small all-reduce, on a log step only (the Trainer has just synced for its
            # loss): global tokens, and how many ranks got each stop signal (issue #7).
            flags = [1.0 if self.stop_requested == name else 0.0 for name in STOP_SIGNALS]
            t = torch.tensor([tokens, *flags], dtype=torch.float64, device=args.device)
            torch.distributed.all_reduce(t)
            tokens, *got = (int(x) for x in t.tolist())
            received = [(name, n) for name, n in zip(STOP_SIGNALS, got, strict=True) if n]
            if received:
                # Every rank sees the same sums: all stop after this step, saved.
                name, ranks = received[-1]
                self.stop_requested = self.stop_requested or name
                self._stop_here(
                    step, control, f"{name} (on {ranks} of {self.world_size} processes)"
                )
        steps_per_s = steps_done / train_s if steps_done > 0 else None
        tokens_per_s = tokens / train_s if steps_done > 0 else None
        if steps_per_s:
            self.steps_per_s = steps_per_s
        self.window_t0, self.window_step0, self.window_tokens, self.excluded_s = now, step, 0, 0.0
        self.last_train_loss = float(logs["loss"])
        if not self.is_main:
            return
        eta = self._eta(step)
        example = None
        cap = self.captured
        if cap is not None and cap.step == step:
            ex = self.train_set.examples[cap.index]
            enc = self.train_set.items[cap.index]
            loss = float(cap.loss.item())  # the Trainer synced for its loss just now
            example = {
                "index": cap.index,
                "prompt": ex.prompt,
                "golden": ex.golden,
                "prompt_tokens": enc.answer_start,  # tokens before the final answer
                "golden_tokens": enc.answer_tokens,  # the final answer's trained tokens
                "loss": loss if loss == loss else None,  # NaN → null (JSON has no NaN)
            }
        mem, mem_kind = peak_memory(args.device)
        self.reporter.emit(
            "log",
            step,
            total_steps=self.max_steps,
            epoch=round(float(state.epoch or 0.0), 4),
            loss=_finite(logs.get("loss")),
            lr=_finite(logs.get("learning_rate")),
            grad_norm=_finite(logs.get("grad_norm")),
            steps_per_s=_round(steps_per_s),
            tokens_per_s=_round(tokens_per_s),
            eta_s=_round(eta),
            elapsed_s=round(time.time() - self.t_start, 3),
            peak_mem_bytes=mem,
            mem_kind=mem_kind,
            example=example,
        )

    def _eta(self, step: int) -> float | None:
        if not self.steps_per_s:
            return None
        remaining = max(0, self.max_steps - step)
        eval_steps = self.cfg.monitor.eval_steps
        evals_left = (self.max_steps // eval_steps - step // eval_steps) if eval_steps else 0
        return remaining / self.steps_per_s + evals_left * self.last_eval_seconds

    # ---- eval tier ----------------------------------------------------------------------

    def run_eval(self, model: Any, step: int, epoch: float) -> dict[str, float]:
        """Validation loss on every rank, generation on the main one; one ``eval`` event.

        With sharded weights (FSDP, ZeRO-3) every rank generates, in lockstep
        (issue #7, docs/distributed.md); only the main rank's results are reported.
        """
        t0 = time.perf_counter()
        self.last_eval_step = step
        val_loss = self.validation_loss(model)
        samples: list[dict[str, Any]] = []
        lockstep = self.world_size > 1 and is_sharded(model)
        if self.eval_prompt_ids and (self.is_main or lockstep):
            samples = self._generate_samples(model, step, lockstep=lockstep)
        if self.world_size > 1 and not lockstep:
            # Other ranks wait here while the main one generates; the generation
            # bounds (checked against the process-group timeout at start) keep it short.
            torch.distributed.barrier()
        seconds = time.perf_counter() - t0
        self.last_eval_seconds = seconds
        self.excluded_s += seconds
        if self.is_main:
            counters = self.reporter.counters
            counters.evals += 1
            generated = [s for s in samples if s["output"] is not None]
            matched = sum(1 for s in generated if s["match"])
            train_loss = self.last_train_loss
            self.reporter.emit(
                "eval",
                step,
                total_steps=self.max_steps,
                epoch=round(float(epoch or 0.0), 4),
                val_loss=_finite(val_loss),
                train_loss=train_loss,
                gap=(val_loss - train_loss)
                if (val_loss is not None and train_loss is not None)
                else None,
                accuracy=(matched / len(samples)) if samples else None,
                samples=samples,
                seconds=round(seconds, 3),
            )
        return {"eval_loss": float("nan") if val_loss is None else val_loss}

    def validation_loss(self, model: Any) -> float | None:
        """Mean cross-entropy over all answer tokens of the validation subset (token-weighted).

        Each rank takes every world_size-th example; the sums are all-reduced,
        so the figure is the same as one process computing it alone.
        """
        ids = self.val_loss_ids[self.rank :: self.world_size]
        device = next(model.parameters()).device
        total = torch.zeros(2, dtype=torch.float64, device=device)  # (loss sum, token count)
        was_training = model.training
        model.eval()
        bs = max(1, self.cfg.monitor.eval_batch_size)
        # Issue #7: every rank runs the same number of forward passes (sharded weights
        # need all ranks in each); a rank out of examples reruns one and counts nothing.
        per_rank = -(-len(self.val_loss_ids) // self.world_size)
        try:
            with torch.no_grad():
                for start in range(0, per_rank, bs):
                    chunk = ids[start : start + bs]
                    counted = bool(chunk)
                    chunk = chunk or self.val_loss_ids[:1]
                    batch = self.collator([self.val_items[i] for i in chunk])
                    input_ids = batch["input_ids"].to(device)
                    labels = batch["labels"].to(device)
                    logits = model(
                        input_ids=input_ids, attention_mask=batch["attention_mask"].to(device)
                    ).logits
                    shift_logits = logits[:, :-1].float()
                    shift_labels = labels[:, 1:]
                    loss_sum = torch.nn.functional.cross_entropy(
                        shift_logits.reshape(-1, shift_logits.size(-1)),
                        shift_labels.reshape(-1),
                        ignore_index=IGNORE_INDEX,
                        reduction="sum",
                    )
                    if counted:
                        total[0] += loss_sum.double()
                        total[1] += (shift_labels != IGNORE_INDEX).sum().double()
        finally:
            model.train(was_training)
        if self.world_size > 1:
            torch.distributed.all_reduce(total)
        loss_sum, count = total.tolist()
        return loss_sum / count if count else None

    def _generate_samples(
        self, model: Any, step: int, lockstep: bool = False
    ) -> list[dict[str, Any]]:
        mon = self.cfg.monitor
        self._eval_step = step
        prompts = [self.val_set.items[i].prompt_ids for i in self.eval_prompt_ids]
        samples: list[dict[str, Any]] = []

        def on_result(k: int, res: GenerationResult) -> None:
            samples.append(self._sample_record(k, res))
            self.heartbeat.beat()  # issue #8 hook: alive between eval generations

        if lockstep:
            self._lockstep_round(model, prompts, on_result)
            return samples
        run_eval_round(
            model,
            self.tokenizer,
            prompts,
            max_new_tokens=mon.max_new_tokens,
            timeout_s=mon.generation_timeout_s,
            round_budget_s=mon.eval_timeout_s,
            watchdog=self.watchdog,
            on_result=on_result,
        )
        return samples

    def _lockstep_round(self, model: Any, prompts: list[list[int]], on_result: Any) -> None:
        """Issue #7: all ranks generate each prompt together (sharded weights).

        ``synced_gpus`` keeps a rank that stopped (its own deadline, EOS) running
        forward passes until every rank has stopped, so the per-token deadline
        holds on each rank and none is left inside a collective. The limit is
        agreed first, so every rank takes the same branch (generate or skip).
        """
        mon = self.cfg.monitor
        device = next(model.parameters()).device
        start = time.monotonic()
        for k, prompt in enumerate(prompts):
            limit = mon.generation_timeout_s
            if mon.eval_timeout_s > 0:
                limit = min(limit, mon.eval_timeout_s - (time.monotonic() - start))
            t = torch.tensor([limit], dtype=torch.float64, device=device)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
            limit = float(t.item())
            if limit <= 0:  # the round budget is spent (run_eval_round's rule)
                res = GenerationResult(
                    None, "", 0, 0.0, True, False, False, limit_s=0.0, skipped=True
                )
            else:
                res = generate_bounded(
                    model,
                    self.tokenizer,
                    prompt,
                    max_new_tokens=mon.max_new_tokens,
                    timeout_s=limit,
                    watchdog=self.watchdog,
                    label=k,
                    synced_gpus=True,
                )
            on_result(k, res)

    def _sample_record(self, k: int, res: GenerationResult) -> dict[str, Any]:
        i = self.eval_prompt_ids[k]
        ex, enc = self.val_set.examples[i], self.val_set.items[i]
        counters = self.reporter.counters
        counters.generations += 1
        match = is_match(res.output, ex.golden, self.cfg.monitor.match, opened=enc.opens_think)
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
        """Runs on the watchdog thread while one forward pass is stuck: record it now."""
        k = int(info.label) if isinstance(info.label, int) else -1
        counters = self.reporter.counters
        counters.timeouts += 1
        counters.stalls += 1
        self.reporter.emit(
            "timeout",
            self._eval_step,
            sample=k,
            limit_s=info.limit_s,
            elapsed_s=round(info.elapsed_s, 4),
            tokens=info.tokens_so_far,
            partial=None,
            stall=True,
        )


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if x == x and abs(x) != float("inf") else None


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def process_id() -> int:
    return os.getpid()
