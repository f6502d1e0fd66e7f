"""A chart panel: one ``charts.Chart`` drawn by plotext (through textual-plotext)."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from syllo_tui import charts
from syllo_tui.widgets.text import plain


class ChartPanel(PlotextPlot):
    """Draws the chart it was last given; its caption (latest values, marks, zoom) goes below."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._chart: charts.Chart | None = None
        self._window: tuple[int, int] | None = None
        self.renders = 0  # how often plotext drew it (the redraw benchmark counts these)

    def on_mount(self) -> None:
        # Textual calls PlotextPlot.on_mount itself (every class's handler runs): no super().
        if self.app.no_color:
            self.theme = "clear"  # plotext's theme without a single colour code

    def show(self, chart: charts.Chart, window: tuple[int, int] | None, zoom: int) -> None:
        self._chart, self._window = chart, window
        self.border_subtitle = plain(charts.caption(chart, window, zoom))
        self.refresh()

    def render(self) -> RenderResult:
        if self._chart is None:
            return Text("")
        color = not self.app.no_color
        charts.draw(
            self.plt,
            self._chart,
            window=self._window,
            color=color,
            theme=self._get_plotext_theme_name(self.app.theme),
            width=self.size.width,
        )
        self.renders += 1
        return super().render()
