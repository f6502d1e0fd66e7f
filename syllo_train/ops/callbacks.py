"""The operations' hooks in the training loop: the heartbeat and the test-only faults.

Each is its own TrainerCallback. Imports transformers (unlike the rest of ops/).
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from syllo_train.ops import faults
from syllo_train.ops.heartbeat import Heartbeat


class HeartbeatCallback(TrainerCallback):
    """Beats the heartbeat at every step end (at most once a second: an ``os.utime``)."""

    def __init__(self, heartbeat: Heartbeat) -> None:
        self.heartbeat = heartbeat

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.heartbeat.beat()


class FaultCallback(TrainerCallback):
    """Fires ``SYLLO_FAULT`` faults (tests and drills only; nothing happens without it)."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        faults.at_train_begin()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        faults.at_step_end(state.global_step)
