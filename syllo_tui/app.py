"""The Textual app: composes the views and draws them from the runs' ``Feed``s.

No rule lives here: batches from each run's follower thread (follower.py)
arrive as Messages and go to that run's ``Feed`` (feed.py: folding, the
cold-open history swap), keys go to its ``Browser`` (browse.py: following or
paused, stepping), charts are built by charts.py, and each view draws itself.
What the app adds is which view is shown, one history fold at a time (the
shown run's first), and drawing at most every ``REDRAW_INTERVAL_S`` (a slow
SSH link gets at most ten frames a second, whatever the event rate).

Views: the run (today's screen; from ``CHART_ROWS`` rows it adds the loss
chart), its charts (g), the trained example token by token (v), one eval
prompt across the eval rounds (h), the latest anomaly's batch (a), and with
several runs the run list, the overlay of the marked runs' curves (o) and
their outputs side by side (x).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import ContentSwitcher

from syllo_tui import charts
from syllo_tui.browse import (
    latest_sample,
    sample_numbers,
    shown_anomaly,
    step_anomaly,
    token_example,
    token_position,
)
from syllo_tui.feed import Feed, FoldResult
from syllo_tui.follower import LIST_TAIL_EVENTS, Batch
from syllo_tui.remote import SshOptions
from syllo_tui.render import inert
from syllo_tui.runs import Run, RunFolder, RunSet, RunSpec, step_sample
from syllo_tui.runtable import run_row
from syllo_tui.state import DEFAULT_STALE_AFTER_S, RunState
from syllo_tui.stream import EventSource, EventTail, open_source
from syllo_tui.views import EvalView, ExampleView
from syllo_tui.widgets import HelpScreen, RunHeader, StatusBar
from syllo_tui.widgets.batch import BatchView
from syllo_tui.widgets.chart import ChartPanel
from syllo_tui.widgets.chartview import ChartView
from syllo_tui.widgets.compare import CompareView
from syllo_tui.widgets.help import binding_lines
from syllo_tui.widgets.history import HistoryView
from syllo_tui.widgets.runlist import RunList
from syllo_tui.widgets.runview import RunView
from syllo_tui.widgets.statusbar import StatusInfo
from syllo_tui.widgets.tokenview import TokenPane

#: Minimum time between two redraws while events stream in.
REDRAW_INTERVAL_S = 0.1

#: From this many rows the run view shows the loss chart above the trends.
CHART_ROWS = 50

#: How often a folder of runs is looked at for runs that started later.
RESCAN_S = 2.0

#: Views of the shown run that its key opens and closes again (back to the run view).
DETAIL_VIEWS = ("tokens", "history", "batch")

#: Views of several runs at once: the keys of one run's views do nothing there.
SEVERAL_VIEWS = ("runs", "overlay", "compare")


class EventsArrived(Message):
    """A batch from one run's follower thread."""

    def __init__(self, run: Run, batch: Batch) -> None:
        super().__init__()
        self.run = run
        self.batch = batch


class HistoryFolded(Message):
    """The background fold of a run's early part is done."""

    def __init__(self, run: Run, result: FoldResult) -> None:
        super().__init__()
        self.run = run
        self.result = result


