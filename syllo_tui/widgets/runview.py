"""One run's screen: the example line, the prompt / golden / model panes, trends, counters, events.

It draws from a ``Feed`` (the state and what is selected in it), and only
the parts whose content changed: a pane update costs a layout pass.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from syllo_tui import charts
from syllo_tui.browse import eval_position, example_position
from syllo_tui.feed import Feed
from syllo_tui.views import ExampleView
from syllo_tui.widgets.chart import ChartPanel
from syllo_tui.widgets.counters import CountersPanel, has_health
from syllo_tui.widgets.eventlog import EventLog
from syllo_tui.widgets.panes import ExampleBar, TextPane, pane_contents
from syllo_tui.widgets.trends import Trends


class RunView(Vertical):
    """The monitor's main view of one run (a tall terminal adds the loss chart)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn_panes: tuple[Any, ...] | None = None
        self._drawn_log = -1
        self._drawn_trends = -1
        self._drawn_chart: tuple[int, bool] | None = None

    def compose(self) -> ComposeResult:
        yield ExampleBar(id="example-bar")
        with Horizontal(id="panes"):
            yield TextPane(id="prompt")
            yield TextPane(id="golden")
            yield TextPane(id="model")
        yield ChartPanel(id="run-chart")
        with Horizontal(id="metrics"):
            yield Trends(id="trends")
            yield CountersPanel(id="counters")
        yield EventLog(id="events")

    def on_mount(self) -> None:
        self.query_one("#trends").border_title = "trends"
        self.query_one("#counters").border_title = "counters"
        self.query_one("#events").border_title = "events"

    def draw(
        self,
        feed: Feed,
        now: float,
        *,
        fold_think: bool,
        tz: tzinfo | None,
        chart: bool,
        log_y: bool,
    ) -> None:
        """Draw ``feed``'s state as of ``now``; ``chart``: the loss chart has room (tall terminal)."""
        st = feed.state
        self.set_class(has_health(st), "-health")  # one more counters line (app.tcss)
        example = feed.browser.current_example(st)
        eval_view = feed.browser.current_eval(st)
        self.query_one(ExampleBar).show(example, example_position(st, example), eval_view)
        # Compare what is shown, not which object: a pane update costs a layout pass.
        key = (_pane_key(example), fold_think)
        if key != self._drawn_panes:
            new = self._drawn_panes is None or self._drawn_panes[0] != key[0]
            for pane_id, (title, subtitle, body) in zip(
                ("#prompt", "#golden", "#model"),
                pane_contents(example, fold_think=fold_think),
                strict=True,
            ):
                self.query_one(pane_id, TextPane).show(title, subtitle, body, new=new)
            self._drawn_panes = key
        if st.version != self._drawn_trends:
            self.query_one(Trends).show(st)
            self._drawn_trends = st.version
        if chart and (st.version, log_y) != self._drawn_chart:
            self.query_one("#run-chart", ChartPanel).show(
                charts.run_chart(st, "loss", log_y=log_y), None, 0
            )
            self._drawn_chart = (st.version, log_y)
        self.query_one(CountersPanel).show(st, now, eval_view, eval_position(st, eval_view))
        if st.log_version != self._drawn_log:
            self.query_one(EventLog).show(st, tz)
            self._drawn_log = st.log_version


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
