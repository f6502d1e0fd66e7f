"""``Run``: syllo's event stream from a training loop of your own (nanoGPT-style, accelerate, …).

    with syllo_train.Run("status", model=model, tokenizer=tok, max_steps=1000,
                         eval_prompts=["2+2="], goldens=["4"]) as run:
        for step in range(1, 1001):
            out = model(**batch); out.loss.backward(); opt.step()
            if step % 10 == 0:
                run.log(step, loss=out.loss.item(), lr=lr, batch=batch, outputs=out)
            if step % 200 == 0:
                run.eval(step, val_loss=evaluate(model), model=model)
            if run.should_stop:
                break

The same events as ``syllo-train run`` and ``SylloCallback``, through the
same parts: ``log`` reads the example from the batch exactly as the callback
does (or takes one you give), run health judges each logged loss, ``eval``
generates on the fixed prompts with the same time limits, watchdog and
``timeout`` events (or takes samples you generated), ``checkpoint`` marks a
folder complete. Every event is checked against docs/events.md before it is
written: one that breaks the contract raises ``EventError`` and is not
written. Leaving the ``with`` block ends the run (``run_end`` completed, or
failed with an ``error`` event when an exception escapes, or stopped on
KeyboardInterrupt); without ``with``, call ``close``.

Only the main process writes (rank 0 of ``torch.distributed``, else
``RANK``); on the others every method is a no-op that returns None.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from syllo_train.events import EventError

__all__ = ["EventError", "Run"]


def _rank() -> int:
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return int(torch.distributed.get_rank())
    return int(os.environ.get("RANK", "0") or 0)


class Run:
    """One run's event stream, written from your own loop. See the module's docstring."""

    def __init__(
        self,
        status_dir: str | os.PathLike[str] = "status",
        *,
        model: Any = None,
        tokenizer: Any = None,
        max_steps: int = 0,
        config: dict[str, Any] | None = None,
        eval_prompts: list[Any] | None = None,
        goldens: list[str] | None = None,
        train_examples: int = 0,
        echo: bool = False,
        **monitor: Any,
    ) -> None:
        from syllo_train.config.build import build_monitor
        from syllo_train.sinks.reporter import Reporter
        from syllo_train.tiers.eval_prompts import from_given
        from syllo_train.tiers.eval_tier import EvalTier
        from syllo_train.tiers.health import Best, RunHealth
        from syllo_train.tiers.log_tier import LogTier
        from syllo_train.tiers.timing import TrainClock

        if (eval_prompts is None) != (goldens is None):
            raise ValueError("Run: give eval_prompts and goldens together (one golden per prompt)")
        if eval_prompts is not None and tokenizer is None:
            raise ValueError(
                "Run: eval_prompts need the tokenizer that prompts the model (tokenizer=...)"
            )
        self.monitor = m = build_monitor(monitor, source="Run(...)")
        self.status_dir = Path(status_dir)
        self.max_steps = int(max_steps)
        self.tokenizer = tokenizer
        self.is_main = _rank() == 0
        self.t_start = time.time()
        self.closed = not self.is_main
        self.should_stop = False  # run health asks the loop to stop (a broken run)
        self.reporter = Reporter(
            self.status_dir,
            max_text_chars=m.max_text_chars,
            echo=__import__("sys").stdout if echo else None,
            enabled=self.is_main,
            strict=True,
        )
        self.clock = TrainClock(0)
        self._step_tokens = 0
        # One process writes: the tiers see a world of one (no collectives from here).
        self.log_tier = LogTier(
            self.reporter,
            clock=self.clock,
            log_step=lambda step: True,
            eval_steps=m.eval_steps,
            max_steps=self.max_steps,
            world_size=1,
            is_main=self.is_main,
            tokenizer=tokenizer,
            example_tokens=m.example_tokens,
            sets_schedule=False,
        )
        prompts = (
            from_given(eval_prompts, goldens or [], tokenizer) if eval_prompts is not None else []
        )
        self.eval_tier = EvalTier(
            self.reporter,
            m,
            tokenizer=tokenizer,
            prompts=prompts,
            validation=None,
            clock=self.clock,
            max_steps=self.max_steps,
            rank=0,
            world_size=1,
            best=Best(m.best_metric),
            sets_schedule=False,
            saves_best=False,
        )
        self.health = RunHealth(
            self.reporter,
            train_set=None,
            spike_mads=m.spike_mads,
            stop_after_nonfinite=m.stop_after_nonfinite,
            world_size=1,
            is_main=self.is_main,
            examples_loss=self.log_tier.captured_losses,
            tokenizer=tokenizer,
        )
        if not self.is_main:
            return
        self._start(model, config or {}, train_examples, len(prompts))
        self.eval_tier.watchdog.start()

    def _start(self, model: Any, config: dict[str, Any], train_examples: int, prompts: int) -> None:
        from dataclasses import asdict

        from syllo_train.run_facts import model_name, param_counts, versions

        total = trainable = 0
        name = model if isinstance(model, str) else "custom"
        device = "cpu"
        if model is not None and not isinstance(model, str):
            total, trainable = param_counts(model)
            name = model_name(model)
            first = next(iter(model.parameters()), None)
            device = str(first.device) if first is not None else "cpu"
        self.reporter.emit(
            "run_start",
            0,
            config={
                "source": "Run",
                # The loop decides when it logs and evaluates: no cadence to state.
                "monitor": {**asdict(self.monitor), "log_steps": None, "eval_steps": None},
                "user": config,
            },
            model=name,
            params_total=total,
            params_trainable=trainable,
            train_examples=int(train_examples),
            val_examples=None,
            eval_prompts=prompts,
            max_steps=self.max_steps,
            world_size=int(os.environ.get("WORLD_SIZE", "1") or 1),
            resumed_from=None,
            device=device,
            pid=os.getpid(),
            versions=versions(),
        )

    # ---- the log tier --------------------------------------------------------------

    def log(
        self,
        step: int,
        *,
        loss: float | None = None,
        lr: float | None = None,
        grad_norm: float | None = None,
        epoch: float = 0.0,
        tokens: int = 0,
        batch: dict[str, Any] | None = None,
        outputs: Any = None,
        example: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """A ``log`` event at ``step``.

        ``tokens``: tokens trained since the last log (for tokens/s). The example
        is ``example`` as given (``prompt``, ``golden``, optional ``loss``,
        ``prompt_tokens``, ``golden_tokens``), or read from row 0 of ``batch``
        (``input_ids``, ``labels``) with its loss from ``outputs`` (``logits``),
        as SylloCallback reads a Trainer's batch.
        """
        if self.closed:
            return None
        step = int(step)
        self.clock.add_tokens(int(tokens))
        if batch is not None:
            self.log_tier.on_batch(step, batch, outputs if outputs is not None else {}, None, 0)
        if loss is not None:
            import torch

            self.health.add_loss(step, torch.tensor(float(loss)))
        logs = {
            "loss": float("nan") if loss is None else float(loss),
            "learning_rate": lr,
            "grad_norm": grad_norm,
        }
        if example is not None:
            self.log_tier.captured = None  # the example given wins over a batch's
        event = self._log_event(step, epoch, logs, example)
        if self.health.check(step, "cpu"):
            self.should_stop = True
        return event

    def _log_event(
        self, step: int, epoch: float, logs: dict[str, Any], example: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        args = SimpleNamespace(device=_cpu())
        state = SimpleNamespace(global_step=step, epoch=epoch)
        if example is not None:
            self.log_tier.given_example = self._example(example)
        self.log_tier.on_log(args, state, SimpleNamespace(), logs=logs)
        self.eval_tier.on_log(args, state, SimpleNamespace(), logs=logs)
        last = self.reporter.last_event
        return last if last and last.get("type") == "log" and last.get("step") == step else None

    def _example(self, example: dict[str, Any]) -> dict[str, Any]:
        if (
            not isinstance(example, dict)
            or not isinstance(example.get("prompt"), str)
            or not isinstance(example.get("golden"), str)
        ):
            raise EventError("Run.log(example=...): give a dict with 'prompt' and 'golden' strings")
        out = {
            "index": example.get("index"),
            "prompt": example["prompt"],
            "golden": example["golden"],
            "prompt_tokens": example["prompt_tokens"]
            if "prompt_tokens" in example
            else self._count(example["prompt"]),
            "golden_tokens": example["golden_tokens"]
            if "golden_tokens" in example
            else self._count(example["golden"]),
            "loss": example.get("loss"),
        }
        return out

    def _count(self, text: str) -> int:
        if self.tokenizer is None:
            raise EventError(
                "Run.log(example=...): give prompt_tokens and golden_tokens, or a tokenizer to count them (Run(tokenizer=...))"
            )
        return len(self.tokenizer(text=text, add_special_tokens=False)["input_ids"])

    # ---- the eval tier -------------------------------------------------------------

    def generate_bounded(self, model: Any, step: int = 0) -> list[dict[str, Any]]:
        """Generate on the fixed eval prompts, each bounded in time and tokens; the samples.

        A generation past its limit is a ``timeout`` event (its text so far kept).
        """
        if self.closed:
            return []
        return self.eval_tier.generate(model, int(step))

    def eval(
        self,
        step: int,
        *,
        val_loss: float | None = None,
        model: Any = None,
        samples: list[dict[str, Any]] | None = None,
        epoch: float = 0.0,
    ) -> dict[str, Any] | None:
        """An ``eval`` event: ``val_loss`` you computed, and samples generated now
        from ``model`` on the fixed prompts, or ``samples`` you give (each with
        ``prompt``, ``golden`` and ``output``; the match is decided here)."""
        if self.closed:
            return None
        step = int(step)
        t0 = time.perf_counter()
        if samples is not None:
            made = [self.eval_tier.given_sample(k, s) for k, s in enumerate(samples)]
        elif model is not None:
            made = self.eval_tier.generate(model, step)
        else:
            made = []
        self.eval_tier.report(step, epoch, val_loss, made, time.perf_counter() - t0)
        last = self.reporter.last_event
        return last if last and last.get("type") == "eval" else None

    # ---- checkpoints and the end -----------------------------------------------------

    def checkpoint(
        self, path: str | os.PathLike[str], step: int, *, seconds: float = 0.0
    ) -> dict[str, Any] | None:
        """A ``checkpoint`` event for a folder you saved (call it once the save is done):
        the folder is marked complete (syllo_checkpoint.json) with the run's counters."""
        from syllo_train.checkpoints import Fingerprint, write_marker

        if self.closed:
            return None
        path = Path(path)
        self.reporter.counters.checkpoints += 1
        best = self.eval_tier.best
        if best.step == step:
            best.checkpoint = str(path)
        if path.is_dir():
            write_marker(
                path,
                step=int(step),
                run_id=self.reporter.run_id,
                fingerprint=Fingerprint(data="", settings=""),
                settings={},
                counters=self.reporter.counters.as_dict(),
                best=best.as_dict(),
            )
        return self.reporter.emit(
            "checkpoint",
            int(step),
            path=str(path),
            seconds=round(float(seconds), 3),
            best=best.checkpoint == str(path),
        )

    def close(self, status: str = "completed", reason: str | None = None) -> None:
        """End the run: ``run_end`` with ``status`` (completed, stopped or failed). Once."""
        if self.closed:
            return
        self.closed = True
        self.eval_tier.watchdog.stop()
        last = self.reporter.last_event
        try:
            self.reporter.emit(
                "run_end",
                int(last["step"]) if last else 0,
                status=status,
                reason=reason,
                elapsed_s=round(time.time() - self.t_start, 3),
            )
        finally:
            self.reporter.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, tp: Any, exc: BaseException | None, tb: Any) -> None:
        if self.closed:
            return
        if exc is None:
            self.close("completed")
        elif isinstance(exc, KeyboardInterrupt):
            self.close("stopped", "KeyboardInterrupt")
        else:
            last = self.reporter.last_event
            self.reporter.emit(
                "error",
                int(last["step"]) if last else 0,
                error_type=type(exc).__name__,
                message=str(exc) or type(exc).__name__,
                traceback="".join(traceback.format_exception(tp, exc, tb)[-12:]),
            )
            self.close("failed", f"{type(exc).__name__}: {exc}")


def _cpu() -> Any:
    import torch

    return torch.device("cpu")