class SylloApp(App[int]):
    """The live monitor of one run or several. Build it with ``make_app``."""

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
        Binding("g", "charts", "charts of this run: loss, gap, accuracy, throughput, lr"),
        Binding("l", "log_scale", "charts: loss on a log / linear axis"),
        Binding("plus,equals_sign", "zoom(1)", "charts: zoom in (the last half of the steps)"),
        Binding("minus", "zoom(-1)", "charts: zoom out"),
        Binding("0", "zoom(0)", "charts: all the steps"),
        Binding("c", "next_panel", "charts: next small panel (a narrow screen shows one)"),
        Binding("v", "detail('tokens')", "the trained example token by token (← → another)"),
        Binding("h", "detail('history')", "an eval prompt at each round (← → round, [ ] prompt)"),
        Binding("a", "detail('batch')", "the latest anomaly and its batch (← → another)"),
        Binding("b", "best_eval", "the best eval: the run view, paused on it"),
        Binding("r,escape", "run_list", "several runs: the run list"),
        Binding("o", "overlay", "several runs: the marked runs' loss curves on one chart"),
        Binding("x", "compare", "several runs: one eval prompt's output side by side"),
    ]

    fold_think: reactive[bool] = reactive(False)

    def __init__(
        self,
        sources: Sequence[tuple[str, EventSource]],
        *,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        watch: bool = True,
        poll_interval_s: float = 0.5,
        cold_open: bool = True,
        tick_s: float = 1.0,
        several: bool | None = None,
        folders: Sequence[Path] = (),
    ) -> None:
        # Textual alone turns NO_COLOR into shades of grey (still colour codes);
        # native ANSI mode makes it drop colours and keep bold/dim/reverse.
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        self.clock = clock
        self.tz = tz
        self.several = several if several is not None else len(sources) != 1 or bool(folders)
        self._run_options = dict(
            stale_after_s=stale_after_s,
            watch=watch,
            poll_interval_s=poll_interval_s,
            cold_open=cold_open,
        )
        self.runset = RunSet()
        for name, source in sources:
            self._add_run(name, source)
        self.folders = [
            RunFolder(f, [str(getattr(s, "path", "")) for _, s in sources]) for f in folders
        ]
        self.view = "runs" if self.several else "run"
        self._before_charts = self.view
        self.log_y = False
        self.zoom = 0
        self.small_panel = 0
        self.compare_sample: int | None = None
        self._tick_s = tick_s
        self._redraw_timer: Timer | None = None
        self._last_redraw = 0.0
        # What the last redraw showed: the shown run's state.version, and how many
        # redraws there were (tests wait on these, never on time).
        self.drawn_version = -1
        self.redraws = 0

    # -- runs -----------------------------------------------------------------------

    def _add_run(self, name: str, source: EventSource) -> Run:
        opts = self._run_options
        run = Run(
            name,
            source,
            self._from_follower,
            feed=Feed(stale_after_s=float(opts["stale_after_s"]), clock=self.clock),
            cold_open=bool(opts["cold_open"]),
            cold_events=LIST_TAIL_EVENTS if self.several else None,
            poll_interval_s=float(opts["poll_interval_s"]),
            watch=bool(opts["watch"]),
        )
        return self.runset.add(run)

    @property
    def shown(self) -> Run:
        """The run the run view, its charts and the header show."""
        return self.runset.shown

    @property
    def runs(self) -> list[Run]:
        return self.runset.runs

    @property
    def feed(self) -> Feed:
        return self.shown.feed

    @property
    def source(self) -> EventSource:
        return self.shown.source

    @property
    def follower(self) -> object:
        return self.shown.follower

    # -- what the shown run's feed holds (read by tests and benchmarks too) -------

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

    # -- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with ContentSwitcher(id="views", initial=f"{self.view}-view"):
            yield RunView(id="run-view")
            yield ChartView(id="charts-view")
            yield RunList(id="runs-view")
            yield ChartPanel(id="overlay-view")
            yield CompareView(id="compare-view")
            yield TokenPane(id="tokens-view")
            yield HistoryView(id="history-view")
            yield BatchView(id="batch-view")
        yield StatusBar(id="status")

    def on_mount(self) -> None:
        self._focus_view()
        for run in self.runs:
            run.start()
        if self.folders:
            self.set_interval(RESCAN_S, self._rescan)
        self.set_interval(self._tick_s, self._redraw)  # ages and staleness move with the clock
        self._redraw()

    def on_resize(self) -> None:
        self.screen.set_class(self.size.height >= 36, "-tall")
        self.screen.set_class(self.size.width >= 120, "-wide")
        self.screen.set_class(self.size.height >= CHART_ROWS, "-charts")

    def on_unmount(self) -> None:
        for run in self.runs:
            run.stop()

    def _rescan(self) -> None:
        for folder in self.folders:
            for spec in folder.scan():
                self._add_run(spec.name, open_source(spec.target)).start()
                self._request_redraw()

    # -- events in ------------------------------------------------------------------

    def _from_follower(self, run: Run, batch: Batch) -> None:
        # On the follower's thread: post_message is thread-safe.
        self.post_message(EventsArrived(run, batch))

    def on_events_arrived(self, message: EventsArrived) -> None:
        run = message.run
        try:
            job = run.feed.take(message.batch)
        finally:
            run.follower.ack()
        if job is not None:
            run.pending = job
        elif message.batch.result.reset:
            run.pending = None
        self._fold_next()
        self._request_redraw()

    def _fold_next(self) -> None:
        """Start the next history fold on a worker thread (runs.RunSet says whose)."""
        nxt = self.runset.next_fold()
        if nxt is None:
            return
        run, job = nxt
        feed = run.feed
        threading.Thread(
            target=lambda: self.post_message(HistoryFolded(run, feed.fold(job))),
            name="syllo-history",
            daemon=True,
        ).start()

    def on_history_folded(self, message: HistoryFolded) -> None:
        self.runset.folded()
        if message.run.feed.history_folded(message.result):
            self._request_redraw()
        if self.is_running:
            self._fold_next()

    # -- keys -----------------------------------------------------------------------

    def _moved(self, moved: bool) -> None:
        if moved:
            self._request_redraw()
        else:
            self.bell()

    def action_toggle_follow(self) -> None:
        self.feed.browser.toggle_follow(self.feed.state)
        self._request_redraw()

    def action_prev_example(self) -> None:
        self._step(-1)

    def action_next_example(self) -> None:
        self._step(+1)

    def _step(self, delta: int) -> None:
        """← / →: the next thing of what the view shows (views that step nothing ignore them)."""
        feed, st = self.feed, self.feed.state
        if self.view == "run":
            moved = feed.browser.step_example(st, delta)
        elif self.view == "tokens":  # only the examples that carry their tokens
            moved = feed.browser.step_example(st, delta, lambda e: st.tokens_of(e) is not None)
        elif self.view == "history":
            moved = feed.prompt_cursor.step_round(st.prompts, delta)
        elif self.view == "batch":
            feed.anomaly_step, moved = step_anomaly(st, feed.anomaly_step, delta)
        else:
            return
        self._moved(moved)

    def action_prev_eval(self) -> None:
        self._step_eval(-1)

    def action_next_eval(self) -> None:
        self._step_eval(+1)

    def _step_eval(self, delta: int) -> None:
        if self.view == "compare":
            self._step_compare(delta)
        elif self.view == "history":
            self._moved(self.feed.prompt_cursor.step_prompt(self.state.prompts, delta))
        elif self.view == "run":
            self._moved(self.feed.browser.step_eval(self.feed.state, delta))

    def action_detail(self, view: str) -> None:
        """Open one of the shown run's detail views, or close it again (back to the run view)."""
        if self.view in SEVERAL_VIEWS:
            self.bell()
        elif self.view == view:
            self._show("run")
        else:
            if view == "history":
                self.feed.open_history()
            elif view == "batch":
                self.feed.anomaly_step = None  # the newest, followed as more come
            self._show(view)

    def action_best_eval(self) -> None:
        best = self.state.best
        if self.view in SEVERAL_VIEWS or best is None:
            self.bell()
            return
        moved = self.feed.browser.show_eval_at(self.state, best.step)
        if moved and self.view != "run":
            self._show("run")
        self._moved(moved)

    def action_toggle_think(self) -> None:
        self.fold_think = not self.fold_think

    def watch_fold_think(self) -> None:
        self._request_redraw()

    def action_charts(self) -> None:
        if self.view == "charts":
            self._show(self._before_charts)
        else:
            self._before_charts = self.view if self.view == "run" else "run"
            self._show("charts")

    def action_log_scale(self) -> None:
        self.log_y = not self.log_y
        self._request_redraw()

    def action_zoom(self, delta: int) -> None:
        self.zoom = 0 if delta == 0 else max(0, min(charts.MAX_ZOOM, self.zoom + delta))
        self._request_redraw()

    def action_next_panel(self) -> None:
        self.small_panel += 1
        self._request_redraw()

    def action_run_list(self) -> None:
        if self.several:
            self._show("runs")
        elif self.view != "run":  # one run: Esc goes back to its run view
            self._show("run")

    def action_overlay(self) -> None:
        if self.several:
            self._show("overlay")

    def action_compare(self) -> None:
        if self.several:
            self._show("compare")

    def on_run_list_opened(self, message: RunList.Opened) -> None:
        self.runset.index = message.index
        self._fold_next()
        self._show("run")

    def on_run_list_marked(self, message: RunList.Marked) -> None:
        self.runset.toggle_mark(message.index)
        self._request_redraw()

    def _step_compare(self, delta: int) -> None:
        numbers = sample_numbers([r.feed.state for r in self.runset.marked()])
        self.compare_sample, moved = step_sample(numbers, self.compare_sample, delta)
        self._moved(moved)

    def _show(self, view: str) -> None:
        self.view = view
        self.query_one(ContentSwitcher).current = f"{view}-view"
        self._focus_view()
        self._request_redraw()

    def _focus_view(self) -> None:
        target = {
            "run": "#model",
            "runs": "#runs-view",
            "compare": "#compare-view",
            "tokens": "#tokens-scroll",
            "history": "#history-view",
            "batch": "#batch-view",
        }.get(self.view)
        if target is not None:
            self.query_one(target).focus()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        keys = binding_lines(self.BINDINGS)
        listed = binding_lines(RunList.BINDINGS)
        # One run's keys first (they fit 80x24 with the pane keys); charts and runs below.
        first = next(i for i, (key, _) in enumerate(keys) if key == "g")
        self.push_screen(HelpScreen(keys[:first], keys[first:] + (listed if self.several else [])))

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
        run = self.shown
        feed = run.feed
        st = feed.state
        feed.browser.check_restart(st)
        now = self.clock()
        waiting = None
        if isinstance(run.source, EventTail) and not run.source.exists:
            waiting = inert(str(run.source.path))
        name = run.name if self.several else None
        self.query_one(RunHeader).show(st, now, waiting_for=waiting, name=name)
        if self.view == "run":
            self.query_one(RunView).draw(
                feed,
                now,
                fold_think=self.fold_think,
                tz=self.tz,
                chart=self.size.height >= CHART_ROWS,
                log_y=self.log_y,
            )
        elif self.view == "charts":
            self.query_one(ChartView).draw(
                st, log_y=self.log_y, zoom=self.zoom, small=self.small_panel
            )
        elif self.view == "runs":
            self.query_one(RunList).show(
                [run_row(r.name, r.feed.state, now) for r in self.runs],
                [r.marked for r in self.runs],
            )
        elif self.view == "overlay":
            chosen = [(self.runs.index(r), r.name, r.feed.state) for r in self.runset.marked()]
            chart = charts.overlay_chart(chosen, log_y=self.log_y)
            window = charts.zoom_window(chart.span(), self.zoom)
            self.query_one("#overlay-view", ChartPanel).show(chart, window, self.zoom)
        elif self.view == "tokens":
            example, fallback = token_example(st, feed.browser.current_example(st))
            self.query_one(TokenPane).show(
                example,
                st.tokens_of(example),
                token_position(st, example),
                st.train_on,
                fallback=fallback,
            )
        elif self.view == "history":
            self.query_one(HistoryView).show(
                st.prompts, feed.prompt_cursor, fold_think=self.fold_think
            )
        elif self.view == "batch":
            anomaly, position = shown_anomaly(st, feed.anomaly_step)
            total = int(st.counters.get("anomalies") or 0)
            self.query_one(BatchView).show(anomaly, position, max(total, len(st.anomalies)))
        elif self.view == "compare":
            chosen_runs = self.runset.marked()
            numbers = sample_numbers([r.feed.state for r in chosen_runs])
            if self.compare_sample not in numbers:
                self.compare_sample = numbers[0] if numbers else None
            k = self.compare_sample
            self.query_one(CompareView).show(
                k,
                [
                    (r.name, latest_sample(r.feed.state, k) if k is not None else None)
                    for r in chosen_runs
                ],
                fold_think=self.fold_think,
            )
        # A remote run's connection (lost, reconnecting) is said here, with the source's error.
        note = feed.source_note or getattr(run.source, "note", None) or run.follower.watch_error
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
        self.redraws += 1


