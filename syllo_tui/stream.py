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
thread never disturbs the follower's position. Line framing lives in
``syllo_tui.ndjson``, reading from the end in ``syllo_tui.backward``, the pipe
in ``syllo_tui.pipe``; this module follows a file and re-exports the reading API.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from syllo_tui import backward
from syllo_tui.backward import Tail, last_line_end, read_tail, read_tail_fd
from syllo_tui.ndjson import (
    DEFAULT_MAX_LINE_BYTES,
    MALFORMED_REASONS,
    Event,
    EventSource,
    LineParser,
    ParsedCounts,
    ReadResult,
)
from syllo_tui.pipe import StdinTail
from syllo_tui.remote import RemoteTail, SshOptions, parse_remote

# The reading API in one place: the names below live in the modules that hold
# one job each (ndjson: framing; backward: reading from the end; pipe: stdin).
__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "MALFORMED_REASONS",
    "EventSource",
    "EventTail",
    "History",
    "ReadResult",
    "RemoteTail",
    "StdinTail",
    "Tail",
    "iter_history",
    "open_source",
    "read_tail",
]

# Bytes remembered just before the follow offset: if they change, the file was
# rewritten under us (truncated and regrown past our offset between two polls).
_MARK_BYTES = 32


class EventTail(ParsedCounts):
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
        self._parser = LineParser(max_line_bytes)
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
                self._position(last_line_end(fd, os.fstat(fd).st_size))
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
        tail = read_tail_fd(
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


class History(ParsedCounts):
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
        self._parser = LineParser(max_line_bytes)
        self.offset = 0  # bytes read so far

    def __iter__(self) -> Iterator[list[Event]]:
        fd, end = self._fd, self.end_offset or 0
        if fd is None:
            return
        try:
            batch: list[Event] = []
            while self.offset < end:
                data = os.pread(fd, min(backward.BLOCK_SIZE, end - self.offset), self.offset)
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


def open_source(
    spec: str | os.PathLike[str],
    *,
    start: Literal["begin", "end"] | int = "begin",
    ssh: SshOptions | None = None,
) -> EventTail | StdinTail | RemoteTail:
    """``"-"``: a StdinTail over ``sys.stdin.buffer``; ``HOST:PATH`` (a string that names no
    local file, see ``remote.parse_remote``): a RemoteTail over ssh; anything else: an
    EventTail on that path."""
    if str(spec) == "-":
        return StdinTail()
    remote = parse_remote(spec) if isinstance(spec, str) else None
    if remote is not None:
        return RemoteTail(remote, ssh)
    return EventTail(spec, start=start)
