"""One place that turns a training fact into every output: event, snapshot, human log.

``Reporter.emit`` appends the event to ``events.jsonl`` (the source of truth,
through ``events.EventWriter``) and hands the written event to each sink
(``sinks.Sink``): the status snapshot, replaced on every event, and the human
log. It is thread-safe: the stall watchdog reports from its own thread while
the training thread is stuck. On non-main ranks it is built disabled: one
writer per run.

``Reporter.continuing`` opens the stream of a trainer that cannot write any
more (dead, hung, never started): the supervisor and ``stop --now`` append
their ``error`` / ``run_end`` through it, with the last event's run id, step
and counters, so there is one writer of the contract.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from syllo_train.events import (
    EVENTS_FILE,
    HUMAN_LOG_FILE,
    SNAPSHOT_FILE,
    Counters,
    EventWriter,
    read_last_events,
)
from syllo_train.inert import print_inert
from syllo_train.sinks import Sink
from syllo_train.sinks.humanlog import HumanLog
from syllo_train.sinks.snapshot import DURABLE_ON, SnapshotFile, read_snapshot


class Reporter:
    """Writes each event to events.jsonl, then fans it out to the snapshot and the human log."""

    def __init__(
        self,
        out_dir: str | Path,
        *,
        run_id: str | None = None,
        max_text_chars: int = 4000,
        echo: TextIO | None = None,
        enabled: bool = True,
        strict: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self.writer = EventWriter(
            self.out_dir / EVENTS_FILE,
            run_id,
            max_text_chars=max_text_chars,
            enabled=enabled,
            strict=strict,
        )
        self.snapshot = SnapshotFile(self.out_dir / SNAPSHOT_FILE)
        self.human = HumanLog(
            self.out_dir / HUMAN_LOG_FILE if enabled else None, echo if enabled else None
        )
        self.sinks: list[Sink] = [self.snapshot, self.human] if enabled else []
        self._lock = threading.RLock()
        self.last_event: dict[str, Any] | None = None

    @classmethod
    def continuing(cls, out_dir: str | Path) -> Reporter:
        """A reporter that continues an existing stream: its run id, counters and snapshot."""
        out_dir = Path(out_dir)
        tail = read_last_events(out_dir / EVENTS_FILE)
        last = tail[-1] if tail else {}
        reporter = cls(out_dir, run_id=last.get("run_id"))
        reporter.last_event = last or None
        counted = next((e for e in reversed(tail) if isinstance(e.get("counters"), dict)), None)
        if counted:
            reporter.writer.counters = Counters.from_dict(counted["counters"])
        try:
            reporter.snapshot.data.update(read_snapshot(out_dir / SNAPSHOT_FILE))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            # A damaged snapshot is rebuilt from the events to come; say so rather than hide it.
            print_inert(f"syllo-train: {exc}; rewriting it")
        return reporter

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
            if etype in DURABLE_ON:
                self.writer.fsync()  # the events before the snapshot that says they happened
            for sink in self.sinks:
                sink.apply(event)
            return event

    def note(self, text: str) -> None:
        """A line for the human log only (warnings, skipped records, …)."""
        if self.enabled:
            self.human.write(text)

    def close(self) -> None:
        self.writer.close()
        for sink in self.sinks:
            sink.close()


def append_events(
    out_dir: str | Path, events: Sequence[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Append events for a trainer that cannot write them itself (see ``Reporter.continuing``).

    Each is ``(type, fields)``; a ``step`` in the fields overrides the last event's.
    """
    reporter = Reporter.continuing(out_dir)
    try:
        last = reporter.last_event or {}
        step = int(last.get("step") or 0)
        return [
            reporter.emit(etype, int(fields.pop("step", step)), **fields)
            for etype, fields in events
        ]
    finally:
        reporter.close()


def record_end(
    out_dir: str | Path,
    status: str,
    reason: str,
    *,
    elapsed_s: float,
    error: tuple[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Append (``error`` and) ``run_end`` with ``status`` for a trainer that could not."""
    events: list[tuple[str, dict[str, Any]]] = []
    if error:
        events.append(("error", {"error_type": error[0], "message": error[1], "traceback": None}))
    events.append(
        ("run_end", {"status": status, "reason": reason, "elapsed_s": round(elapsed_s, 3)})
    )
    return append_events(out_dir, events)
