"""Sparklines: train loss, validation loss, throughput, the train/val gap (and more when tall)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from syllo_tui import charts
from syllo_tui.render import SEAM, fmt_num, sparkline, step_span
from syllo_tui.series import Series
from syllo_tui.state import RunState

_LABEL = 11  # cells for the label column
_VALUE = 12  # cells for the latest value


def _fmt_value(x: float | None) -> str:
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x / 1000:.1f}k"
    return f"{x:.4g}"


class Trends(Widget):
    """One sparkline a row, all on the same step axis, each with its latest value.

    A resume seam is drawn as ┆ in every row, an anomaly as ! on the train
    loss and the best eval as ★ on the validation loss; the gap's value gets
    ▲ when the run is overfitting (the gap widened at each of the last
    ``monitor.overfit_evals`` evals). Rows past the widget's height are left out.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: RunState | None = None

    def show(self, state: RunState) -> None:
        self._state = state
        self.refresh()

    def render(self) -> Text:
        st = self._state
        if st is None:
            return Text("")
        width = max(1, self.size.width - _LABEL - _VALUE)
        rows: list[tuple[str, Series, str, str]] = [
            ("train loss", st.train_loss, _fmt_value(st.train_loss.latest), "cyan"),
            ("val loss", st.val_loss_series, _fmt_value(st.val_loss_series.latest), "magenta"),
            (st.throughput_unit, st.throughput, _fmt_value(st.throughput.latest), "blue"),
            ("gap", st.gap_series, fmt_num(st.gap_series.latest, "+.4f"), "yellow"),
            ("grad norm", st.grad_norm_series, _fmt_value(st.grad_norm_series.latest), "green"),
            ("lr", st.lr_series, fmt_num(st.lr_series.latest, ".2e"), "dim"),
        ]
        rows = rows[: max(4, self.size.height)]
        span = step_span(*(series for _, series, _, _ in rows))
        anomaly, best = charts.symbol("anomaly"), charts.symbol("best")
        marks = {
            "train loss": [(s, anomaly) for s in st.marks.get("anomaly", [])],
            "val loss": [(s, best) for s in st.marks.get("best", [])],
        }
        marked = {SEAM: "bold", anomaly: "bold red", best: "bold green"}
        lines = []
        for label, series, value, style in rows:
            line = Text(f"{label:<{_LABEL}}", style="dim", end="")
            spark = sparkline(series, width, span, marks.get(label, ()))
            for ch in spark:
                line.append(ch, style=marked.get(ch, style))
            line.append(" " * (width - len(spark)))
            if label == "gap" and st.overfitting:
                line.append(f" {value} ▲", style="bold red")
            else:
                line.append(f" {value}")
            line.truncate(self.size.width, overflow="ellipsis")
            lines.append(line)
        return Text("\n", end="").join(lines)
