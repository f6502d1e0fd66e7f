"""The Textual app: wires the follower thread, the RunState and the widgets.

It stays thin: events are folded by ``RunState`` (state.py), files are read by
``syllo_tui.stream`` on the follower's thread (follower.py), and each widget
draws itself from the state. What lives here is the glue: batches arrive as
Messages, are folded, and the screen is redrawn at most every
``REDRAW_INTERVAL_S`` (a slow SSH link gets at most ten frames a second,
whatever the event rate); and the selection (following the newest example,
or paused on one the user stepped back to).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer

from syllo_tui.follower import Batch, Follower, fold_history
from syllo_tui.render import inert
from syllo_tui.state import DEFAULT_STALE_AFTER_S, EvalView, ExampleView, RunState
from syllo_tui.stream import EventSource, EventTail, History, open_source
from syllo_tui.widgets import (
    CountersPanel,
    EventLog,
    ExampleBar,
    HelpScreen,
    RunHeader,
    StatusBar,
    TextPane,
    Trends,
)
from syllo_tui.widgets.panes import pane_contents
from syllo_tui.widgets.statusbar import StatusInfo

#: Minimum time between two redraws while events stream in.
REDRAW_INTERVAL_S = 0.1

#: Live events kept for replay onto the history state when it is ready; past
#: this the history is not merged (the screen keeps the cold-open state).
MAX_REPLAY_EVENTS = 10_000


class EventsArrived(Message):
    """A batch from the follower thread."""

    def __init__(self, batch: Batch) -> None:
        super().__init__()
        self.batch = batch


class HistoryFolded(Message):
    """The background fold of the file's early part is done."""

    def __init__(self, state: RunState | None, token: int, error: str | None = None) -> None:
        super().__init__()
        self.state = state
        self.token = token
        self.error = error


@dataclass
class _Selection:
    """What the panes show when not following: an example (by seq) and an eval (by seq)."""

    example: int | None = None
    eval: int | None = None


