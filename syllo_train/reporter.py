"""One place that turns a training fact into every output: event, snapshot, human log.

``Reporter.emit`` appends the event (the source of truth), folds it into the
status snapshot and the human log, and replaces the snapshot file on the
events a person checks for (log, eval, checkpoint, timeout, resume, run_end).
It is thread-safe: the stall watchdog reports from its own thread while the
training thread is stuck. On non-main ranks it is built disabled: one writer
per run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, TextIO

from syllo_train.events import Counters, EventWriter
from syllo_train.humanlog import HumanLog
from syllo_train.status import SNAPSHOT_NAME, StatusSnapshot

EVENTS_NAME = "events.jsonl"
HUMAN_LOG_NAME = "train.log"

_SNAPSHOT_ON = frozenset(
    {"run_start", "log", "eval", "timeout", "checkpoint", "resume", "run_end", "error"}
)
_DURABLE_ON = frozenset(
    {"checkpoint", "run_end"}
)  # worth an fsync: a person relies on these after a crash


class Reporter:
    """Fans each event out to events.jsonl, training_status.json and train.log."""

    def __init__(
        self,
        out_dir: str | Path,
        *,
        run_id: str | None = None,
        max_text_chars: int = 4000,
        echo: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self.writer = EventWriter(
            self.out_dir / EVENTS_NAME, run_id, max_text_chars=max_text_chars, enabled=enabled
        )
        self.snapshot = StatusSnapshot(self.out_dir / SNAPSHOT_NAME)
        self.human = HumanLog(
            self.out_dir / HUMAN_LOG_NAME if enabled else None, echo if enabled else None
        )
        self._lock = threading.RLock()
        self.last_event: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        return self.writer.run_id

    @property
    def counters(self) -> Counters:
        return self.writer.counters

    def emit(self, etype: str, step: int, **fields: Any) -> dict[str, Any]:
        with self._lock:
            event = self.writer.emit(etype, step, **fields)
            self.last_event = event
            if not self.enabled:
                return event
            self.snapshot.apply(event)
            if etype in _SNAPSHOT_ON:
                durable = etype in _DURABLE_ON
                if durable:
                    self.writer.fsync()
                self.snapshot.write(fsync=durable)
            self.human.apply(event)
            return event

    def note(self, text: str) -> None:
        """A line for the human log only (warnings, skipped records, …)."""
        if self.enabled:
            self.human.write(text)

    def close(self) -> None:
        self.writer.close()
        self.human.close()
