"""SylloTrainer: the HF Trainer with three small hooks and a leaner callback dispatch.

1. ``compute_loss`` hands the log tier each training batch and the outputs
   of its own forward pass (the example's loss comes from there: no extra
   forward pass); ``training_step`` and ``_get_grad_norm`` hand the health
   tracker each step's raw loss and gradient norm, as device tensors;
2. ``evaluate`` runs syllo's eval tier instead of the Trainer's loop
   (token-weighted validation loss with the prompt masked, plus bounded
   generation);
3. ``_save_checkpoint`` refuses to save non-finite weights, times the save,
   marks the folder complete with the run's fingerprint before old
   checkpoints are rotated away (the best eval's checkpoint is kept), and
   reports a ``checkpoint`` event (checkpoints.CheckpointRecorder).

Its callbacks are called only for the events they handle
(callback_dispatch.py): syllo's one-job callbacks cost nothing at the
events they do not use.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import Trainer
from transformers.trainer_utils import rotate_checkpoints

from syllo_train.callback_dispatch import handle_events_only
from syllo_train.checkpoints import CheckpointRecorder
from syllo_train.ops import faults
from syllo_train.tiers.eval_tier import EvalTier
from syllo_train.tiers.health import RunHealth, weights_finite
from syllo_train.tiers.log_tier import LogTier


class SylloTrainer(Trainer):
    def __init__(
        self,
        *args: Any,
        log_tier: LogTier,
        eval_tier: EvalTier,
        health: RunHealth,
        recorder: CheckpointRecorder,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        handle_events_only(self.callback_handler)
        self.log_tier = log_tier
        self.eval_tier = eval_tier
        self.health = health
        self.recorder = recorder

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
        step = self.state.global_step + 1  # the step being trained: after the last completed one
        if model.training:
            faults.poison_batch(step, inputs)  # test-only SYLLO_FAULT spike; a no-op without it
        loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        if model.training:
            self.log_tier.on_batch(step, inputs, outputs, idx, n_tokens)
            self.health.add_batch(step, idx)
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.health.add_loss(self.state.global_step + 1, loss)  # raw, on the device
        return loss

    def _get_grad_norm(self, model: Any, grad_norm: Any = None) -> Any:
        grad_norm = super()._get_grad_norm(model, grad_norm=grad_norm)
        self.health.add_grad_norm(self.state.global_step + 1, grad_norm)  # raw, on the device
        return grad_norm

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        metrics = self.eval_tier.run(self.model, self.state.global_step, self.state.epoch or 0.0)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, metrics
        )
        return metrics

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        step = self.state.global_step
        if not weights_finite(model, self.args.world_size):
            # A resume ("auto") would take the newest checkpoint: it must be a good one.
            self.recorder.refused(step, "its weights are not finite")
            return
        t0 = time.perf_counter()
        path = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{step}"
        if self.eval_tier.best.step == step:
            # Before the save: trainer_state.json records it, so a resume keeps protecting it.
            self.eval_tier.best.checkpoint = str(path)
            self.state.best_model_checkpoint = str(path)  # the Trainer's rotation keeps it
        # The Trainer deletes old checkpoints (save_total_limit) at the end of its own
        # save, before syllo marks the new one complete: a kill in between would leave no
        # complete checkpoint at all with a limit of 1. So its rotation is held back here
        # and done below, after the marker.
        limit = self.args.save_total_limit
        self.args.save_total_limit = None
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        if self.args.world_size > 1:
            # Each rank writes its own files (RNG state; shards under FSDP/ZeRO-3) and the
            # Trainer does not wait for them: mark the folder complete only after all have.
            import torch.distributed as dist

            dist.barrier()
        self.recorder.mark_complete(
            path, step, writes_files=self.args.should_save, best=self.eval_tier.best.as_dict()
        )
        if self.args.should_save:
            # Now that the new checkpoint is complete, older ones may go.
            rotate_checkpoints(
                output_dir=self._get_output_dir(trial=trial),
                save_total_limit=limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )
        self.recorder.report(path, step, time.perf_counter() - t0)