class SylloApp(App[int]):
    """The live monitor. Build it with ``make_app``."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "syllo"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f,space", "toggle_follow", "follow / pause (keep reading, stop moving the panes)"),
        Binding("left,p", "prev_example", "previous example", priority=True),
        Binding("right,n", "next_example", "next example", priority=True),
        Binding("left_square_bracket", "prev_eval", "previous eval (its first sample)"),
        Binding("right_square_bracket", "next_eval", "next eval"),
        Binding("t", "toggle_think", "fold / unfold <think> blocks"),
        Binding("question_mark", "help", "this list of keys"),
        Binding("q", "quit", "quit"),
    ]

    following: reactive[bool] = reactive(True)
    fold_think: reactive[bool] = reactive(False)

    def __init__(
        self,
        source: EventSource,
        *,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        watch: bool = True,
        poll_interval_s: float = 0.5,
        cold_open: bool = True,
        tick_s: float = 1.0,
    ) -> None:
        # Textual alone turns NO_COLOR into shades of grey (still colour codes);
        # native ANSI mode makes it drop colours and keep bold/dim/reverse.
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        self.source = source
        self.clock = clock
        self.tz = tz
        self.stale_after_s = stale_after_s
        self.state = RunState(stale_after_s=stale_after_s)
        self.follower = Follower(
            source,
            self._from_follower,
            cold_open=cold_open,
            poll_interval_s=poll_interval_s,
            watch=watch,
        )
        self._tick_s = tick_s
        self._sel = _Selection()
        self._paused_at = 0  # state.applied when following was paused
        self._seen_restarts = 0  # state.restarts at the last redraw
        self._redraw_timer: Timer | None = None
        self._last_redraw = 0.0
        self._drawn_panes: tuple[Any, ...] | None = None
        self._drawn_log = -1
        self._drawn_trends = -1
        self.drawn_version = -1  # state.version at the last redraw (tests wait on it)
        self.source_note: str | None = None
        self.source_ended = False
        # Cold open: the history of the file folds in the background while the
        # live events after the cold-open window are kept to replay onto it.
        self._history_token = 0
        self.history_pending = False
        self._replay: list[dict[str, Any]] | None = None
        self._malformed_after_cold = 0

    # -- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield ExampleBar(id="example-bar")
        with Horizontal(id="panes"):
            yield TextPane(id="prompt")
            yield TextPane(id="golden")
            yield TextPane(id="model")
        with Horizontal(id="metrics"):
            yield Trends(id="trends")
            yield CountersPanel(id="counters")
        yield EventLog(id="events")
        yield StatusBar(id="status")

    def on_mount(self) -> None:
        self.query_one("#trends").border_title = "trends"
        self.query_one("#counters").border_title = "counters"
        self.query_one("#events").border_title = "events"
        self.query_one("#model", TextPane).focus()
        self.follower.start()
        self.set_interval(self._tick_s, self._redraw)  # ages and staleness move with the clock
        self._redraw()

    def on_resize(self) -> None:
        self.screen.set_class(self.size.height >= 36, "-tall")
        self.screen.set_class(self.size.width >= 120, "-wide")

    def on_unmount(self) -> None:
        self.follower.stop()
        self._history_token += 1  # a fold still running is abandoned
        self.source.close()

    # -- events in ------------------------------------------------------------------

    def _from_follower(self, batch: Batch) -> None:
        # On the follower's thread: post_message is thread-safe.
        self.post_message(EventsArrived(batch))

    def on_events_arrived(self, message: EventsArrived) -> None:
        batch = message.batch
        try:
            self._take(batch)
        finally:
            self.follower.ack()
        self._request_redraw()

    def _take(self, batch: Batch) -> None:
        result = batch.result
        if batch.error is not None:
            self.source_note = batch.error
            self.state.warn(f"source: {batch.error}", batch.error, self.clock())
        if result.reset:
            self._start_over()
        self._apply(result.events)
        self.state.note_malformed(result.malformed)
        if batch.cold:
            if batch.history is not None:
                self._fold_history(batch.history)
            return
        if result.events and self._replay is not None:
            if len(self._replay) + len(result.events) > MAX_REPLAY_EVENTS:
                self._replay = None
                self._history_token += 1
                self.history_pending = False
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

    def _apply(self, events: list[dict[str, Any]], state: RunState | None = None) -> None:
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

    def _start_over(self) -> None:
        """The file was truncated or replaced: forget the old run."""
        self.state = RunState(stale_after_s=self.stale_after_s)
        self._history_token += 1
        self.history_pending = False
        self._replay = None
        self._malformed_after_cold = 0
        self._sel = _Selection()
        self.following = True
        self._paused_at = 0
        self._seen_restarts = 0
        self.source_note = None

    def _fold_history(self, history: History) -> None:
        self._history_token += 1
        token = self._history_token
        self.history_pending = True
        self._replay = []
        self._malformed_after_cold = 0

        def run() -> None:
            try:
                state = fold_history(
                    history,
                    stale_after_s=self.stale_after_s,
                    cancelled=lambda: token != self._history_token,
                )
                self.post_message(HistoryFolded(state, token))
            except Exception as exc:  # the cold-open state stays; tell the user why
                self.post_message(HistoryFolded(None, token, error=f"{type(exc).__name__}: {exc}"))

        threading.Thread(target=run, name="syllo-history", daemon=True).start()

    def on_history_folded(self, message: HistoryFolded) -> None:
        if message.token != self._history_token:
            return  # started over since: this history is of another file
        self.history_pending = False
        replay, self._replay = self._replay, None
        if message.state is None or replay is None:
            if message.error:
                self.state.warn("history", f"could not read the file's history: {message.error}")
            self._request_redraw()
            return
        old = self.state
        new = message.state
        self._apply(replay, new)
        new.malformed += self._malformed_after_cold
        for text in old.warnings:  # e.g. a source error seen meanwhile
            new.warn(text, text)
        self.state = new
        self._paused_at += new.applied - old.applied  # "+N new" counts from the same point
        self._seen_restarts = new.restarts
        self._remap_selection(old)
        self._request_redraw()

    def _remap_selection(self, old: RunState) -> None:
        """After swapping states, point the selection at the same example and eval."""
        if self.following:
            return
        example = old.example_at(self._sel.example) if self._sel.example is not None else None
        same = self.state.same_example(example) if example is not None else None
        self._sel.example = same.seq if same is not None else None
        ev = old.eval_at(self._sel.eval) if self._sel.eval is not None else None
        match = [e for e in self.state.evals if ev is not None and e.step == ev.step]
        self._sel.eval = match[-1].seq if match else None

    # -- selection ------------------------------------------------------------------

    def current_example(self) -> ExampleView | None:
        """The example the panes show: the newest while following."""
        examples = self.state.examples
        if self.following or self._sel.example is None:
            return examples[-1] if examples else None
        return self.state.example_at(self._sel.example) or (examples[-1] if examples else None)

    def current_eval(self) -> EvalView | None:
        """The eval the counters describe: the selected one, the shown sample's, or the newest."""
        st = self.state
        if not self.following:
            if self._sel.eval is not None and (ev := st.eval_at(self._sel.eval)) is not None:
                return ev
            example = self.current_example()
            if example is not None and example.eval_seq is not None:
                ev = st.eval_at(example.eval_seq)
                if ev is not None:
                    return ev
        return st.evals[-1] if st.evals else None

    def _pause_here(self) -> None:
        if self.following:
            example = self.current_example()
            self._sel = _Selection(example.seq if example else None, None)
            self.following = False

    def action_toggle_follow(self) -> None:
        if self.following:
            self._pause_here()
        else:
            self._sel = _Selection()
            self.following = True

    def watch_following(self, following: bool) -> None:
        if not following:
            self._paused_at = self.state.applied
        self._request_redraw()

    def watch_fold_think(self) -> None:
        self._request_redraw()

    def _step_example(self, delta: int) -> None:
        examples = self.state.examples
        current = self.current_example()
        if current is None:
            self.bell()
            return
        i = next(
            (k for k in range(len(examples) - 1, -1, -1) if examples[k].seq == current.seq), None
        )
        j = None if i is None else i + delta
        if j is None or not 0 <= j < len(examples):
            self.bell()
            return
        self._pause_here()
        self._sel = _Selection(examples[j].seq, None)
        self._request_redraw()

    def action_prev_example(self) -> None:
        self._step_example(-1)

    def action_next_example(self) -> None:
        self._step_example(+1)

    def _step_eval(self, delta: int) -> None:
        evals = self.state.evals
        current = self.current_eval()
        if current is None:
            self.bell()
            return
        i = next((k for k, e in enumerate(evals) if e.seq == current.seq), len(evals) - 1)
        j = i + delta
        if not 0 <= j < len(evals):
            self.bell()
            return
        self._pause_here()
        target = evals[j]
        example = (
            target.first_example_seq if target.first_example_seq is not None else self._sel.example
        )
        self._sel = _Selection(example, target.seq)
        self._request_redraw()

    def action_prev_eval(self) -> None:
        self._step_eval(-1)

    def action_next_eval(self) -> None:
        self._step_eval(+1)

    def action_toggle_think(self) -> None:
        self.fold_think = not self.fold_think

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        keys = [(_key_label(b.key), b.description) for b in self.BINDINGS if isinstance(b, Binding)]
        self.push_screen(HelpScreen(keys))

    async def action_quit(self) -> None:
        self.exit(0)

    # -- drawing ----------------------------------------------------------------------

    def _request_redraw(self) -> None:
        """Redraw soon, but not more often than every REDRAW_INTERVAL_S."""
        if self._redraw_timer is not None:
            return
        # Timers need a positive delay; 5 ms is "now" for a human.
        delay = max(0.005, self._last_redraw + REDRAW_INTERVAL_S - time.monotonic())
        self._redraw_timer = self.set_timer(delay, self._redraw)

    def _redraw(self) -> None:
        if self._redraw_timer is not None:
            self._redraw_timer.stop()
            self._redraw_timer = None
        if not self.is_running:
            # Shutting down: Textual removes the widgets before it stops the timers,
            # so a tick or a coalesced redraw can still fire here, with nothing to draw.
            return
        self._last_redraw = time.monotonic()
        st = self.state
        if st.restarts != self._seen_restarts:
            # Another run began in the same file: its examples are not the old ones.
            self._seen_restarts = st.restarts
            self._sel = _Selection()
            self.following = True
        now = self.clock()
        waiting = None
        if isinstance(self.source, EventTail) and not self.source.exists:
            waiting = inert(str(self.source.path))
        self.query_one(RunHeader).show(st, now, waiting_for=waiting)

        example = self.current_example()
        eval_view = self.current_eval()
        position = (0, 0)
        if example is not None:
            first = st.examples[0].seq
            index = next(
                (k for k, e in enumerate(st.examples) if e.seq == example.seq), example.seq - first
            )
            position = (index + 1, len(st.examples))
        self.query_one(ExampleBar).show(example, position, eval_view)
        # Compare what is shown, not which object: a pane update costs a layout pass.
        key = (_pane_key(example), self.fold_think)
        if key != self._drawn_panes:
            new = self._drawn_panes is None or self._drawn_panes[0] != key[0]
            for pane_id, (title, subtitle, body) in zip(
                ("#prompt", "#golden", "#model"),
                pane_contents(example, fold_think=self.fold_think),
                strict=True,
            ):
                self.query_one(pane_id, TextPane).show(title, subtitle, body, new=new)
            self._drawn_panes = key

        if st.version != self._drawn_trends:
            self.query_one(Trends).show(st)
            self._drawn_trends = st.version
        eval_pos = (0, 0)
        if eval_view is not None:
            index = next(
                (k for k, e in enumerate(st.evals) if e.seq == eval_view.seq), len(st.evals) - 1
            )
            eval_pos = (index + 1, len(st.evals))
        self.query_one(CountersPanel).show(st, now, eval_view, eval_pos)
        if st.log_version != self._drawn_log:
            self.query_one(EventLog).show(st, self.tz)
            self._drawn_log = st.log_version
        note = self.source_note or self.follower.watch_error
        self.query_one(StatusBar).show(
            StatusInfo(
                following=self.following,
                new_since_pause=0 if self.following else max(0, st.applied - self._paused_at),
                events=st.applied,
                malformed=st.malformed,
                warnings=len(st.warnings),
                last_warning=st.warnings[-1] if st.warnings else None,
                loading_history=self.history_pending,
                source_note=note,
            )
        )
        self.drawn_version = st.version


