"""charts.py: what each chart holds (curves, marks, zoom) and what plotext draws of it."""

from __future__ import annotations

from pathlib import Path

import eventgen
import pytest
from _folds import fold
from textual_plotext.plot import Plot

from syllo_tui import charts
from syllo_tui.state import RunState


def drawn(chart: charts.Chart, **kwargs: object) -> str:
    plt = Plot()
    plt.plotsize(100, 24)
    charts.draw(plt, chart, **kwargs)  # type: ignore[arg-type]
    plt.plotsize(100, 24)
    return str(plt.build())


def test_loss_chart_has_train_and_val_and_marks_the_resume_seam(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.resumed(path)
    st = fold(path)
    chart = charts.run_chart(st, "loss")
    labels = [c.label for c in chart.curves]
    assert labels == ["train loss", "val loss"]
    train = chart.curves[0].points
    assert [p[0] for p in train] == list(range(10, 810, 10)), "each step once across the seam"
    assert all(v != 9.0 for _, v in train), "the lost work before the crash is not drawn"
    assert [(k.kind, steps) for k, steps in chart.marks] == [("resume", (600,))]
    text = drawn(chart, color=False)
    assert "┆" in text and "train loss" in text and "val loss" in text
    assert "\x1b[3" not in text and "\x1b[4" not in text, "no colour codes without colour"
    assert "┆ resume @600" in charts.caption(chart, None, 0)


def test_every_panel_draws_and_accuracy_is_per_eval(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_timeouts(path)
    st = fold(path)
    for panel in charts.PANELS:
        chart = charts.run_chart(st, panel)
        assert chart.curves and chart.curves[0].points, panel
        assert drawn(chart, color=False).strip(), panel
    acc = charts.run_chart(st, "accuracy").curves[0].points
    assert acc[-1] == (1000, 25.0), "the last eval: 1 match in 4 samples"
    assert len(acc) == len(st.evals)
    with pytest.raises(ValueError, match="unknown chart panel"):
        charts.run_chart(st, "temperature")


def test_log_scale_only_for_positive_values_and_zoom_keeps_the_newest_steps(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.mid_run(path)
    st = fold(path)
    log = charts.run_chart(st, "loss", log_y=True)
    assert "(log)" in drawn(log, color=False)
    assert not charts.run_chart(st, "gap", log_y=True).log_y, "a gap can be negative"
    span = log.span()
    assert span == (10, 1200)
    assert charts.zoom_window(span, 0) is None
    assert charts.zoom_window(span, 1) == (605, 1200)
    assert charts.zoom_window(span, 2) == (903, 1200)
    zoomed = drawn(log, window=(903, 1200), color=False)
    ticks = next(line for line in zoomed.splitlines() if "1,000" in line)
    assert "1,100" in ticks and "400" not in ticks, "the x axis covers the window only"
    assert "zoom ×4: steps 903–1,200" in charts.caption(log, (903, 1200), 2)


def test_a_marker_kind_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind the trainer may add later (e.g. anomaly) needs only its MARKERS line and a mark."""
    path = tmp_path / "events.jsonl"
    eventgen.mid_run(path, step=400)
    st = fold(path)
    monkeypatch.setattr(
        charts, "MARKERS", (*charts.MARKERS, charts.MarkerKind("spike", "⚡", "loss spike", "red"))
    )
    st.mark("spike", 250)
    st.mark("best", 200)
    chart = charts.run_chart(st, "loss")
    assert [(k.kind, s) for k, s in chart.marks] == [("best", (200,)), ("spike", (250,))]
    text = drawn(chart, color=False)
    assert "⚡" in text and "★" in text
    assert "⚡ loss spike @250" in charts.caption(chart, None, 0)


def test_marks_after_a_resume_seam_are_dropped() -> None:
    st = RunState()
    st.mark("best", 500)
    st.mark("anomaly", 700)
    st.mark("resume", 600)
    assert st.marks == {"best": [500], "anomaly": [], "resume": [600]}


def test_overlay_has_one_curve_per_run_with_inert_names(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    eventgen.mid_run(a, step=400)
    eventgen.mid_run(b, step=200, seed=4)
    chart = charts.overlay_chart([(0, "a", fold(a)), (2, "evil\x1b[2J", fold(b))])
    assert [c.label for c in chart.curves] == ["a", "evil␛[2J"]
    assert chart.curves[0].marker != chart.curves[1].marker, "told apart without colour"
    assert chart.curves[1].marker == "×", "a run keeps the marker of its place on the list"
    text = drawn(chart, color=False)
    assert "evil␛[2J" in text and "\x1b[2J" not in text
    assert chart.span() == (10, 400)


def test_an_empty_state_draws_no_points() -> None:
    plt = Plot()
    assert not charts.draw(plt, charts.run_chart(RunState(), "loss"))
