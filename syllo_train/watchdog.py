"""The stall watchdog: a generation stuck inside one forward pass, reported while it is stuck.

A per-token deadline (generation.py) cannot interrupt one forward pass that
itself hangs: a stuck kernel, a hung collective. Nothing in-process can stop
such a call safely, so :class:`StallWatchdog` makes it visible instead: one
daemon thread notices that an armed generation (one prompt, or one batch of
prompts) has run ``grace_s`` past its limit and calls ``on_stall`` from its
own thread, while the generation is still stuck, so the caller can put it on
disk before anything else happens. See ``docs/generation.md``.

Pure: the standard library only (and inert.py, for the one error message).
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from syllo_train.inert import print_inert

#: Default time a forward pass may run past its generation's limit before the
#: watchdog reports a stall (config key ``monitor.stall_grace_s``).
DEFAULT_GRACE_S = 5.0

#: How long a finished watch waits for its ``on_stall`` to return, so that a
#: stalled result is never handed back while the stall is still being recorded
#: (bounded: an ``on_stall`` stuck on a hung disk must not stop training).
REPORT_WAIT_S = 10.0


@dataclass(frozen=True)
class StallInfo:
    """What the watchdog knows about a generation that is stuck right now."""

    label: object  # the caller's label for the generation (a batch: the tuple of its rows' labels)
    limit_s: float  # the generation's time limit
    elapsed_s: float  # time since the generation started, when the stall was noticed
    tokens_so_far: int  # new tokens produced (by each row still running) before the stuck step
    rows: tuple[object, ...] = ()  # labels of the rows still generating: the ones stuck


class Watch:
    """One armed watch: a generation (one prompt or a batch) the watchdog keeps an eye on.

    The stopping criterion updates ``tokens`` and ``rows`` after every token,
    holding ``lock`` while it reads the clock and decides which rows are done
    (that is how the watchdog knows how far a stuck generation got and which
    rows of a batch are still running); ``stalled`` turns True, once, when the
    watchdog reports this generation, ``stalled_rows`` holds the rows it
    reported, and ``reported`` is set when its ``on_stall`` has returned.
    """

    def __init__(
        self,
        label: object,
        limit_s: float,
        grace_s: float,
        clock: Callable[[], float] = time.monotonic,
        rows: tuple[object, ...] | None = None,
    ) -> None:
        self.label = label
        self.limit_s = limit_s
        self.clock = clock
        self.start = clock()
        self.fire_at = self.start + limit_s + grace_s
        self.tokens = 0
        self.rows: tuple[object, ...] = (label,) if rows is None else rows
        self.stalled = False
        self.stalled_rows: tuple[object, ...] = ()
        self.reported = threading.Event()
        # The criterion's clock reading and row update, and the stall snapshot, are
        # taken under one lock: a row that finished in time is never reported stuck,
        # and a row reported stuck always ends timed out (its next check is late).
        self.lock = threading.Lock()

    def snapshot_stall(self) -> StallInfo:
        """Mark the watch stalled and describe it (the watchdog's thread, under the lock)."""
        with self.lock:
            self.stalled_rows = self.rows
            return StallInfo(
                self.label,
                self.limit_s,
                self.clock() - self.start,
                self.tokens,
                self.stalled_rows,
            )


class StallWatchdog:
    """A daemon thread that reports a generation stuck past ``limit_s + grace_s``.

    Arm it around one generation with ``with watchdog.watch(label, limit_s):``.
    If the block is still running ``grace_s`` after its limit, ``on_stall`` is
    called with a :class:`StallInfo` from the watchdog's own thread, while the
    block is still stuck, exactly once per watch; leaving a stalled block
    waits (up to REPORT_WAIT_S) for ``on_stall`` to return, so the caller sees
    a stalled result only once the stall is recorded. The watchdog cannot stop the
    stuck call (nothing in-process safely can); it makes the stall visible
    live. An exception raised by ``on_stall`` is printed to stderr and the
    thread carries on.

    Use ``start()``/``stop()`` or ``with StallWatchdog(...) as wd:``; ``watch``
    starts the thread if it is not running yet. ``clock`` is the time the
    limits are measured in (``time.monotonic``; tests pass a clock they move
    themselves, so a stall is a fact of the test, not of the machine's load);
    ``poll_s`` is real time.
    """

    def __init__(
        self,
        on_stall: Callable[[StallInfo], None],
        grace_s: float = DEFAULT_GRACE_S,
        poll_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if grace_s < 0:
            raise ValueError(
                f"StallWatchdog: grace_s must be >= 0 (monitor.stall_grace_s), got {grace_s}"
            )
        if poll_s <= 0:
            raise ValueError(f"StallWatchdog: poll_s must be > 0, got {poll_s}")
        self.on_stall = on_stall
        self.grace_s = grace_s
        self.poll_s = poll_s
        self.clock = clock
        self._cond = threading.Condition()
        self._watches: set[Watch] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> StallWatchdog:
        """Start the watchdog thread (no-op if it is running)."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="syllo-stall-watchdog", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and wait up to ``timeout_s`` for it (it is a daemon either way)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        # An on_stall stuck on a hung disk must not hang shutdown too: bounded join.
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    @property
    def running(self) -> bool:
        """True while the watchdog thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> StallWatchdog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def watch(
        self, label: object, limit_s: float, rows: tuple[object, ...] | None = None
    ) -> Iterator[Watch]:
        """Arm the watchdog around one generation limited to ``limit_s`` seconds.

        ``rows``: the labels of a batch's rows (default: the one row ``label``).
        """
        if not self.running:
            self.start()
        w = Watch(label, limit_s, self.grace_s, self.clock, rows)
        with self._cond:
            self._watches.add(w)
            self._cond.notify_all()
        try:
            yield w
        finally:
            with self._cond:
                self._watches.discard(w)
            if w.stalled:
                w.reported.wait(REPORT_WAIT_S)

    def _run(self) -> None:
        while True:
            due: list[Watch] = []
            with self._cond:
                if self._stopping:
                    return
                now = self.clock()
                pending = [w for w in self._watches if not w.stalled]
                for w in pending:
                    if now >= w.fire_at:
                        # Marked under the lock: fires once, and a watch that has
                        # already been disarmed can never fire.
                        w.stalled = True
                        due.append(w)
                if not due:
                    if pending:
                        next_fire = min(w.fire_at for w in pending)
                        self._cond.wait(min(self.poll_s, max(0.0, next_fire - now)))
                    else:
                        self._cond.wait()  # idle: sleep until a watch is armed
                    continue
            for w in due:  # outside the lock: on_stall may take its time (disk I/O)
                info = w.snapshot_stall()
                try:
                    self.on_stall(info)
                except Exception:
                    print_inert(
                        f"syllo: StallWatchdog on_stall failed for {info}:\n{traceback.format_exc()}"
                    )
                finally:
                    w.reported.set()
