"""Background threads that feed the monitor: follow the source, fold the history.

No Textual import: results go out through callbacks, which the app turns into
Messages. ``Follower`` polls an ``EventSource`` on its own thread; a file
watcher (watchfiles, on the file's folder) wakes it as soon as the file
changes, and a slow timer polls anyway (network file systems send no
notifications). It hands over one batch at a time and waits until the UI has
taken it (``ack``), so a fast writer can never pile up messages in the UI: the
unread bytes simply wait in the file.

``fold_history`` folds the part of a big file that the cold open skipped into
a fresh RunState, in a thread, so the sparklines fill in while the screen
already shows the current state.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syllo_train.events import decode_event
from syllo_tui.state import RunState
from syllo_tui.stream import EventSource, EventTail, History, ReadResult

#: Event types worth finding behind the cold-open window: they carry state
#: (the last checkpoint, the last eval) that log events do not repeat. The
#: run_start is read from the head of the file instead (``read_head_event``):
#: a backwards search for it would cross the whole file.
TAIL_WANT_TYPES: Collection[str] = ("checkpoint", "eval")

#: Events read backwards on a cold open: enough for the examples and the event
#: log around the current step.
TAIL_EVENTS = 2000

#: The cold-open window of each run when several are shown: enough for the
#: run list's columns; the run's history fills in the rest in the background.
LIST_TAIL_EVENTS = 200

#: How far behind the cold-open window to search for TAIL_WANT_TYPES; a
#: missing type (a run that never saved) must not cost a scan of 1 GB.
TAIL_SCAN_BYTES = 64 << 20

#: The first line of an events file longer than this is not looked at.
HEAD_BYTES = 1 << 20

#: Bytes per poll: one batch the UI folds in a few milliseconds.
POLL_BYTES = 512 << 10


@dataclass
class Batch:
    """What the follower hands to the UI."""

    result: ReadResult
    cold: bool = False  # the events of a cold open (read backwards from the end)
    history: History | None = None  # cold open only: what lies before those events
    error: str | None = None  # the source failed; the message says how


class Follower:
    """Polls ``source`` on a daemon thread and hands each batch to ``deliver``.

    ``deliver`` is called on the follower's thread; the consumer must call
    ``ack()`` once it has taken the batch (the follower waits for it).
    """

    def __init__(
        self,
        source: EventSource,
        deliver: Callable[[Batch], Any],
        *,
        cold_open: bool = True,
        cold_events: int | None = None,
        poll_interval_s: float = 0.5,
        watch: bool = True,
    ) -> None:
        self.source = source
        self._deliver = deliver
        self.cold_open = cold_open
        self.cold_events = TAIL_EVENTS if cold_events is None else cold_events
        self.poll_interval_s = poll_interval_s
        self.watch = watch
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._acked = threading.Event()
        self._thread = threading.Thread(target=self._run, name="syllo-follower", daemon=True)
        self._watcher: threading.Thread | None = None
        self.watch_error: str | None = None  # why change notifications are off, if they are

    def start(self) -> None:
        self._thread.start()
        path = getattr(self.source, "path", None)
        if self.watch and isinstance(self.source, EventTail) and path is not None:
            self._watcher = threading.Thread(
                target=self._watch, args=(Path(path),), name="syllo-watcher", daemon=True
            )
            self._watcher.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop both threads (they are daemons: a stuck read cannot keep the process alive)."""
        self._stop.set()
        self._wake.set()
        self._acked.set()
        for thread in (self._thread, self._watcher):
            if (
                thread is not None
                and thread.is_alive()
                and thread is not threading.current_thread()
            ):
                thread.join(timeout)

    def ack(self) -> None:
        """The UI took the last batch: the follower may read on."""
        self._acked.set()

    def wake(self) -> None:
        """Poll now (the file changed)."""
        self._wake.set()

    def _hand_over(self, batch: Batch) -> None:
        self._acked.clear()
        self._deliver(batch)
        while not self._stop.is_set() and not self._acked.wait(0.5):
            pass

    def _run(self) -> None:
        source = self.source
        if self.cold_open and isinstance(source, EventTail):
            try:
                before = source.malformed_total
                events = cold_open_events(source, max_events=self.cold_events)
                history = source.history() if source.start_offset > 0 else None
                self._hand_over(
                    Batch(
                        ReadResult(events=events, malformed=source.malformed_total - before),
                        cold=True,
                        history=history,
                    )
                )
            except OSError as exc:
                self._hand_over(Batch(ReadResult(), error=f"cannot read {source.path}: {exc}"))
        failing = False
        while not self._stop.is_set():
            try:
                result = source.poll(POLL_BYTES)
                failing = False
            except OSError as exc:
                # Report once per failure spell, then keep trying: a permission
                # fixed or a disk remounted brings the events back.
                if not failing:
                    self._hand_over(Batch(ReadResult(), error=str(exc)))
                failing = True
                if getattr(source, "eof", False):
                    return
                self._stop.wait(self.poll_interval_s)
                continue
            if result.events or result.reset or result.malformed or result.eof or result.notes:
                self._hand_over(Batch(result))
            if result.eof:
                return  # stdin ended: nothing more will come
            if result.more:
                continue
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()

    def _watch(self, path: Path) -> None:
        """Wake the follower on every change to ``path`` (watching its folder)."""
        from watchfiles import watch

        folder, name = path.parent, path.name
        while not self._stop.is_set() and not folder.is_dir():
            self._stop.wait(self.poll_interval_s)  # the folder may not exist yet
        if self._stop.is_set():
            return
        try:
            for _changes in watch(
                folder,
                watch_filter=lambda _change, changed: Path(changed).name == name,
                debounce=50,
                step=10,
                rust_timeout=500,
                stop_event=self._stop,
                recursive=False,
                raise_interrupt=False,
            ):
                self._wake.set()
        except Exception as exc:  # e.g. out of inotify watches: polling still works
            self.watch_error = (
                f"file notifications off ({exc}); polling every {self.poll_interval_s:g}s"
            )


def read_head_event(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The first line of ``path`` as an event, or None (missing, empty, not an event)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except FileNotFoundError:
        return None
    line, newline, _ = head.partition(b"\n")
    if not newline:
        return None  # no complete first line (yet)
    try:
        event = decode_event(line)
    except ValueError:
        return None  # counted as malformed by whoever reads the whole file
    return event if isinstance(event, dict) and isinstance(event.get("type"), str) else None


def cold_open_events(tail: EventTail, *, max_events: int = TAIL_EVENTS) -> list[dict[str, Any]]:
    """The events that rebuild the current state: the file's tail, plus its run_start.

    Moves ``tail`` to the end of the file (following continues from there).
    ``max_events`` is the window read backwards (the history covers the rest).
    """
    events = tail.seek_tail(
        want_types=TAIL_WANT_TYPES, max_events=max_events, scan_bytes=TAIL_SCAN_BYTES
    )
    if tail.start_offset > 0 and not any(e.get("type") == "run_start" for e in events):
        first = read_head_event(tail.path)
        if first is not None and first.get("type") == "run_start":
            events.insert(0, first)
    return events


def fold_history(
    history: History,
    *,
    stale_after_s: float,
    cancelled: Callable[[], bool],
) -> RunState | None:
    """Fold every event of ``history`` into a new RunState; None if cancelled meanwhile."""
    state = RunState(stale_after_s=stale_after_s)
    try:
        for events in history:
            if cancelled():
                return None
            state.apply_all(events)
    finally:
        history.close()
    state.malformed = history.malformed_total
    return state
