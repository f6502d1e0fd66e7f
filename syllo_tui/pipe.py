"""Events from a pipe (``syllo-tui -``): the same ``poll()`` as a file, read on a thread."""

from __future__ import annotations

import queue
import sys
import threading
from typing import BinaryIO

from syllo_tui.ndjson import DEFAULT_MAX_LINE_BYTES, LineParser, ParsedCounts, ReadResult


class StdinTail(ParsedCounts):
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
        self._parser = LineParser(max_line_bytes)
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
