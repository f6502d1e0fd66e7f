"""Reading an events file from its end: the current state without reading 1 GB (no UI import).

``read_tail`` reads backwards in ``BLOCK_SIZE`` blocks with ``os.pread``, so
memory stays bounded whatever the file size; event types that the last
events do not include are found further back by byte search.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

import orjson

from syllo_tui.ndjson import DEFAULT_MAX_LINE_BYTES, Event, LineParser, decode_line

#: Block size for reading backwards and for history. Module-level so that tests
#: can shrink it to put block edges inside lines.
BLOCK_SIZE = 1 << 20


class Tail(NamedTuple):
    """Result of ``read_tail``: unpacks as ``events, end_offset = read_tail(...)``."""

    events: list[Event]  # in file order
    end_offset: int  # end of the last complete line: follow from here


def pread_exact(fd: int, n: int, offset: int) -> bytes:
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


def last_line_end(fd: int, size: int) -> int:
    """Offset just after the last ``\\n`` before ``size`` (0 if there is none)."""
    pos = size
    while pos > 0:
        n = min(BLOCK_SIZE, pos)
        pos -= n
        i = pread_exact(fd, n, pos).rfind(b"\n")
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
        i = pread_exact(fd, n, start - n).rfind(b"\n")
        if i >= 0:
            start = start - n + i + 1
            break
        start -= n
    end = p
    while end < hi:
        chunk = pread_exact(fd, min(step, hi - end), end)
        i = chunk.find(b"\n")
        if i >= 0:
            end += i
            break
        if not chunk:  # file shrank under us
            return start, None
        end += len(chunk)
    if end - start > max_line_bytes:
        return start, None
    return start, pread_exact(fd, end - start, start)


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
        block = pread_exact(fd, end - start, start)
        for name, needle in list(needles.items()):
            while True:
                stop = min(len(block), below[name] - start + len(needle) - 1)
                p = block.rfind(needle, 0, stop) if stop >= len(needle) else -1
                if p < 0:
                    break
                line_start, line = _line_at(fd, start + p, hi, max_line_bytes)
                event = decode_line(line)[0] if line is not None else None
                if event is not None and event["type"] == name:
                    found.append((line_start, event))
                    del needles[name]
                    break
                below[name] = line_start  # the rest of that line is not an event of this type
        if start == floor:
            break
        end = start + overlap  # overlap so a name cut by the block edge is still seen
    return found


def read_tail_fd(
    fd: int,
    size: int,
    parser: LineParser,
    *,
    want_types: Iterable[str] | None,
    max_events: int,
    max_bytes: int,
    scan_bytes: int | None,
) -> Tail:
    """Read backwards from ``size``; see ``read_tail``."""
    end = last_line_end(fd, size)
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
        data = pread_exact(fd, n, pos) + carry
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
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no such events file (is the trainer writing elsewhere?)"
        ) from None
    try:
        return read_tail_fd(
            fd,
            os.fstat(fd).st_size,
            LineParser(DEFAULT_MAX_LINE_BYTES),
            want_types=want_types,
            max_events=max_events,
            max_bytes=max_bytes,
            scan_bytes=scan_bytes,
        )
    finally:
        os.close(fd)
