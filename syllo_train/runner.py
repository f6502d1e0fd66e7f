"""``syllo-train run``: one training run, top to bottom in the order it happens.

Everything that can be wrong with the user's input (config, data, model
path, resume folder) is checked *before* the first byte of output is
written, so bad input exits with code 2 and loses nothing. From ``run_start``
on, any failure is recorded as an ``error`` event plus ``run_end`` failed and
the exit code is 1. A first SIGINT/SIGTERM finishes the current step, saves a
checkpoint and ends ``stopped`` with exit code 0; a second one exits at once.
Exit code 5 (exitcodes.BUSY): the output folder is in use by another live trainer (ops/lock.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from typing import Any, TextIO

from syllo_train import exitcodes
from syllo_train.config import Config
from syllo_train.events import Counters
from syllo_train.inert import print_inert
from syllo_train.prepare import REFUSALS, InputError, Prepared, check_folders, prepare


class _StopSignals:
    """First SIGINT/SIGTERM: stop after this step, saved. Second: exit at once."""

    def __init__(self, on_first: Any, on_second: Any) -> None:
        self.count = 0
        self.on_first, self.on_second = on_first, on_second
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading_main():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.on_first(name)
        else:
            self.on_second(name, signum)


def threading_main() -> bool:
    return threading.current_thread() is threading.main_thread()


def run(cfg: Config, *, echo: TextIO | None = sys.stdout, config_path: str | None = None) -> int:
    """Run training as configured; returns the process exit code."""
    # One trainer per output folder (syllo_train/ops/lock.py), refused before any work;
    # under a supervisor this adopts the lock it lends (SYLLO_LOCK).
    from syllo_train.ops.lock import LockError, RunLock

    try:
        # Before the lock creates them: an unusable folder is refused naming its key.
        check_folders(cfg)
    except InputError as exc:
        print_inert(f"syllo-train: error: {exc}")
        return exitcodes.BAD_INPUT
    try:
        lock = RunLock.for_run(cfg, config_path=config_path)
    except LockError as exc:
        print_inert(f"syllo-train: error: {exc}")
        return exc.exit_code
    try:
        return _run_locked(cfg, echo=echo)
    finally:
        lock.release()


def _run_locked(cfg: Config, *, echo: TextIO | None) -> int:
    t_start = time.time()
    try:
        prepared = prepare(cfg)
    except REFUSALS as exc:
        print_inert(f"syllo-train: error: {exc}")
        return exitcodes.BAD_INPUT
    return _train(cfg, prepared, echo=echo, t_start=t_start)


def build_trainer(
    cfg: Config,
    reporter: Any,
    *,
    model: Any,
    args: Any,
    tokenizer: Any,
    data: Any,
    fingerprint: Any,
    settings: dict[str, Any],
    start_step: int = 0,
    best: dict[str, Any] | None = None,
) -> tuple[Any, Any, Any]:
    """The SylloTrainer with syllo's callbacks; (trainer, its GracefulStop, its RunHealth).

    At each step end, in this order: the heartbeat, the test-only faults, the
    log tier (should this step log), the eval tier (is an eval due), and a
    requested stop last (it cancels a due eval).
    """
    from transformers.trainer_callback import PrinterCallback

    from syllo_train.checkpoints import CheckpointRecorder
    from syllo_train.data.batches import PadCollator, TokenDataset
    from syllo_train.distributed import GracefulStop, dist_info
    from syllo_train.hf_trainer import SylloTrainer
    from syllo_train.ops.callbacks import FaultCallback, HeartbeatCallback
    from syllo_train.ops.heartbeat import Heartbeat
    from syllo_train.tiers.eval_prompts import from_encoded
    from syllo_train.tiers.eval_tier import EvalTier
    from syllo_train.tiers.health import Best, RunHealth
    from syllo_train.tiers.log_tier import LogTier
    from syllo_train.tiers.timing import TrainClock
    from syllo_train.tiers.validation import ValidationLoss

    max_steps, m = cfg.train.max_steps, cfg.monitor
    rank, world = dist_info()
    is_main = rank == 0
    clock = TrainClock(start_step)
    heartbeat = Heartbeat(reporter.out_dir, enabled=reporter.enabled)
    log_tier = LogTier(
        reporter,
        train_set=data.train,
        clock=clock,
        log_step=lambda step: step % m.log_steps == 0 or step == max_steps,
        eval_steps=m.eval_steps,
        max_steps=max_steps,
        world_size=world,
        is_main=is_main,
        tokenizer=tokenizer,
        example_tokens=m.example_tokens,
    )
    eval_tier = EvalTier(
        reporter,
        m,
        tokenizer=tokenizer,
        prompts=from_encoded(data.val, data.eval_prompt_ids),
        validation=ValidationLoss(
            data.val,
            data.val_loss_ids,
            pad_token_id=tokenizer.pad_token_id,
            batch_size=m.eval_batch_size,
            rank=rank,
            world_size=world,
        ),
        clock=clock,
        max_steps=max_steps,
        rank=rank,
        world_size=world,
        beat=heartbeat.beat,
        best=Best.restored(m.best_metric, best),
    )
    health = RunHealth(
        reporter,
        train_set=data.train,
        spike_mads=m.spike_mads,
        stop_after_nonfinite=m.stop_after_nonfinite,
        world_size=world,
        is_main=is_main,
        examples_loss=log_tier.captured_losses,
    )
    stop = GracefulStop(reporter, world)
    # In this order at each step end (and log): beat, faults, should_log, is an eval due,
    # a requested stop (it cancels a due eval), and run health last (a broken run is
    # not saved, whatever a stop asked for).
    callbacks = [HeartbeatCallback(heartbeat), FaultCallback(), log_tier, eval_tier, stop, health]
    trainer = SylloTrainer(
        model=model,
        args=args,
        train_dataset=TokenDataset(data.train),
        data_collator=PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks,
        log_tier=log_tier,
        eval_tier=eval_tier,
        health=health,
        recorder=CheckpointRecorder(
            reporter,
            fingerprint=fingerprint,
            settings=settings,
            is_main=is_main,
            on_seconds=clock.exclude,
        ),
    )
    # syllo's human log replaces the Trainer's printed dicts.
    trainer.remove_callback(PrinterCallback)
    return trainer, stop, health


def _train(cfg: Config, p: Prepared, *, echo: TextIO | None, t_start: float) -> int:
    from transformers.utils import logging as hf_logging

    from syllo_train.distributed import distributed_info
    from syllo_train.run_facts import param_counts, versions
    from syllo_train.sinks.reporter import Reporter

    hf_logging.disable_progress_bar()
    args = p.args
    is_main = args.process_index == 0
    reporter = Reporter(
        cfg.output.dir, max_text_chars=cfg.monitor.max_text_chars, echo=echo, enabled=is_main
    )
    for line in p.data.summaries:
        reporter.note(line)
    for line in p.plan.skipped:
        reporter.note(f"⚠️ {line}")
    if p.data.skipped:
        reporter.note(
            f'⚠️ skipped {len(p.data.skipped)} bad records (data.on_bad_record = "skip"); first: '
            + "; ".join(f"{src}: {why}" for src, why in p.data.skipped[:3])
        )
    if p.plan.counters:
        # Continue the run's totals from the checkpoint (events after it were redone).
        reporter.writer.counters = Counters.from_dict(p.plan.counters)
    max_steps = cfg.train.max_steps
    trainer, stop, health = build_trainer(
        cfg,
        reporter,
        model=p.model,
        args=args,
        tokenizer=p.tokenizer,
        data=p.data,
        fingerprint=p.fingerprint,
        settings=p.settings,
        start_step=p.plan.step,
        best=p.plan.best,
    )
    step_now = p.plan.step

    def request_stop(name: str) -> None:
        # A handler runs on the main thread, which may be inside a log write holding
        # its lock (e.g. blocked on a full stdout pipe): set a flag, take no lock.
        # GracefulStop announces the stop from the training loop.
        stop.requested = name

    def exit_now(name: str, signum: int) -> None:
        # Best effort only: the interrupted main thread may hold a writer lock, so
        # the last event is written from another thread, and we exit either way.
        def last_event() -> None:
            reporter.emit(
                "run_end",
                last_step(reporter, step_now),
                status="stopped",
                reason=f"second {name}: exited at once",
                elapsed_s=round(time.time() - t_start, 3),
            )

        writer = threading.Thread(target=last_event, daemon=True)
        writer.start()
        writer.join(timeout=2.0)
        os._exit(exitcodes.SIGNAL_BASE + signum)

    signals = _StopSignals(request_stop, exit_now)
    signals.install()
    status, reason, code = "failed", None, exitcodes.FAILED
    try:
        total, trainable = param_counts(p.model)
        reporter.emit(
            "run_start",
            p.plan.step,
            config=cfg.to_dict(),
            model=cfg.model.name_or_path,
            params_total=total,
            params_trainable=trainable,
            train_examples=len(p.data.train),
            val_examples=len(p.data.val),
            eval_prompts=len(p.data.eval_prompt_ids),
            max_steps=max_steps,
            world_size=int(args.world_size),
            distributed=distributed_info(args),  # optional, null on one process
            resumed_from=str(p.plan.checkpoint) if p.plan.checkpoint else None,
            device=str(args.device),
            pid=os.getpid(),
            versions=versions(),
            template=p.data.encoder.name,
            tokenization=p.data.encoder.facts.as_dict(),
            skipped_records=len(p.data.skipped),
            data_sources=p.data.sources,
            fingerprint=p.fingerprint.as_dict(),
        )
        if p.plan.checkpoint is not None:
            reporter.emit(
                "resume",
                p.plan.step,
                from_checkpoint=str(p.plan.checkpoint),
                reason=os.environ.get(
                    "SYLLO_RESUME_REASON", "train.resume = auto: newest complete checkpoint"
                ),
            )
        if p.plan.step >= max_steps:
            status, code = "completed", exitcodes.OK
            reason = f"already at step {p.plan.step} of train.max_steps = {max_steps}; raise train.max_steps to train further"
            return code
        trainer.train(resume_from_checkpoint=str(p.plan.checkpoint) if p.plan.checkpoint else None)
        step_now = trainer.state.global_step
        if health.stop_reason:
            status, reason, code = "failed", health.stop_reason, exitcodes.FAILED
        elif stop.requested:
            status, reason, code = "stopped", f"{stop.requested} received", exitcodes.OK
        else:
            status, code = "completed", exitcodes.OK
        return code
    except BaseException as exc:
        step_now = reporter.last_event["step"] if reporter.last_event else step_now
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-12:])
        reporter.emit(
            "error",
            step_now,
            error_type=type(exc).__name__,
            message=str(exc) or type(exc).__name__,
            traceback=tb,
        )
        reason = f"{type(exc).__name__}: {exc}"
        # Exception text can carry terminal escapes (torch's own bold markers, or
        # model output quoted in a message): printed inert, like the human log.
        print_inert(f"syllo-train: training failed: {reason}")
        return exitcodes.FAILED
    finally:
        signals.restore()
        reporter.emit(
            "run_end",
            max(step_now, last_step(reporter, step_now)),
            status=status,
            reason=reason,
            elapsed_s=round(time.time() - t_start, 3),
        )
        reporter.close()


def last_step(reporter: Any, fallback: int) -> int:
    """The step of the last event written (the run's last known step)."""
    ev = reporter.last_event
    return int(ev["step"]) if ev and ev.get("step") is not None else fallback