def make_app(
    source: str | os.PathLike[str] | EventSource | Sequence[RunSpec],
    *,
    clock: Callable[[], float] = time.time,
    tz: tzinfo | None = None,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    watch: bool = True,
    poll_interval_s: float = 0.5,
    cold_open: bool = True,
    tick_s: float = 1.0,
    folders: Sequence[Path] = (),
    several: bool | None = None,
    ssh: SshOptions | None = None,
) -> SylloApp:
    """Build the monitor for a path, ``"-"`` (stdin), an open source, or several runs.

    ``clock`` and ``tz`` make every time on screen deterministic (tests and
    snapshots pass a fixed clock and UTC); ``watch=False`` turns file
    notifications off (polling every ``poll_interval_s`` remains);
    ``cold_open=False`` reads a file from its start instead of its tail.
    Several runs (``RunSpec``s, or ``folders`` to scan) open on the run list;
    ``ssh`` says how to reach ``HOST:PATH`` runs.
    """
    if isinstance(source, (str, os.PathLike)):
        sources: list[tuple[str, EventSource]] = [("", open_source(source, ssh=ssh))]
    elif isinstance(source, Sequence):
        sources = [(spec.name, open_source(spec.target, ssh=ssh)) for spec in source]
    else:
        sources = [("", source)]
    return SylloApp(
        sources,
        clock=clock,
        tz=tz,
        stale_after_s=stale_after_s,
        watch=watch,
        poll_interval_s=poll_interval_s,
        cold_open=cold_open,
        tick_s=tick_s,
        several=several,
        folders=folders,
    )
