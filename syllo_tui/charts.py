"""What the charts show: curves, markers and zoom, drawn with plotext (no Textual import).

A ``Chart`` is plain data built from one run's state (``run_chart``) or from
several runs on the same axes (``overlay_chart``); ``draw`` puts it on a
plotext figure (the ``plt`` a ``textual_plotext.PlotextPlot`` holds, or a
bare ``textual_plotext.plot.Plot`` in a benchmark). Without colour (NO_COLOR)
curves differ by their marker, and markers by their symbol, so a chart reads
the same in black and white.

Labels that come from outside (run names from folder names) go through
``render.inert`` like every other untrusted text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from syllo_train.inert import inert
from syllo_tui.series import Series
from syllo_tui.state import RunState


@dataclass(frozen=True)
class MarkerKind:
    """A kind of step a chart marks with a vertical line and a symbol at the top."""

    kind: str  # the key in RunState.marks
    symbol: str
    label: str
    color: str


#: What charts mark, one line per kind. A new kind is one more line here, and
#: the state recording its steps with ``RunState.mark(kind, step)``.
MARKERS: tuple[MarkerKind, ...] = (
    MarkerKind("resume", "┆", "resume", "yellow"),
    MarkerKind("anomaly", "!", "anomaly", "red"),
    MarkerKind("best", "★", "best eval", "green"),
)


def symbol(kind: str) -> str:
    """The symbol a kind of marked step has everywhere (charts, sparklines, captions)."""
    return next(m.symbol for m in MARKERS if m.kind == kind)


#: The panels of the chart view, in order.
PANELS: tuple[str, ...] = ("loss", "gap", "accuracy", "throughput", "lr")

#: (colour, marker) of the curves of one run, and of each run in an overlay.
_STYLES: tuple[tuple[str, str], ...] = (
    ("cyan", "braille"),
    ("magenta", "•"),
    ("green", "×"),
    ("yellow", "+"),
    ("blue", "◆"),
    ("red", "○"),
)

#: Zoom levels: each halves the window of steps shown, ending at the newest step.
MAX_ZOOM = 8


@dataclass(frozen=True)
class Curve:
    """One line of a chart: (step, value) points, oldest first."""

    label: str
    points: tuple[tuple[int, float], ...]
    color: str
    marker: str


@dataclass(frozen=True)
class Chart:
    """One chart: its curves on a step axis and the steps it marks."""

    title: str
    curves: tuple[Curve, ...]
    marks: tuple[tuple[MarkerKind, tuple[int, ...]], ...] = ()
    log_y: bool = False  # asked for; only applied when every value shown is positive
    y_range: tuple[float, float] | None = None  # fixed y axis (accuracy: 0-100)

    def span(self) -> tuple[int, int] | None:
        """The steps the curves cover (None without a point)."""
        steps = [p[0] for c in self.curves for p in c.points]
        return (min(steps), max(steps)) if steps else None


def _curve(label: str, points: Sequence[tuple[int, float]], style: int) -> Curve:
    color, marker = _STYLES[style % len(_STYLES)]
    return Curve(inert(label), tuple(points), color, marker)


def _marks(state: RunState) -> tuple[tuple[MarkerKind, tuple[int, ...]], ...]:
    return tuple(
        (kind, tuple(state.marks[kind.kind])) for kind in MARKERS if state.marks.get(kind.kind)
    )


def run_chart(state: RunState, panel: str, *, log_y: bool = False) -> Chart:
    """One panel of one run: loss (train and val), gap, accuracy, throughput or lr."""
    series: list[tuple[str, Series]]
    if panel == "loss":
        series = [("train loss", state.train_loss), ("val loss", state.val_loss_series)]
    elif panel == "gap":
        series = [("val − train", state.gap_series)]
    elif panel == "throughput":
        series = [(state.throughput_unit, state.throughput)]
    elif panel == "lr":
        series = [("learning rate", state.lr_series)]
    elif panel == "accuracy":
        points = [(e.step, 100 * e.accuracy) for e in state.evals if e.accuracy is not None]
        curve = _curve("eval accuracy", points, 2)
        return Chart("accuracy per eval (%)", (curve,), _marks(state), y_range=(0.0, 100.0))
    else:
        raise ValueError(f"unknown chart panel {panel!r}; known: {', '.join(PANELS)}")
    curves = tuple(_curve(label, s.points(), i) for i, (label, s) in enumerate(series))
    title = {"loss": "loss", "gap": "train/val gap", "throughput": "throughput", "lr": "lr"}[panel]
    return Chart(title, curves, _marks(state), log_y=log_y and panel == "loss")


def overlay_chart(runs: Sequence[tuple[int, str, RunState]], *, log_y: bool = False) -> Chart:
    """The train loss of several runs on the same axes, one colour and marker per run.

    Each run comes as (its place on the run list, name, state): a run keeps its
    colour and marker whichever others are chosen.
    """
    curves = tuple(_curve(name, st.train_loss.points(), i) for i, name, st in runs)
    return Chart("train loss by run", curves, log_y=log_y)


def zoom_window(span: tuple[int, int] | None, level: int) -> tuple[int, int] | None:
    """The steps shown at zoom ``level``: the last 1/2**level of ``span`` (None: everything)."""
    if span is None or level <= 0:
        return None
    lo, hi = span
    width = max(1, (hi - lo) // (2**level))
    return (max(lo, hi - width), hi)


def _ticks(lo: float, hi: float, n: int) -> list[int]:
    if hi <= lo:
        return [round(lo)]
    raw = (hi - lo) / max(1, n - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [int(first + k * step) for k in range(n + 1) if first + k * step <= hi]


def draw(
    plt: Any,
    chart: Chart,
    *,
    window: tuple[int, int] | None = None,
    color: bool = True,
    theme: str = "clear",
    width: int = 80,
) -> bool:
    """Put ``chart`` on the plotext figure ``plt`` (cleared first); False when there is no point.

    ``window`` limits the steps shown (zoom). Without ``color`` every curve
    keeps the theme's colour and differs by its marker instead (the theme
    must then be one without colours, e.g. "clear"). The theme is set before
    plotting: plotext picks curve colours when a curve is added.
    """
    plt.clear_figure()
    plt.theme(theme)
    lo, hi = window if window is not None else (None, None)
    shown: list[tuple[Curve, list[int], list[float]]] = []
    for curve in chart.curves:
        pts = [p for p in curve.points if lo is None or lo <= p[0] <= (hi or p[0])]
        if pts:
            shown.append((curve, [p[0] for p in pts], [p[1] for p in pts]))
    if not shown:
        plt.title(f"{chart.title}: no points yet")
        return False
    values = [v for _, _, ys in shown for v in ys]
    log_y = chart.log_y and min(values) > 0
    for curve, xs, ys in shown:
        kwargs = {"color": curve.color} if color else {}
        plt.plot(xs, ys, marker=curve.marker, label=curve.label, **kwargs)
    if log_y:
        plt.yscale("log")
    elif chart.y_range is not None:
        plt.ylim(*chart.y_range)
    x_lo = min(x for _, xs, _ in shown for x in xs) if lo is None else lo
    x_hi = max(x for _, xs, _ in shown for x in xs) if hi is None else hi
    if x_hi > x_lo:
        plt.xlim(x_lo, x_hi)
    ticks = _ticks(x_lo, x_hi, max(2, min(6, width // 14)))
    plt.xticks(ticks, [f"{t:,}" for t in ticks])
    top = max(values)
    for kind, steps in chart.marks:
        for step in steps:
            if x_lo <= step <= x_hi:
                plt.vline(step, **({"color": kind.color} if color else {}))
                plt.text(kind.symbol, step, top, **({"color": kind.color} if color else {}))
    plt.title(chart.title + (" (log)" if log_y else ""))
    plt.xlabel("step")
    return True


def caption(chart: Chart, window: tuple[int, int] | None, zoom: int) -> str:
    """One line under a chart: the latest values, what is marked, the zoom."""
    bits = []
    for curve in chart.curves:
        if curve.points:
            bits.append(f"{curve.label} {curve.points[-1][1]:.4g}")
    for kind, steps in chart.marks:
        at = ", ".join(f"@{s:,}" for s in steps[-4:])
        bits.append(f"{kind.symbol} {kind.label} {at}")
    if window is not None:
        bits.append(f"zoom ×{2**zoom}: steps {window[0]:,}–{window[1]:,}")
    return " · ".join(bits)
