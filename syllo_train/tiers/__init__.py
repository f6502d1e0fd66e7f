"""The two monitoring tiers, each its own TrainerCallback, and the clock they share.

* ``log_tier.LogTier`` (every ``monitor.log_steps``): one example from the
  batch just trained, with its own loss from that step's forward pass (no
  extra forward, no device sync on other steps), plus loss, learning rate,
  grad norm, throughput and ETA: one ``log`` event;
* ``eval_tier.EvalTier`` (every ``monitor.eval_steps`` and at the end):
  validation loss over the fixed validation set, bounded generation on the
  fixed eval prompts, match: one ``eval`` event (and ``timeout`` events);
* ``timing.TrainClock``: steps and tokens per second since the last log, with
  eval rounds and checkpoint saves left out, and the ETA.

``SylloTrainer`` (hf_trainer.py) hands the log tier each training batch and
calls the eval tier from ``evaluate``.
"""
