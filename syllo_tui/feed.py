"""One run's events in: batches from the follower, and the cold-open state swapped for the history.

No Textual import; the app only moves batches and results between threads.
A cold open shows the file's tail at once (``Batch.cold``) and hands back a
``HistoryJob``: the caller folds it on a worker thread (``Feed.fold``) and
gives the result back on the UI thread (``Feed.history_folded``). Meanwhile
the live events are kept, and replayed onto the folded history before it
replaces the cold-open state, so no event is lost or counted twice. A reset
(the file truncated or replaced) forgets everything, a fold in flight too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from syllo_tui.browse import Browser
from syllo_tui.follower import Batch, fold_history
from syllo_tui.prompts import PromptCursor
from syllo_tui.state import DEFAULT_STALE_AFTER_S, RunState
from syllo_tui.stream import History

#: Live events kept for replay onto the history state when it is ready; past
#: this the history is not merged (the screen keeps the cold-open state).
MAX_REPLAY_EVENTS = 10_000


@dataclass(frozen=True)
class HistoryJob:
    """The part of the file before the cold-open window, to fold on a worker thread."""

    history: History
    token: int


@dataclass(frozen=True)
class FoldResult:
    """A folded history (None when cancelled or failed, with ``error`` saying why it failed)."""

    state: RunState | None
    token: int
    error: str | None = None


class Feed:
    """The state of one run as batches arrive, and what the user selected in it."""

    def __init__(
        self,
        *,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.state = RunState(stale_after_s=stale_after_s)
        self.browser = Browser()
        self.prompt_cursor = PromptCursor()  # the history view's prompt and round
        self.anomaly_step: int | None = None  # the batch view's anomaly (None: the newest)
        self.history_pending = False  # a history fold is running
        self.source_note: str | None = None  # the source's error, or "input ended"
        self.source_ended = False
        self._token = 0  # bumped whenever a running fold must be abandoned
        self._replay: list[dict[str, Any]] | None = None
        self._malformed_after_cold = 0

    # -- batches in (UI thread) ----------------------------------------------------

    def take(self, batch: Batch) -> HistoryJob | None:
        """Fold one batch; a cold open's batch returns the history to fold in the background."""
        result = batch.result
        if batch.error is not None:
            self.source_note = batch.error
            self.state.warn(f"source: {batch.error}", batch.error, self.clock())
        if result.reset:
            self.start_over()
        for note in result.notes:
            self.state.notice("source", note, self.clock())
        self.apply(result.events)
        self.state.note_malformed(result.malformed)
        if batch.cold:
            return self._start_history(batch.history) if batch.history is not None else None
        if result.events and self._replay is not None:
            if len(self._replay) + len(result.events) > MAX_REPLAY_EVENTS:
                self.cancel()
                self.state.warn(
                    "history",
                    "too many new events to merge the file's history; showing recent history only",
                )
            else:
                self._replay.extend(result.events)
        self._malformed_after_cold += result.malformed
        if result.eof:
            self.source_ended = True
            self.source_note = "input ended"
        return None

    def apply(self, events: list[dict[str, Any]], state: RunState | None = None) -> None:
        """Fold events into ``state`` (default: the shown one); a fold bug becomes a warning."""
        state = self.state if state is None else state
        for event in events:
            try:
                state.apply(event)
            except Exception as exc:  # a bug must not take the monitor down: say so on screen
                state.warn(
                    f"bug {type(exc).__name__}",
                    f"could not show an event ({type(exc).__name__}: {exc}); please report it",
                    self.clock(),
                )

    def start_over(self) -> None:
        """The file was truncated or replaced: forget the old run."""
        self.state = RunState(stale_after_s=self.stale_after_s)
        self.cancel()
        self._malformed_after_cold = 0
        self.browser = Browser()
        self.prompt_cursor = PromptCursor()
        self.anomaly_step = None
        self.source_note = None

    def open_history(self) -> None:
        """Point the history view at the eval prompt shown, at its round when paused."""
        example = self.browser.current_example(self.state)
        sample = example.sample if example is not None else None
        paused = not self.browser.following
        step = example.step if example is not None and paused else None
        self.prompt_cursor.open_at(self.state.prompts, sample, step)

    def cancel(self) -> None:
        """Abandon a history fold in flight (its result will be ignored)."""
        self._token += 1
        self.history_pending = False
        self._replay = None

    # -- the history (worker thread, then UI thread) ---------------------------------

    def _start_history(self, history: History) -> HistoryJob:
        self._token += 1
        self.history_pending = True
        self._replay = []
        self._malformed_after_cold = 0
        return HistoryJob(history, self._token)

    def fold(self, job: HistoryJob) -> FoldResult:
        """Fold the job's history into a new state (worker thread; reads no shared state but the token)."""
        try:
            state = fold_history(
                job.history,
                stale_after_s=self.stale_after_s,
                cancelled=lambda: job.token != self._token,
            )
            return FoldResult(state, job.token)
        except Exception as exc:  # the cold-open state stays; tell the user why
            return FoldResult(None, job.token, error=f"{type(exc).__name__}: {exc}")

    def history_folded(self, result: FoldResult) -> bool:
        """Swap in the folded history with the live events replayed; False if it was abandoned."""
        if result.token != self._token:
            return False  # started over since: this history is of another file
        self.history_pending = False
        replay, self._replay = self._replay, None
        if result.state is None or replay is None:
            if result.error:
                self.state.warn("history", f"could not read the file's history: {result.error}")
            return True
        old, new = self.state, result.state
        self.apply(replay, new)
        new.malformed += self._malformed_after_cold
        for text in old.warnings:  # e.g. a source error seen meanwhile
            new.warn(text, text)
        self.state = new
        self.browser.remap(old, new)
        return True
