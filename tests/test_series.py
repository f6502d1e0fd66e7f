"""series.py: a bounded, step-ordered series that keeps the whole run at a coarser resolution."""

from __future__ import annotations

from syllo_tui.series import Series


def test_series_stays_bounded_and_keeps_the_whole_run() -> None:
    s = Series(cap=16)
    for step in range(1, 1001):
        s.add(step, float(step))
    assert len(s) <= 16
    points = s.points()
    assert points[0][0] < 100, "the start of the run must survive compaction"
    assert points[-1][0] == 1000
    assert s.latest == 1000.0
    # Merged buckets hold means: values still increase with the steps.
    values = [v for _, v in points]
    assert values == sorted(values)


def test_series_going_back_replaces_the_tail() -> None:
    s = Series()
    for step in (10, 20, 30, 40):
        s.add(step, 1.0)
    s.add(30, 5.0)  # a re-done step
    assert [p[0] for p in s.points()] == [10, 20, 30]
    assert s.points()[-1][1] == 5.0


def test_series_seam_cuts_and_is_remembered() -> None:
    s = Series()
    for step in range(10, 70, 10):
        s.add(step, float(step))
    s.mark_seam(40)
    assert [p[0] for p in s.points()] == [10, 20, 30, 40]
    assert s.seams == [40]
    assert s.latest == 40.0
