"""The trainer's heartbeat: a file in ``output.dir`` whose mtime says "still making progress".

The trainer beats at every step end and between eval generations; the
supervisor (and ``syllo-train status``) treat a heartbeat and an events file
that both stand still for ``stall_timeout_s`` as a hung trainer. A beat is an
``os.utime`` at most once a second, so it costs nothing next to a step.
Pure: stdlib only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

HEARTBEAT_NAME = "heartbeat"


class Heartbeat:
    """Touches ``<out_dir>/heartbeat``, at most once per ``min_interval_s``."""

    def __init__(
        self, out_dir: str | os.PathLike[str], *, enabled: bool = True, min_interval_s: float = 1.0
    ) -> None:
        self.path = Path(out_dir) / HEARTBEAT_NAME
        self.enabled = enabled
        self.min_interval_s = min_interval_s
        self._last = float("-inf")
        self.failed: OSError | None = None  # the last error, kept for a post-mortem

    def beat(self) -> None:
        """Mark progress now (cheap; a failure is kept, never raised into training)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.min_interval_s:
            return
        self._last = now
        try:
            try:
                os.utime(self.path)
            except FileNotFoundError:
                self.path.touch()
        except OSError as exc:
            # A full or read-only disk must not stop training; the supervisor
            # still sees the events file, and status reports the stale beat.
            self.failed = exc


def beaten_since(out_dir: str | os.PathLike[str], since: float) -> bool:
    """Has the heartbeat been beaten at or after ``since`` (Unix seconds)?

    The one rule for "the trainer is past its start": a trainer's first beat
    comes at the end of its first step, so until then (loading the model and a
    checkpoint, building the Trainer, a first step that compiles) a supervisor
    and ``status`` allow the start timeout, not the stall timeout.
    """
    beat = last_beat(out_dir)
    return beat is not None and beat >= since


def last_beat(out_dir: str | os.PathLike[str]) -> float | None:
    """The heartbeat's mtime (Unix seconds), or None when there is none."""
    try:
        return (Path(out_dir) / HEARTBEAT_NAME).stat().st_mtime
    except OSError:
        return None
