"""Where each event goes besides the events file: one small protocol, one job per sink.

``Reporter`` (reporter.py) writes an event to ``events.jsonl`` (the source of
truth, through ``events.EventWriter``) and hands the written event to every
sink: the status snapshot (snapshot.py) and the human log (humanlog.py). A
sink is anything with ``apply(event)`` and ``close()``; adding a field means
the contract (events.py, docs/events.md) and the folds, nothing else.
"""

from __future__ import annotations

from typing import Any, Protocol


class Sink(Protocol):
    """Receives every event the reporter wrote, in order."""

    def apply(self, event: dict[str, Any]) -> None:
        """Take in one event (never raise on I/O trouble: training must go on)."""

    def close(self) -> None:
        """Flush and let go of files."""
