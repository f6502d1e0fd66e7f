"""One run watched by ``SylloCallback``: syllo-train's parts, fed from someone else's Trainer.

Built at ``on_train_begin``, when the Trainer's arguments, state, model and
tokenizer are known; it emits ``run_start`` (and ``resume``), hands each
Trainer event to the parts in syllo-train's order (runner.build_trainer) and
ends the run exactly once: ``run_end`` from ``on_train_end``, from an
exception escaping ``train()`` (``sys.excepthook``), or from a process
exiting mid-run (``atexit``).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from syllo_train.events import Counters


def trainer_logs_at(args: Any, state: Any) -> Any:
    """Which steps the Trainer logs at (transformers' DefaultFlowCallback rule)."""
    strategy = str(getattr(args.logging_strategy, "value", args.logging_strategy))
    every = int(state.logging_steps or 0)
    first = bool(args.logging_first_step)

    def logs(step: int) -> bool:
        return (strategy == "steps" and every > 0 and step % every == 0) or (first and step == 1)

    return logs


def trainer_evaluates(args: Any) -> bool:
    return str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "no"


def tokenizer_of(processing_class: Any) -> Any:
    """The text tokenizer of a Trainer's processing class (a processor holds one)."""
    return getattr(processing_class, "tokenizer", None) or processing_class


class CallbackRun:
    def __init__(self, cb: Any, args: Any, state: Any, **kwargs: Any) -> None:
        from syllo_train.checkpoints import (
            CheckpointRecorder,
            Fingerprint,
            read_marker,
            settings_hash,
        )
        from syllo_train.distributed import GracefulStop
        from syllo_train.ops.heartbeat import Heartbeat
        from syllo_train.sinks.reporter import Reporter
        from syllo_train.tiers.eval_tier import EvalTier
        from syllo_train.tiers.forward_tap import ForwardTap
        from syllo_train.tiers.health import Best, RunHealth
        from syllo_train.tiers.log_tier import LogTier
        from syllo_train.tiers.timing import TrainClock

        self.cb, self.args = cb, args
        self.ended = False
        self.t_start = time.time()
        self.model = kwargs.get("model")
        self.tokenizer = tokenizer_of(kwargs.get("processing_class"))
        self.train_dataloader = kwargs.get("train_dataloader")
        m = self.monitor = cb.monitor
        self.rank, self.world = int(args.process_index), int(args.world_size)
        self.is_main = bool(state.is_world_process_zero)
        self.max_steps = int(state.max_steps)
        self.start_step = int(state.global_step)
        self.trainer_args = {k: _plain(getattr(args, k)) for k in _recorded(args)}
        self.reporter = Reporter(
            cb.status_dir,
            max_text_chars=m.max_text_chars,
            echo=sys.stdout if cb.echo else None,
            enabled=self.is_main,
        )
        self.resumed_from: Path | None = None
        marker = None
        if self.start_step > 0:
            # The Trainer resumed from a checkpoint: continue the run's counters and best.
            self.resumed_from = Path(args.output_dir) / f"checkpoint-{self.start_step}"
            marker = read_marker(self.resumed_from)
            if marker and isinstance(marker.get("counters"), dict):
                self.reporter.writer.counters = Counters.from_dict(marker["counters"])
        self.evaluates = trainer_evaluates(args)
        eval_every = (
            int(state.eval_steps or 0)
            if self.evaluates
            else (m.eval_steps if cb.own_eval_steps else 0)
        )
        self.eval_every = eval_every
        self.clock = TrainClock(self.start_step)
        self.heartbeat = Heartbeat(cb.status_dir, enabled=self.is_main)
        self.log_tier = LogTier(
            self.reporter,
            clock=self.clock,
            log_step=trainer_logs_at(args, state),
            eval_steps=eval_every,
            max_steps=self.max_steps,
            world_size=self.world,
            is_main=self.is_main,
            tokenizer=self.tokenizer,
            example_tokens=m.example_tokens,
            sets_schedule=False,
        )
        self.eval_tier = EvalTier(
            self.reporter,
            m,
            tokenizer=self.tokenizer,
            prompts=self._prompts_given(),
            validation=None,  # the Trainer's own eval_loss
            clock=self.clock,
            max_steps=self.max_steps,
            rank=self.rank,
            world_size=self.world,
            beat=self.heartbeat.beat,
            best=Best.restored(m.best_metric, marker.get("best") if marker else None),
            sets_schedule=False,
            saves_best=False,  # the user's save policy stands
        )
        self.health = RunHealth(
            self.reporter,
            train_set=None,
            spike_mads=m.spike_mads,
            stop_after_nonfinite=m.stop_after_nonfinite,
            world_size=self.world,
            is_main=self.is_main,
            examples_loss=self.log_tier.captured_losses,
            tokenizer=self.tokenizer,
        )
        self.stop = GracefulStop(self.reporter, self.world)
        self.recorder = CheckpointRecorder(
            self.reporter,
            fingerprint=Fingerprint(data="", settings=settings_hash(self.trainer_args)),
            settings=self.trainer_args,
            is_main=self.is_main,
            on_seconds=self.clock.exclude,
        )
        self.tap = ForwardTap(self.log_tier, self.health, int(args.gradient_accumulation_steps))
        self._t_mark = time.perf_counter()  # the end of the latest callback: a save's start
        self._old_signals: dict[int, Any] = {}
        self._old_excepthook: Any = None

    # ---- start ---------------------------------------------------------------------

    def _prompts_given(self) -> list[Any] | None:
        """The eval prompts given to the callback; None: take them from the Trainer's eval set later."""
        from syllo_train.tiers.eval_prompts import from_given, from_rows

        m = self.monitor
        if self.tokenizer is None:
            if self.cb.given is not None or self.cb.eval_rows is not None:
                raise ValueError(
                    "SylloCallback: eval prompts need the tokenizer that prompts the model; "
                    "give the Trainer processing_class=tokenizer"
                )
            return None
        if self.cb.given is not None:
            prompts, goldens = self.cb.given
            return from_given(prompts, goldens, self.tokenizer)
        if self.cb.eval_rows is not None:
            found, passed = from_rows(
                self.cb.eval_rows, self.tokenizer, count=m.eval_samples, seed=m.eval_seed
            )
            self._note_passed(passed, "eval_dataset")
            return found
        return None

    def start(self, control: Any) -> None:
        from syllo_train.distributed import distributed_info
        from syllo_train.run_facts import model_name, param_counts, versions

        total, trainable = param_counts(self.model)
        train_set = getattr(self.train_dataloader, "dataset", None)
        prompts = self.eval_tier.prompts
        self.reporter.emit(
            "run_start",
            self.start_step,
            config={
                "source": "SylloCallback",
                "trainer_args_class": type(self.args).__name__,
                "trainer_args": self.trainer_args,
                "monitor": {
                    **_monitor_dict(self.monitor),
                    # The cadences readers expect under these names are the Trainer's here.
                    "log_steps": int(self.args.logging_steps)
                    if self.args.logging_steps >= 1
                    else None,
                    "eval_steps": self.eval_every,
                },
                "callback": self.cb.settings(),
            },
            model=model_name(self.model),
            params_total=total,
            params_trainable=trainable,
            train_examples=_length(train_set),
            val_examples=None,  # the Trainer's eval set is known only once it evaluates
            eval_prompts=len(prompts) if prompts is not None else self.monitor.eval_samples,
            max_steps=self.max_steps,
            world_size=self.world,
            distributed=distributed_info(self.args),
            resumed_from=str(self.resumed_from) if self.resumed_from else None,
            device=str(self.args.device),
            pid=os.getpid(),
            versions=versions(),
        )
        if self.resumed_from is not None:
            self.reporter.emit(
                "resume",
                self.start_step,
                from_checkpoint=str(self.resumed_from),
                reason="the Trainer resumed from a checkpoint (resume_from_checkpoint)",
            )
        self.tap.attach(self.model)
        self._install_guards()
        self.dispatch("on_train_begin", self.args, None, control, {})

    # ---- the Trainer's events ------------------------------------------------------

    def dispatch(self, event: str, args: Any, state: Any, control: Any, kw: dict[str, Any]) -> Any:
        handler = getattr(self, "_" + event, None)
        if handler is not None:
            control = handler(args, state, control, kw) or control
        self._t_mark = time.perf_counter()
        return control

    def _on_train_begin(self, args: Any, state: Any, control: Any, kw: dict[str, Any]) -> Any:
        self.log_tier.clock.start(self.start_step)
        self.eval_tier.watchdog.start()
        return control

    def _on_step_begin(self, args: Any, state: Any, control: Any, kw: dict[str, Any]) -> Any:
        self.tap.step = state.global_step + 1  # the step about to be trained
        return control

    def _on_step_end(self, args: Any, state: Any, control: Any, kw: dict[str, Any]) -> Any:
        self.heartbeat.beat()
        step = state.global_step
        at_end = step >= self.max_steps and self.monitor.eval_at_end
        if self.evaluates:
            # The Trainer evaluates on its own schedule; syllo's last round is asked of it.
            if at_end and step != self.eval_tier.last_eval_step:
                control.should_evaluate = True
        else:
            due = bool(self.eval_every) and step % self.eval_every == 0
            if (due or at_end) and step != self.eval_tier.last_eval_step and self.eval_tier.prompts:
                # Generation only: there is no validation loss without the Trainer's eval.
                self.eval_tier.run(kw["model"], step, float(state.epoch or 0.0), val_loss=None)
        control = self.stop.on_step_end(args, state, control) or control
        return control

    def _on_log(self, args: Any, state: Any, control: Any, kw: dict[str, Any]) -> Any:
        logs = kw.get("logs")
        self.log_tier.on_log(args, state, control, logs=logs)
        self.eval_tier.on_log(args, state, control, logs=logs)
        control = self.stop.on_log(args, state, control, logs=logs) or control
        if logs and "loss" in logs:
            # The Trainer's norm of its latest step: the one per-step norm a callback can see.
            self.health.add_grad_norm(state.global_step, logs.get("grad_norm"))
        return self.health.on_log(args, state, control, logs=logs) or control

    def _on_evaluate(self, args: Any, state: Any, control: Any, kw: dict[str, Any]) -> Any:
        if self.eval_tier.prompts is None:
            self.eval_tier.prompts = self._prompts_from_trainer(kw.get("eval_dataloader"))
        metrics = kw.get("metrics") or {}
        val_loss = metrics.get("eval_loss")
        self.eval_tier.run(
            kw["model"], state.global_step, float(state.epoch or 0.0), val_loss=val_loss
        )
        return self.eval_tier.on_evaluate(args, state, control)

    def _on_save(self, args: Any, state: Any, control: Any, kw: dict[str, Any]) -> Any:
        step = state.global_step
        path = Path(args.output_dir) / f"checkpoint-{step}"
        seconds = time.perf_counter() - self._t_mark  # from the step's last callback to now
        best = self.eval_tier.best
        if best.step == step:
            best.checkpoint = str(path)
        self.recorder.mark_complete(
            path, step, writes_files=bool(args.should_save) and path.is_dir(), best=best.as_dict()
        )
        self.recorder.report(path, step, seconds)
        return control

    def _prompts_from_trainer(self, dataloader: Any) -> list[Any]:
        from syllo_train.tiers.eval_prompts import from_rows

        rows = getattr(dataloader, "dataset", None)
        if self.tokenizer is None:
            self.reporter.note(
                "⚠️ no eval prompts: the Trainer has no tokenizer (processing_class) to prompt the model with"
            )
            return []
        if rows is None or not hasattr(rows, "__len__") or not hasattr(rows, "__getitem__"):
            self.reporter.note(
                "⚠️ no eval prompts: the Trainer's eval dataset cannot be read by row; "
                "pass eval_prompts= and goldens= (or eval_dataset=) to SylloCallback"
            )
            return []
        m = self.monitor
        found, passed = from_rows(rows, self.tokenizer, count=m.eval_samples, seed=m.eval_seed)
        self._note_passed(passed, "the Trainer's eval dataset")
        return found

    def _note_passed(self, passed: int, where: str) -> None:
        if passed:
            self.reporter.note(
                f"⚠️ {passed} rows of {where} have no prompt to generate from (no prompt/completion "
                "or messages columns, and every token trained): they are not eval prompts; "
                "pass eval_prompts= and goldens= to SylloCallback"
            )

    # ---- the end -------------------------------------------------------------------

    def finish(self, state: Any, control: Any, model: Any) -> None:
        if self.health.stop_reason:
            self.end("failed", self.health.stop_reason, state.global_step)
        elif self.stop.requested:
            self.end("stopped", f"{self.stop.requested} received", state.global_step)
        elif state.global_step < self.max_steps:
            self.end(
                "completed",
                f"training stopped at step {state.global_step} of {self.max_steps} (a callback asked)",
                state.global_step,
            )
        else:
            self.end("completed", None, state.global_step)

    def end(self, status: str, reason: str | None, step: int | None = None) -> None:
        """Write ``run_end`` once and let go of everything the run holds."""
        if self.ended:
            return
        self.ended = True
        self.tap.detach()
        self.eval_tier.watchdog.stop()
        self._remove_guards()
        last = self.reporter.last_event
        step = step if step is not None else int(last["step"]) if last else self.start_step
        self.reporter.emit(
            "run_end",
            step,
            status=status,
            reason=reason,
            elapsed_s=round(time.time() - self.t_start, 3),
        )
        self.reporter.close()

    def failed(self, exc: BaseException) -> None:
        """An exception escaped ``train()``: an ``error`` event, then ``run_end`` failed."""
        if self.ended:
            return
        last = self.reporter.last_event
        step = int(last["step"]) if last else self.start_step
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-12:])
        self.reporter.emit(
            "error",
            step,
            error_type=type(exc).__name__,
            message=str(exc) or type(exc).__name__,
            traceback=tb,
        )
        self.end("failed", f"{type(exc).__name__}: {exc}", step)

    # ---- guards: exceptions, exits and signals outside the Trainer's callbacks ---------

    def _install_guards(self) -> None:
        self._old_excepthook = sys.excepthook

        def excepthook(tp: Any, exc: BaseException, tb: Any) -> None:
            self.failed(exc)
            (self._old_excepthook or sys.__excepthook__)(tp, exc, tb)

        sys.excepthook = excepthook
        atexit.register(self._at_exit)
        if self.cb.handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old_signals[sig] = signal.signal(sig, self._on_signal)

    def _remove_guards(self) -> None:
        if self._old_excepthook is not None and sys.excepthook is not self._old_excepthook:
            sys.excepthook = self._old_excepthook
        atexit.unregister(self._at_exit)
        for sig, old in self._old_signals.items():
            signal.signal(sig, old)
        self._old_signals.clear()

    def _at_exit(self) -> None:
        self.end("failed", "the process exited during training (no on_train_end)")

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.stop.requested is None:
            # The handler may interrupt a log write holding its lock: set a flag only.
            self.stop.requested = name
            return
        # A second signal: best effort to record it from another thread, then exit at once.
        writer = threading.Thread(
            target=self.end, args=("stopped", f"second {name}: exited at once"), daemon=True
        )
        writer.start()
        writer.join(timeout=2.0)
        os._exit(128 + signum)


def _recorded(args: Any) -> list[str]:
    from syllo_train.callback import RECORDED_ARGS

    return [k for k in RECORDED_ARGS if hasattr(args, k)]


def _plain(value: Any) -> Any:
    """A Trainer argument as JSON: enums by their value, the rest as is or as text."""
    value = getattr(value, "value", value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _length(dataset: Any) -> int:
    try:
        return len(dataset)
    except TypeError:  # an iterable dataset: no length
        return 0


def _monitor_dict(monitor: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(monitor)
