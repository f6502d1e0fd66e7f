"""Incremental reading of the NDJSON event stream (no UI import, no torch).

The file is the interface between the trainer and its readers, so this module
has to cope with everything a file can do while it is being read: grow a line
at a time or half a line at a time, hold garbage, be truncated, be replaced
(write a temp file, rename over), not exist yet, or be 1 GB long.

What it knows about events is only this: one JSON object a line, with a string
``type``. Anything else is a *malformed* line: skipped, never raised, counted
per reason (see ``MALFORMED_REASONS``). Blank lines are not events and not
errors: they are skipped without being counted.

Typical use by the TUI::

    src = open_source(spec)                      # EventTail, or StdinTail for "-"
    if isinstance(src, EventTail):
        state_events = src.seek_tail(want_types={"run_start", "log", "eval"})
        history = src.history()                  # iterate in a worker thread
    while running:
        res = src.poll()
        if res.reset:
            clear_state()                        # file truncated or replaced
        apply(res.events)

Reading is done with ``os.pread`` on a file descriptor, in bounded blocks, so
memory stays bounded whatever the file size, and a history reader in another
thread never disturbs the follower's position.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple, Protocol

import orjson

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "MALFORMED_REASONS",
    "EventSource",
    "EventTail",
    "History",
    "ReadResult",
    "StdinTail",
    "Tail",
    "iter_history",
    "open_source",
    "read_tail",
]

Event = dict[str, Any]

#: Why a line was skipped. ``too_long``: longer than ``max_line_bytes`` (the
#: reader drops it rather than hold unbounded memory for a line with no end).
MALFORMED_REASONS: tuple[str, ...] = ("bad_json", "not_utf8", "not_object", "no_type", "too_long")

#: A line longer than this is skipped as ``too_long``. Real events are capped
#: (texts at a few thousand characters) and stay far below it.
DEFAULT_MAX_LINE_BYTES = 64 << 20

#: Block size for reading backwards and for history. Module-level so that tests
#: can shrink it to put block edges inside lines.
BLOCK_SIZE = 1 << 20

# Bytes remembered just before the follow offset: if they change, the file was
# rewritten under us (truncated and regrown past our offset between two polls).
_MARK_BYTES = 32


def _decode(line: bytes) -> tuple[Event | None, str | None]:
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


class _LineParser:
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
        event, reason = _decode(line)
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


class Tail(NamedTuple):
    """Result of ``read_tail``: unpacks as ``events, end_offset = read_tail(...)``."""

    events: list[Event]  # in file order
    end_offset: int  # end of the last complete line: follow from here


class EventSource(Protocol):
    """What the TUI needs from a source: ``EventTail`` and ``StdinTail`` both provide it."""

    @property
    def malformed_total(self) -> int: ...

    @property
    def malformed_by_reason(self) -> dict[str, int]: ...

    def poll(self, max_bytes: int = ...) -> ReadResult: ...

    def close(self) -> None: ...


def _pread_exact(fd: int, n: int, offset: int) -> bytes:
    # pread may return short on some file systems; loop until n or EOF.
    data = os.pread(fd, n, offset)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = os.pread(fd, n - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _last_line_end(fd: int, size: int) -> int:
    """Offset just after the last ``\\n`` before ``size`` (0 if there is none)."""
    pos = size
    while pos > 0:
        n = min(BLOCK_SIZE, pos)
        pos -= n
        i = _pread_exact(fd, n, pos).rfind(b"\n")
        if i >= 0:
            return pos + i + 1
    return 0


def _line_at(fd: int, p: int, hi: int, max_line_bytes: int) -> tuple[int, bytes | None]:
    """The line containing offset ``p`` (which lies before the line boundary ``hi``).

    Returns (start offset, line without ``\\n``), or (start, None) if the line
    is too long to load.
    """
    step = 64 << 10
    start = p
    while start > 0:
        n = min(step, start)
        i = _pread_exact(fd, n, start - n).rfind(b"\n")
        if i >= 0:
            start = start - n + i + 1
            break
        start -= n
    end = p
    while end < hi:
        chunk = _pread_exact(fd, min(step, hi - end), end)
        i = chunk.find(b"\n")
        if i >= 0:
            end += i
            break
        if not chunk:  # file shrank under us
            return start, None
        end += len(chunk)
    if end - start > max_line_bytes:
        return start, None
    return start, _pread_exact(fd, end - start, start)


def _scan_types(
    fd: int, hi: int, names: set[str], scan_bytes: int | None, max_line_bytes: int
) -> list[tuple[int, Event]]:
    """Find the last event of each type in ``names`` within ``[0, hi)`` by byte search.

    Only lines that contain the JSON-encoded type name (``"run_start"``) are
    parsed, so this runs at memory speed over a huge file. A type name written
    with ``\\u`` escapes would be missed; no sane writer does that.
    """
    needles = {name: orjson.dumps(name) for name in names}
    below = dict.fromkeys(names, hi)  # only hits starting before this are still unexamined
    overlap = max(len(n) for n in needles.values()) - 1
    block_size = max(BLOCK_SIZE, 4 * (overlap + 1))
    floor = 0 if scan_bytes is None else max(0, hi - scan_bytes)
    found: list[tuple[int, Event]] = []
    end = hi
    while needles and end > floor:
        start = max(floor, end - block_size)
        block = _pread_exact(fd, end - start, start)
        for name, needle in list(needles.items()):
            while True:
                stop = min(len(block), below[name] - start + len(needle) - 1)
                p = block.rfind(needle, 0, stop) if stop >= len(needle) else -1
                if p < 0:
                    break
                line_start, line = _line_at(fd, start + p, hi, max_line_bytes)
                event = _decode(line)[0] if line is not None else None
                if event is not None and event["type"] == name:
                    found.append((line_start, event))
                    del needles[name]
                    break
                below[name] = line_start  # the rest of that line is not an event of this type
        if start == floor:
            break
        end = start + overlap  # overlap so a name cut by the block edge is still seen
    return found


def _read_tail_fd(
    fd: int,
    size: int,
    parser: _LineParser,
    *,
    want_types: Iterable[str] | None,
    max_events: int,
    max_bytes: int,
    scan_bytes: int | None,
) -> Tail:
    """Read backwards from ``size``; see ``read_tail``."""
    end = _last_line_end(fd, size)
    missing = set(want_types or ())
    found: list[tuple[int, Event]] = []  # newest first
    boundary = end  # start of the earliest line handled so far
    pos = end  # bytes [pos, end) have been read
    carry = b""  # bytes [pos, pos + len(carry)): the end of a line that starts before pos
    dropping = False  # carry grew past max_line_bytes and was dropped
    read = 0
    while len(found) < max_events and pos > 0 and read < max_bytes:
        n = min(BLOCK_SIZE, pos, max_bytes - read)
        pos -= n
        read += n
        data = _pread_exact(fd, n, pos) + carry
        if dropping:
            # Inside a too-long line: it starts after the block's last newline.
            last = data.rfind(b"\n")
            if last < 0 and pos > 0:
                continue
            parser.count("too_long")
            dropping = False
            boundary = pos + last + 1
            data = data[: last + 1]
        first = data.find(b"\n") if pos > 0 else -1
        if pos > 0 and first < 0:
            carry = data
            if len(carry) > parser.max_line_bytes:
                carry, dropping = b"", True
            continue
        body = data[first + 1 :]
        carry = data[: first + 1]
        off_end = pos + len(data)
        for line in reversed(body.split(b"\n")[:-1]):
            off_end -= len(line) + 1
            boundary = off_end
            event = parser.parse_line(line)
            if event is not None:
                found.append((off_end, event))
                missing.discard(event["type"])
                if len(found) >= max_events:
                    break
    if missing and boundary > 0:
        found += _scan_types(fd, boundary, missing, scan_bytes, parser.max_line_bytes)
    found.sort(key=lambda item: item[0])
    return Tail([event for _, event in found], end)


class EventTail:
    """Follows a growing NDJSON file; ``poll()`` returns what is new, never blocks.

    ``start`` says where to begin if the file exists now: ``"begin"`` (offset
    0), ``"end"`` (after its last complete line), or an offset returned by
    ``read_tail`` (if the file no longer matches it, the first poll resets).
    A file that appears later, and any file that replaces it, is read from its
    beginning. The file may not exist yet: ``poll()`` returns nothing until it
    does.

    Truncation (size below our offset), replacement (another inode at the
    path) and a rewrite under our offset are noticed at the next poll, which
    then reads the new content from the beginning with ``reset=True``.
    Deleting the path alone is not a reset: what remains in the open file is
    still read.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        start: Literal["begin", "end"] | int = "begin",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        if not (start in ("begin", "end") or (isinstance(start, int) and start >= 0)):
            raise ValueError(f"start must be 'begin', 'end' or an offset >= 0, not {start!r}")
        self.path = Path(path)
        self.resets = 0  # how many times the file was truncated/replaced
        self._closed = False
        self._parser = _LineParser(max_line_bytes)
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self._read_off = 0  # bytes consumed, the held-back partial line included
        self._mark = b""  # the bytes just before self.offset, when last seen
        #: Offset at which following began: ``history()`` covers what lies before it.
        self.start_offset = 0
        # An offset from an earlier read of a file that is gone: the consumer
        # holds state from it, so the file that appears must come with a reset.
        self._reset_on_open = isinstance(start, int) and not isinstance(start, bool)
        if self._try_open():
            self._reset_on_open = False
            if start == "end":
                fd = self._fd_or_raise()
                self._position(_last_line_end(fd, os.fstat(fd).st_size))
            elif isinstance(start, int) and start > 0:
                # Checked at the first poll: the byte before a line start is a newline.
                self._read_off = self.start_offset = start
                self._mark = b"\n"

    # -- public -----------------------------------------------------------

    @property
    def offset(self) -> int:
        """End of the last complete line consumed: a safe offset to resume from."""
        return self._read_off - self._parser.tail_len

    @property
    def exists(self) -> bool:
        """Whether a file is open (it existed at some poll)."""
        return self._fd is not None

    @property
    def malformed_total(self) -> int:
        return self._parser.malformed_total

    @property
    def malformed_by_reason(self) -> dict[str, int]:
        return self._parser.malformed_by_reason

    def poll(self, max_bytes: int = 4 << 20) -> ReadResult:
        """Read up to ``max_bytes`` new bytes; return the events of the lines they complete.

        Raises OSError only for errors other than the file being absent
        (e.g. permission denied); the message names the path.
        """
        if self._closed:  # e.g. a follower thread's last poll racing the app's shutdown
            return ReadResult()
        reset = self._sync()
        if self._fd is None:
            return ReadResult(reset=reset)
        size = os.fstat(self._fd).st_size
        if size <= self._read_off:
            return ReadResult(reset=reset)
        before = self._parser.malformed_total
        old_offset = self.offset
        # Ask only for what is there: pread allocates the whole request up front.
        data = os.pread(self._fd, min(max_bytes, size - self._read_off), self._read_off)
        self._read_off += len(data)
        events = self._parser.feed(data)
        if self.offset != old_offset:
            self._remember_mark()
        return ReadResult(
            events=events,
            reset=reset,
            malformed=self._parser.malformed_total - before,
            more=self._read_off < size,
        )

    def seek_tail(
        self,
        *,
        want_types: Iterable[str] | None = None,
        max_events: int = 2000,
        max_bytes: int = 64 << 20,
        scan_bytes: int | None = None,
    ) -> list[Event]:
        """Jump to the end of the file, returning the events needed to rebuild its state.

        See ``read_tail`` for the arguments. Following then continues from
        the end; ``history()`` covers everything before it. Returns [] if the
        file does not exist yet (following will start at its beginning).
        """
        self._sync()
        if self._fd is None:
            return []
        size = os.fstat(self._fd).st_size
        tail = _read_tail_fd(
            self._fd,
            size,
            self._parser,
            want_types=want_types,
            max_events=max_events,
            max_bytes=max_bytes,
            scan_bytes=scan_bytes,
        )
        self._position(tail.end_offset)
        return tail.events

    def history(self, chunk_events: int = 5000) -> History:
        """Events before ``start_offset`` (where following began), for a background thread.

        The History reads its own duplicate of this file descriptor, so it
        stays on the same file even if the path is replaced meanwhile.
        """
        if self._fd is None or self.start_offset == 0:
            return History(None, end_offset=0, chunk_events=chunk_events)
        return History(
            os.dup(self._fd),
            end_offset=self.start_offset,
            chunk_events=chunk_events,
            max_line_bytes=self._parser.max_line_bytes,
        )

    def close(self) -> None:
        """Close the file; ``poll()`` returns nothing afterwards (it does not reopen)."""
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> EventTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------

    def _fd_or_raise(self) -> int:
        if self._fd is None:
            raise RuntimeError(f"{self.path}: not open")
        return self._fd

    def _try_open(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        st = os.fstat(fd)
        self._fd, self._ident = fd, (st.st_dev, st.st_ino)
        return True

    def _position(self, offset: int) -> None:
        self._parser.reset()
        self._read_off = self.start_offset = offset
        self._remember_mark()

    def _remember_mark(self) -> None:
        off = self.offset
        n = min(_MARK_BYTES, off)
        self._mark = os.pread(self._fd_or_raise(), n, off - n) if n else b""

    def _restart(self) -> None:
        self.resets += 1
        self._parser.reset()
        self._read_off = self.start_offset = 0
        self._mark = b""

    def _sync(self) -> bool:
        """Open the file if it appeared; notice replacement/truncation. True = reset."""
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if self._fd is None:
            if st is None or not self._try_open():
                return False
            if self._reset_on_open:
                self._reset_on_open = False
                self.resets += 1
                return True
            return False
        if st is not None and (st.st_dev, st.st_ino) != self._ident:
            # Replaced (renamed over, or deleted and recreated): read the new file.
            os.close(self._fd)
            self._fd = None
            self._restart()
            self._try_open()  # if it is gone again in between, wait for it
            return True
        size = os.fstat(self._fd).st_size
        off = self.offset
        if size < self._read_off or (
            self._mark and os.pread(self._fd, len(self._mark), off - len(self._mark)) != self._mark
        ):
            self._restart()
            return True
        return False


class History:
    """Iterates the complete events of ``[0, end_offset)`` of one file, in lists of ``chunk_events``.

    For filling sparklines in the background: reads 1 MB blocks through its
    own file descriptor (never the whole file), so it can run in a worker
    thread next to the follower. Iterable once; the descriptor is closed when
    iteration ends or on ``close()``. Malformed lines are counted in
    ``malformed_total`` / ``malformed_by_reason``. If the file shrinks
    meanwhile, iteration just ends early (the follower reports the reset).
    """

    def __init__(
        self,
        fd: int | None,
        *,
        end_offset: int | None = None,
        chunk_events: int = 5000,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        if chunk_events < 1:
            raise ValueError(f"chunk_events must be >= 1, not {chunk_events}")
        self._fd = fd
        self.end_offset = (
            end_offset if end_offset is not None or fd is None else os.fstat(fd).st_size
        )
        self.chunk_events = chunk_events
        self._parser = _LineParser(max_line_bytes)
        self.offset = 0  # bytes read so far

    @property
    def malformed_total(self) -> int:
        return self._parser.malformed_total

    @property
    def malformed_by_reason(self) -> dict[str, int]:
        return self._parser.malformed_by_reason

    def __iter__(self) -> Iterator[list[Event]]:
        fd, end = self._fd, self.end_offset or 0
        if fd is None:
            return
        try:
            batch: list[Event] = []
            while self.offset < end:
                data = os.pread(fd, min(BLOCK_SIZE, end - self.offset), self.offset)
                if not data:
                    break
                self.offset += len(data)
                for event in self._parser.feed(data):
                    batch.append(event)
                    if len(batch) >= self.chunk_events:
                        yield batch
                        batch = []
            if batch:
                yield batch
        finally:
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_tail(
    path: str | os.PathLike[str],
    *,
    want_types: Iterable[str] | None = None,
    max_events: int = 2000,
    max_bytes: int = 64 << 20,
    scan_bytes: int | None = None,
) -> Tail:
    """Read a file backwards from its end to rebuild the current state cheaply.

    Returns ``Tail(events, end_offset)``: the last ``max_events`` complete,
    valid events (fewer if ``max_bytes`` were read first), plus, for each type
    in ``want_types``, its most recent event if older than those, all in file
    order; and the end of the last complete line, to follow from
    (``EventTail(path, start=end_offset)``). A trailing partial line is left
    for the follower.

    Wanted types not met within those events are looked for further back by
    byte search (only lines containing ``"<type>"`` are parsed), over at most
    ``scan_bytes`` more bytes (None: up to the start of the file), which runs
    at memory speed even on a 1 GB file. Memory is bounded by the block size,
    the longest line and the events returned. Raises FileNotFoundError if the
    file does not exist.
    """
    with EventTail(path) as tail:
        if not tail.exists:
            raise FileNotFoundError(
                f"{path}: no such events file (is the trainer writing elsewhere?)"
            )
        events = tail.seek_tail(
            want_types=want_types, max_events=max_events, max_bytes=max_bytes, scan_bytes=scan_bytes
        )
        return Tail(events, tail.offset)


def iter_history(
    path: str | os.PathLike[str],
    *,
    end_offset: int | None = None,
    chunk_events: int = 5000,
) -> History:
    """Iterate the events of ``path`` before ``end_offset`` (default: its current size) in chunks.

    ``for events in iter_history(path, end_offset=end): ...`` — see ``History``.
    Raises FileNotFoundError if the file does not exist.
    """
    if chunk_events < 1:
        raise ValueError(f"chunk_events must be >= 1, not {chunk_events}")
    return History(os.open(path, os.O_RDONLY), end_offset=end_offset, chunk_events=chunk_events)


class StdinTail:
    """Same ``poll()`` as EventTail, over a pipe (stdin by default) read on a background thread.

    A stream cannot be truncated or re-read, so ``reset`` is always False and
    there is no tail-seeking: events arrive from the beginning. At end of
    stream an unterminated last line is complete (it can no longer grow) and
    is parsed, then ``eof`` is True. If reading fails, ``poll()`` raises that
    OSError once everything read before the failure has been returned.

    The reader thread is a daemon blocked in ``read``: ``close()`` stops
    delivery but cannot interrupt it; it ends with the stream or the process.
    """

    def __init__(
        self,
        stream: BinaryIO | None = None,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        chunk_bytes: int = 64 << 10,
    ) -> None:
        self.path = "-"
        self._stream = stream if stream is not None else sys.stdin.buffer
        self._parser = _LineParser(max_line_bytes)
        self._chunk_bytes = chunk_bytes
        # Bounded: if the UI falls behind, the writer of the pipe waits rather
        # than our memory growing.
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=256)
        self._error: OSError | ValueError | None = None
        self._ended = False  # the end-of-stream marker was taken from the queue
        self._closed = False
        self.eof = False
        self._thread = threading.Thread(target=self._run, name="syllo-stdin-reader", daemon=True)
        self._thread.start()

    @property
    def malformed_total(self) -> int:
        return self._parser.malformed_total

    @property
    def malformed_by_reason(self) -> dict[str, int]:
        return self._parser.malformed_by_reason

    def _run(self) -> None:
        read = getattr(self._stream, "read1", None) or self._stream.read
        try:
            while not self._closed:
                chunk = read(self._chunk_bytes)
                if not chunk:
                    break
                self._queue.put(chunk)
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            self._error = exc
        finally:
            self._queue.put(None)

    def poll(self, max_bytes: int = 4 << 20) -> ReadResult:
        """Return the events of the lines completed since the last poll; never blocks."""
        if self.eof or self._closed:
            return ReadResult(eof=self.eof)
        if self._ended:  # the failure comes after the data that preceded it
            self.eof = True
            raise OSError(f"reading events from stdin failed: {self._error}") from self._error
        chunks: list[bytes] = []
        got = 0
        while got < max_bytes:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._ended = True
                break
            chunks.append(item)
            got += len(item)
        before = self._parser.malformed_total
        events = self._parser.feed(b"".join(chunks))
        if self._ended and self._error is None:
            events += self._parser.flush()
            self.eof = True
        elif self._ended and not chunks:
            self.eof = True
            raise OSError(f"reading events from stdin failed: {self._error}") from self._error
        return ReadResult(
            events=events,
            malformed=self._parser.malformed_total - before,
            more=got >= max_bytes,
            eof=self.eof,
        )

    def close(self) -> None:
        """Stop delivering events (see the class note on the reader thread)."""
        self._closed = True

    def __enter__(self) -> StdinTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(
    spec: str | os.PathLike[str], *, start: Literal["begin", "end"] | int = "begin"
) -> EventTail | StdinTail:
    """``"-"``: a StdinTail over ``sys.stdin.buffer``; anything else: an EventTail on that path."""
    if str(spec) == "-":
        return StdinTail()
    return EventTail(spec, start=start)
