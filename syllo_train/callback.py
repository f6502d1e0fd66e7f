"""``SylloCallback``: syllo's event stream from anyone's ``Trainer`` (TRL's included), one line to add.

    trainer = SFTTrainer(..., callbacks=[SylloCallback("status")])

It runs the same parts ``syllo-train run`` runs (runner.build_trainer) — the
log tier, the eval tier, run health, the checkpoint recorder, the graceful
stop, the heartbeat — and writes through the same ``Reporter`` (events, status
snapshot, human log). What differs is only how each part is fed, since the
Trainer is not ours:

* the batches come from a forward hook on the model (tiers/forward_tap.py),
  so the example is read back from the row's tokens (tiers/rows.py);
* the log cadence is the Trainer's own (``logging_steps``), and the eval
  tier runs when the Trainer evaluates, with the Trainer's validation loss
  (``eval_loss``); generation uses the prompts given (``eval_prompts`` and
  ``goldens``, or an ``eval_dataset`` of raw rows) or else rows of the
  Trainer's own eval dataset (tiers/eval_prompts.py). A Trainer that never
  evaluates gets generation-only rounds every ``eval_steps`` (when given)
  and at the end;
* ``on_save`` marks each checkpoint complete after the Trainer saved it
  (the Trainer has rotated old ones by then: it cannot be reordered from a
  callback);
* the run ends ``completed`` or ``stopped`` at ``on_train_end``; an exception
  that escapes ``train()`` ends it ``failed`` (with an ``error`` event) from
  ``sys.excepthook``, and a process that exits mid-run from ``atexit``.

Every process of a ``torchrun``/``accelerate`` launch runs the callback
(its collectives need all ranks); only the main one writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

#: The Trainer's arguments recorded in ``run_start.config.trainer_args`` (those present).
RECORDED_ARGS = (
    "output_dir",
    "max_steps",
    "num_train_epochs",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "logging_steps",
    "logging_first_step",
    "eval_strategy",
    "eval_steps",
    "save_strategy",
    "save_steps",
    "save_total_limit",
    "seed",
    "bf16",
    "fp16",
    "gradient_checkpointing",
    "logging_nan_inf_filter",
    # TRL's SFTConfig: what decides the tokens trained on
    "completion_only_loss",
    "assistant_only_loss",
    "packing",
    "packing_strategy",
    "padding_free",
    "max_length",
    "dataset_text_field",
)

#: Monitor keys the callback does not take: the Trainer's own arguments decide them.
NOT_HERE = {
    "log_steps": "SylloCallback logs at the Trainer's logging_steps: set logging_steps in its arguments",
    "eval_batch_size": "the Trainer computes the validation loss: set per_device_eval_batch_size in its arguments",
}


class SylloCallback(TrainerCallback):
    """syllo's monitoring for an unmodified ``transformers.Trainer`` or a subclass (TRL's ``SFTTrainer``).

    Args:
        status_dir: where ``events.jsonl``, ``training_status.json`` and
            ``train.log`` go (``syllo-tui <status_dir>/events.jsonl`` watches it).
        eval_prompts, goldens: fixed prompts to generate from at every eval and
            their expected answers; a prompt is a string (prompted as written) or a
            list of ``{role, content}`` messages (through the chat template).
        eval_dataset: raw rows to take the eval prompts from instead
            (``prompt``/``completion`` or ``messages`` columns); without either, rows
            of the Trainer's own eval dataset are used.
        echo: also print the human log's lines (the Trainer prints its own logs).
        handle_signals: a first SIGINT/SIGTERM saves a checkpoint and stops after
            the current step (``run_end`` stopped); a second exits at once.
        **monitor: syllo's ``[monitor]`` settings (docs/config.md), e.g.
            ``eval_samples``, ``generation_timeout_s``, ``max_new_tokens``, ``match``,
            ``eval_steps`` (generation-only rounds when the Trainer does not evaluate).
    """

    def __init__(
        self,
        status_dir: str | os.PathLike[str] = "status",
        *,
        eval_prompts: list[Any] | None = None,
        goldens: list[str] | None = None,
        eval_dataset: Any = None,
        echo: bool = False,
        handle_signals: bool = True,
        **monitor: Any,
    ) -> None:
        from syllo_train.config.build import build_monitor

        for key, why in NOT_HERE.items():
            if key in monitor:
                raise TypeError(f"SylloCallback({key}=...): {why}")
        if (eval_prompts is None) != (goldens is None):
            raise ValueError(
                "SylloCallback: give eval_prompts and goldens together (one golden per prompt)"
            )
        # The same checks as syllo-train's [monitor] section: a bad value is refused here, by name.
        self.monitor = build_monitor(monitor, source="SylloCallback(...)")
        self.own_eval_steps = "eval_steps" in monitor  # else: only when the Trainer evaluates
        self.status_dir = Path(status_dir)
        self.given = (list(eval_prompts), list(goldens)) if eval_prompts is not None else None
        self.eval_rows = eval_dataset
        self.echo = echo
        self.handle_signals = handle_signals
        self.run: Any = None  # the live run's parts, from on_train_begin to its end

    # ---- the run's life ------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from syllo_train.callback_run import CallbackRun

        if self.run is not None and not self.run.ended:
            # train() called again (a retry after a caught exception): end the old run first.
            self.run.end("failed", "train() was called again before this run ended")
        self.run = CallbackRun(self, args, state, **kwargs)
        self.run.start(control)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.run is not None:
            self.run.finish(state, control, kwargs.get("model"))

    def settings(self) -> dict[str, Any]:
        """The callback's own settings, for ``run_start.config.callback``."""
        source = (
            "given" if self.given else "eval_dataset" if self.eval_rows is not None else "trainer"
        )
        return {
            "status_dir": str(self.status_dir),
            "eval_prompts": source,
            "handle_signals": self.handle_signals,
            "echo": self.echo,
        }

    # ---- everything else is handed to the run's parts, in syllo-train's order ----------

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        return self._each("on_step_begin", args, state, control, kwargs)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        return self._each("on_step_end", args, state, control, kwargs)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
        return self._each("on_log", args, state, control, {**kwargs, "logs": logs})

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any
    ) -> Any:
        return self._each("on_evaluate", args, state, control, {**kwargs, "metrics": metrics})

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        return self._each("on_save", args, state, control, kwargs)

    def _each(self, event: str, args: Any, state: Any, control: Any, kwargs: dict[str, Any]) -> Any:
        if self.run is None or self.run.ended:
            return control
        return self.run.dispatch(event, args, state, control, kwargs)
