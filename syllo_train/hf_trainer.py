"""SylloTrainer: the HF Trainer with three small hooks and a leaner callback dispatch.

1. ``compute_loss`` hands the log tier each training batch and the outputs
   of its own forward pass (the example's loss comes from there: no extra
   forward pass);
2. ``evaluate`` runs syllo's eval tier instead of the Trainer's loop
   (token-weighted validation loss with the prompt masked, plus bounded
   generation);
3. ``_save_checkpoint`` times the save, marks the folder complete with the
   run's fingerprint before old checkpoints are rotated away, and reports a
   ``checkpoint`` event (checkpoints.CheckpointRecorder).

Its callbacks are called only for the events they handle
(callback_dispatch.py): syllo's five one-job callbacks cost nothing at the
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
from syllo_train.tiers.eval_tier import EvalTier
from syllo_train.tiers.log_tier import LogTier


class SylloTrainer(Trainer):
    def __init__(
        self,
        *args: Any,
        log_tier: LogTier,
        eval_tier: EvalTier,
        recorder: CheckpointRecorder,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        handle_events_only(self.callback_handler)
        self.log_tier = log_tier
        self.eval_tier = eval_tier
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
        loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        if model.training:
            # The step being trained is the one after the last completed step.
            self.log_tier.on_batch(self.state.global_step + 1, inputs, outputs, idx, n_tokens)
        return (loss, outputs) if return_outputs else loss

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        metrics = self.eval_tier.run(self.model, self.state.global_step, self.state.epoch or 0.0)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, metrics
        )
        return metrics

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        t0 = time.perf_counter()
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
        step = self.state.global_step
        path = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{step}"
        self.recorder.mark_complete(path, step, writes_files=self.args.should_save)
        if self.args.should_save:
            # Now that the new checkpoint is complete, older ones may go.
            rotate_checkpoints(
                output_dir=self._get_output_dir(trial=trial),
                save_total_limit=limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )
        self.recorder.report(path, step, time.perf_counter() - t0)