def _pane_key(example: ExampleView | None) -> tuple[Any, ...] | None:
    """What the three panes draw from an example (its step and seq only go in the bar above)."""
    if example is None:
        return None
    e = example
    return (
        e.tier,
        e.prompt,
        e.golden,
        e.prompt_tokens,
        e.golden_tokens,
        e.output,
        e.output_tokens,
        e.match,
        e.timed_out,
        e.partial,
        e.seconds,
        tuple(e.cut.items()),
        e.think_opened,
    )


_KEY_LABELS = {
    "left": "←",
    "right": "→",
    "question_mark": "?",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}


def _key_label(keys: str) -> str:
    """How a binding's keys look on the help screen: "left,p" -> "← / p"."""
    return " / ".join(_KEY_LABELS.get(k, k) for k in keys.split(","))


def make_app(
    source: str | os.PathLike[str] | EventSource,
    *,
    clock: Callable[[], float] = time.time,
    tz: tzinfo | None = None,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    watch: bool = True,
    poll_interval_s: float = 0.5,
    cold_open: bool = True,
    tick_s: float = 1.0,
) -> SylloApp:
    """Build the monitor for a path, ``"-"`` (stdin), or an already open source.

    ``clock`` and ``tz`` make every time on screen deterministic (tests and
    snapshots pass a fixed clock and UTC); ``watch=False`` turns file
    notifications off (polling every ``poll_interval_s`` remains);
    ``cold_open=False`` reads a file from its start instead of its tail.
    """
    src: EventSource = open_source(source) if isinstance(source, (str, os.PathLike)) else source
    return SylloApp(
        src,
        clock=clock,
        tz=tz,
        stale_after_s=stale_after_s,
        watch=watch,
        poll_interval_s=poll_interval_s,
        cold_open=cold_open,
        tick_s=tick_s,
    )
