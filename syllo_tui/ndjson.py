"""NDJSON framing: bytes in arbitrary pieces become events (no UI import, no torch).

What a reader knows about events is only this: one JSON object a line, with a
string ``type``. Anything else is a *malformed* line: skipped, never raised,
counted per reason (see ``MALFORMED_REASONS``). Blank lines are not events and
not errors: they are skipped without being counted. ``ReadResult`` and
``EventSource`` are what every source (a file, a pipe, an SSH connection)
hands the monitor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

Event = dict[str, Any]

#: Why a line was skipped. ``too_long``: longer than ``max_line_bytes`` (the
#: reader drops it rather than hold unbounded memory for a line with no end).
MALFORMED_REASONS: tuple[str, ...] = ("bad_json", "not_utf8", "not_object", "no_type", "too_long")

#: A line longer than this is skipped as ``too_long``. Real events are capped
#: (texts at a few thousand characters) and stay far below it.
DEFAULT_MAX_LINE_BYTES = 64 << 20


def decode_line(line: bytes) -> tuple[Event | None, str | None]:
    """Parse one line (without its ``\\n``): (event, None), (None, reason) or (None, None) if blank."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        if not line.strip(b" \t\r"):
            return None, None
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return None, "not_utf8"
        return None, "bad_json"
    if not isinstance(obj, dict):
        return None, "not_object"
    if not isinstance(obj.get("type"), str):
        return None, "no_type"
    return obj, None


class LineParser:
    """Turns a byte stream, fed in arbitrary pieces, into events.

    A line is only parsed once its ``\\n`` has arrived; the bytes after the last
    newline are held back (``tail_len`` of them) until the next feed.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.malformed_by_reason: dict[str, int] = dict.fromkeys(MALFORMED_REASONS, 0)
        self.malformed_total = 0
        self._pending = bytearray()
        self._skipping = False  # inside a too-long line: drop bytes up to its newline
        self.tail_len = 0  # bytes fed since the last newline (held or dropped)

    def reset(self) -> None:
        """Forget the held-back partial line (counts are kept: they are totals)."""
        self._pending.clear()
        self._skipping = False
        self.tail_len = 0

    def count(self, reason: str) -> None:
        self.malformed_by_reason[reason] += 1
        self.malformed_total += 1

    def parse_line(self, line: bytes) -> Event | None:
        """Parse one complete line, counting it if malformed."""
        if len(line) > self.max_line_bytes:
            self.count("too_long")
            return None
        event, reason = decode_line(line)
        if reason is not None:
            self.count(reason)
        return event

    def _hold(self, data: bytes) -> None:
        self.tail_len += len(data)
        if self._skipping:
            return
        self._pending += data
        if len(self._pending) > self.max_line_bytes:
            # Counted now, once; the rest of the line is dropped as it arrives.
            self.count("too_long")
            self._pending = bytearray()
            self._skipping = True

    def feed(self, data: bytes) -> list[Event]:
        """Add bytes; return the events of the lines they complete, in order."""
        out: list[Event] = []
        start = 0
        if self.tail_len:
            first = data.find(b"\n")
            if first < 0:
                self._hold(data)
                return out
            if not self._skipping:
                self._pending += data[:first]
                event = self.parse_line(bytes(self._pending))
                if event is not None:
                    out.append(event)
            self.reset()
            start = first + 1
        last = data.rfind(b"\n")
        if last >= start:
            for line in data[start:last].split(b"\n"):
                event = self.parse_line(line)
                if event is not None:
                    out.append(event)
            start = last + 1
        if start < len(data):
            self._hold(data[start:])
        return out

    def flush(self) -> list[Event]:
        """Parse the held-back line as complete (only at the end of a stream that cannot grow)."""
        pending, skipping = bytes(self._pending), self._skipping
        self.reset()
        if skipping or not pending:
            return []
        event = self.parse_line(pending)
        return [] if event is None else [event]


@dataclass
class ReadResult:
    """What one ``poll()`` found."""

    events: list[Event] = field(default_factory=list)  # complete, valid events, in file order
    reset: bool = (
        False  # file truncated/replaced: clear state, *then* apply ``events`` (from the new file)
    )
    malformed: int = 0  # malformed lines skipped in this poll
    more: bool = False  # more bytes were already waiting: poll again without sleeping
    eof: bool = False  # stdin only: the stream ended and every event has been returned
    notes: list[str] = field(default_factory=list)  # what the source itself reports (a
    # remote connection lost, or back): lines for the event log


class ParsedCounts:
    """The malformed-line counts of a source that reads through its ``_parser`` (a LineParser).

    Every reader of events (a file, its history, a pipe, ssh) reports them the same way:
    the parser's own running totals.
    """

    _parser: LineParser

    @property
    def malformed_total(self) -> int:
        return self._parser.malformed_total

    @property
    def malformed_by_reason(self) -> dict[str, int]:
        return self._parser.malformed_by_reason


class EventSource(Protocol):
    """What the TUI needs from a source: ``EventTail``, ``StdinTail`` and ``RemoteTail`` provide it."""

    @property
    def malformed_total(self) -> int: ...

    @property
    def malformed_by_reason(self) -> dict[str, int]: ...

    def poll(self, max_bytes: int = ...) -> ReadResult: ...

    def close(self) -> None: ...
