"""The chart view: the loss chart on top, the other panels below (all of them when wide)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from syllo_tui import charts
from syllo_tui.state import RunState
from syllo_tui.widgets.chart import ChartPanel

#: The panels under the loss chart; a narrow terminal shows one of them at a time (c: next).
SMALL_PANELS = charts.PANELS[1:]


class ChartView(Vertical):
    """Charts of one run on a shared step axis, zoomed to the last 1/2**zoom of the steps."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn: tuple[int, bool, int, int] | None = None

    def compose(self) -> ComposeResult:
        yield ChartPanel(id="chart-loss")
        with Horizontal(id="chart-small"):
            for panel in SMALL_PANELS:
                yield ChartPanel(id=f"chart-{panel}", classes="small")

    def draw(self, state: RunState, *, log_y: bool, zoom: int, small: int) -> None:
        """Redraw when the state or a setting changed; ``small``: the panel a narrow screen shows."""
        key = (state.version, log_y, zoom, small)
        if key == self._drawn:
            return
        self._drawn = key
        loss = charts.run_chart(state, "loss", log_y=log_y)
        window = charts.zoom_window(loss.span(), zoom)
        self.query_one("#chart-loss", ChartPanel).show(loss, window, zoom)
        for i, panel in enumerate(SMALL_PANELS):
            widget = self.query_one(f"#chart-{panel}", ChartPanel)
            widget.set_class(i == small % len(SMALL_PANELS), "-shown")
            widget.show(charts.run_chart(state, panel), window, zoom)
