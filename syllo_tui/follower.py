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

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syllo_tui.state import RunState
from syllo_tui.stream import EventSource, EventTail, History, ReadResult

#: Event types worth finding behind the cold-open window: they carry state
#: (model and total steps, the last checkpoint, the last eval, a resume) that
#: log events do not repeat.
TAIL_WANT_TYPES: Collection[str] = ("run_start", "checkpoint", "eval", "resume")

#: Events read backwards on a cold open: enough for the examples and the event
#: log around the current step.
TAIL_EVENTS = 2000

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
        poll_interval_s: float = 0.5,
        watch: bool = True,
    ) -> None:
        self.source = source
        self._deliver = deliver
        self.cold_open = cold_open
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
                events = source.seek_tail(want_types=TAIL_WANT_TYPES, max_events=TAIL_EVENTS)
                history = source.history() if events else None
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
            if result.events or result.reset or result.malformed or result.eof:
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
