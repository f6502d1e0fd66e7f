"""SylloTrainer: the HF Trainer with three small hooks, and nothing else changed.

1. ``compute_loss`` lets the monitor see each training batch and the outputs
   of its own forward pass (the log tier's example loss comes from there: no
   extra forward pass);
2. ``evaluate`` runs syllo's eval tier instead of the Trainer's loop (token-
   weighted validation loss with the prompt masked, plus bounded generation);
3. ``_save_checkpoint`` times the save, marks the folder complete with the
   run's fingerprint, and reports a ``checkpoint`` event.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import Trainer
from transformers.trainer_utils import rotate_checkpoints

from syllo_train.checkpoints import Fingerprint, write_marker
from syllo_train.monitor import SylloMonitor


class SylloTrainer(Trainer):
    def __init__(
        self,
        *args: Any,
        monitor: SylloMonitor,
        fingerprint: Fingerprint,
        settings: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.monitor = monitor
        self.fingerprint = fingerprint
        self.settings = settings

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        # Host-side bookkeeping the collator attached; the model must not see it.
        idx = inputs.pop("idx", None)
        n_tokens = int(inputs.pop("n_tokens", 0))
        loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        if model.training:
            # The step being trained is the one after the last completed step.
            self.monitor.on_batch(self.state.global_step + 1, inputs, outputs, idx, n_tokens)
        return (loss, outputs) if return_outputs else loss

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        metrics = self.monitor.run_eval(self.model, self.state.global_step, self.state.epoch or 0.0)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, metrics
        )
        return metrics

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        t0 = time.perf_counter()
        # Issue #9 (found by the kill -9 torture test): the Trainer deletes old checkpoints
        # (save_total_limit) at the end of its own save, before syllo marks the new one
        # complete; a kill in between left no complete checkpoint at all with a limit of 1.
        # So its rotation is held back here and done below, after the marker.
        limit = self.args.save_total_limit
        self.args.save_total_limit = None
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        if self.monitor.world_size > 1:
            # Issue #7: each rank writes its own files (RNG state; shards under FSDP/ZeRO-3)
            # and the Trainer does not wait for them: mark the folder complete only after all have.
            import torch.distributed as dist

            dist.barrier()
        step = self.state.global_step
        path = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{step}"
        counters = self.monitor.reporter.counters
        if self.monitor.is_main:
            counters.checkpoints += 1
        if self.args.should_save:
            write_marker(
                path,
                step=step,
                run_id=self.monitor.reporter.run_id,
                fingerprint=self.fingerprint,
                settings=self.settings,
                counters=counters.as_dict(),
            )
            # Issue #9: now that the new checkpoint is complete, older ones may go.
            rotate_checkpoints(
                output_dir=self._get_output_dir(trial=trial),
                save_total_limit=limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )
        seconds = time.perf_counter() - t0
        self.monitor.add_excluded(seconds)
        if self.monitor.is_main:
            self.monitor.reporter.emit(
                "checkpoint", step, path=str(path), seconds=round(seconds, 3)
            )
