"""The Textual app: composes the widgets and draws them from one run's ``Feed``.

No rule lives here: batches from the follower thread (follower.py) arrive as
Messages and go to the ``Feed`` (feed.py: folding, the cold-open history
swap), keys go to its ``Browser`` (browse.py: following or paused, stepping),
and each widget draws itself from the state. What the app adds is drawing at
most every ``REDRAW_INTERVAL_S`` (a slow SSH link gets at most ten frames a
second, whatever the event rate) and only what changed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer

from syllo_tui.browse import eval_position, example_position
from syllo_tui.feed import Feed, FoldResult
from syllo_tui.follower import Batch, Follower
from syllo_tui.render import inert
from syllo_tui.state import DEFAULT_STALE_AFTER_S, RunState
from syllo_tui.stream import EventSource, EventTail, open_source
from syllo_tui.views import EvalView, ExampleView
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


class EventsArrived(Message):
    """A batch from the follower thread."""

    def __init__(self, batch: Batch) -> None:
        super().__init__()
        self.batch = batch


class HistoryFolded(Message):
    """The background fold of the file's early part is done."""

    def __init__(self, result: FoldResult) -> None:
        super().__init__()
        self.result = result


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
        self.feed = Feed(stale_after_s=stale_after_s, clock=clock)
        self.follower = Follower(
            source,
            self._from_follower,
            cold_open=cold_open,
            poll_interval_s=poll_interval_s,
            watch=watch,
        )
        self._tick_s = tick_s
        self._redraw_timer: Timer | None = None
        self._last_redraw = 0.0
        self._drawn_panes: tuple[Any, ...] | None = None
        self._drawn_log = -1
        self._drawn_trends = -1
        self.drawn_version = -1  # state.version at the last redraw (tests wait on it)

    # -- what the feed holds (read by tests and benchmarks too) ----------------------

    @property
    def state(self) -> RunState:
        return self.feed.state

    @property
    def following(self) -> bool:
        return self.feed.browser.following

    @property
    def history_pending(self) -> bool:
        return self.feed.history_pending

    def current_example(self) -> ExampleView | None:
        """The example the panes show: the newest while following."""
        return self.feed.browser.current_example(self.feed.state)

    def current_eval(self) -> EvalView | None:
        """The eval the counters describe: the selected one, the shown sample's, or the newest."""
        return self.feed.browser.current_eval(self.feed.state)

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
        self.feed.cancel()  # a fold still running is abandoned
        self.source.close()

    # -- events in ------------------------------------------------------------------

    def _from_follower(self, batch: Batch) -> None:
        # On the follower's thread: post_message is thread-safe.
        self.post_message(EventsArrived(batch))

    def on_events_arrived(self, message: EventsArrived) -> None:
        try:
            job = self.feed.take(message.batch)
        finally:
            self.follower.ack()
        if job is not None:
            feed = self.feed
            threading.Thread(
                target=lambda: self.post_message(HistoryFolded(feed.fold(job))),
                name="syllo-history",
                daemon=True,
            ).start()
        self._request_redraw()

    def on_history_folded(self, message: HistoryFolded) -> None:
        if self.feed.history_folded(message.result):
            self._request_redraw()

    # -- selection (the rules live in browse.py) --------------------------------------

    def action_toggle_follow(self) -> None:
        self.feed.browser.toggle_follow(self.feed.state)
        self._request_redraw()

    def _moved(self, moved: bool) -> None:
        if moved:
            self._request_redraw()
        else:
            self.bell()

    def action_prev_example(self) -> None:
        self._moved(self.feed.browser.step_example(self.feed.state, -1))

    def action_next_example(self) -> None:
        self._moved(self.feed.browser.step_example(self.feed.state, +1))

    def action_prev_eval(self) -> None:
        self._moved(self.feed.browser.step_eval(self.feed.state, -1))

    def action_next_eval(self) -> None:
        self._moved(self.feed.browser.step_eval(self.feed.state, +1))

    def watch_fold_think(self) -> None:
        self._request_redraw()

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
        feed = self.feed
        st = feed.state
        feed.browser.check_restart(st)
        now = self.clock()
        waiting = None
        if isinstance(self.source, EventTail) and not self.source.exists:
            waiting = inert(str(self.source.path))
        self.query_one(RunHeader).show(st, now, waiting_for=waiting)

        example = feed.browser.current_example(st)
        eval_view = feed.browser.current_eval(st)
        self.query_one(ExampleBar).show(example, example_position(st, example), eval_view)
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
        self.query_one(CountersPanel).show(st, now, eval_view, eval_position(st, eval_view))
        if st.log_version != self._drawn_log:
            self.query_one(EventLog).show(st, self.tz)
            self._drawn_log = st.log_version
        note = feed.source_note or self.follower.watch_error
        self.query_one(StatusBar).show(
            StatusInfo(
                following=feed.browser.following,
                new_since_pause=feed.browser.new_since_pause(st),
                events=st.applied,
                malformed=st.malformed,
                warnings=len(st.warnings),
                last_warning=st.warnings[-1] if st.warnings else None,
                loading_history=feed.history_pending,
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
