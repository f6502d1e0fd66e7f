"""app.py snapshots at 80x24 and 160x48: a mid-run state, a timeout, a finished run; the chart
view, the run list and the overlay of two runs; the token view, the model pane's diff against
the golden, one prompt's history, and a run's health (its marks, counters and an anomaly's batch).

Everything that moves with time is pinned: event times come from eventgen's
fake clock, the app's clock is fixed 5 s after the last event, and times are
shown in UTC. Update the SVGs under tests/__snapshots__/ with
``pytest tests/test_app_snapshots.py --snapshot-update`` and look at them
(``snapshot_report.html``) before committing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path

import eventgen
import pytest
from _pilot import settle_runs
from _support import WAIT_S
from textual.pilot import Pilot

from syllo_tui.app import SylloApp, make_app
from syllo_tui.runs import select

SCENARIOS: dict[str, Callable[[Path], eventgen.RunWriter]] = {
    "mid_run": eventgen.mid_run,
    "timeout": eventgen.with_timeouts,
    "finished": eventgen.finished,
}


async def _settled(pilot: Pilot[int]) -> None:
    app = pilot.app
    assert isinstance(app, SylloApp)
    lines = Path(app.source.path).read_bytes().count(b"\n")  # type: ignore[attr-defined]
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if (
            app.state.applied == lines
            and not app.history_pending
            and app.drawn_version == app.state.version
        ):
            await pilot.pause(0.05)
            return
        await pilot.pause(0.02)
    raise AssertionError("the app did not take in the whole file")


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_screen(scenario: str, size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "events.jsonl"
    run = SCENARIOS[scenario](path)
    run.close()
    now = run.w.now + 5
    app = make_app(path, clock=lambda: now, tz=UTC, watch=False)
    assert snap_compare(app, terminal_size=size, run_before=_settled)


def _pressing(*keys: str) -> Callable[[Pilot[int]], Awaitable[None]]:
    """Settle, press ``keys``, and wait until the screen was redrawn after them."""

    async def run_before(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, SylloApp)
        await settle_runs(pilot)
        await pilot.press(*keys)
        await settle_runs(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_chart_view(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """g: the loss chart (train and val, the resume seam at 600 marked) and the smaller panels."""
    path = tmp_path / "events.jsonl"
    run = eventgen.resumed(path)
    run.close()
    now = run.w.now + 5
    app = make_app(path, clock=lambda: now, tz=UTC, watch=False)
    assert snap_compare(app, terminal_size=size, run_before=_pressing("g"))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_run_list(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """syllo-tui runs/: one line a run, the cursor on the first."""
    for run in eventgen.runs_folder(tmp_path).values():
        run.close()
    chosen = select([str(tmp_path)])
    app = make_app(chosen.runs, clock=lambda: eventgen.T0 + 3000, tz=UTC, watch=False, several=True)
    assert snap_compare(app, terminal_size=size, run_before=_pressing("down"))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_overlay_of_two_runs(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Runs a and c marked, o: their train loss on the same axes, each its own marker."""
    for run in eventgen.runs_folder(tmp_path).values():
        run.close()
    chosen = select([str(tmp_path)])
    app = make_app(chosen.runs, clock=lambda: eventgen.T0 + 3000, tz=UTC, watch=False, several=True)
    keys = ("space", "down", "down", "space", "o")
    assert snap_compare(app, terminal_size=size, run_before=_pressing(*keys))


def _one_run(make: Callable[[Path], eventgen.RunWriter], tmp_path: Path) -> SylloApp:
    path = tmp_path / "events.jsonl"
    run = make(path)
    run.close()
    now = run.w.now + 5
    return make_app(path, clock=lambda: now, tz=UTC, watch=False)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_token_view(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """v on an example whose answer token "cket" is masked: the ⚠ finding, ‹!› after the token."""
    app = _one_run(lambda p: eventgen.with_tokens(p, "answer_masked"), tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=_pressing("v"))


def _near_miss(path: Path) -> eventgen.RunWriter:
    run = eventgen.mid_run(path)
    eventgen.near_miss(run, 1210)
    return run


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_near_miss_diff(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The model pane of POKET for POCKET: PO[-C-]KET, "1 char gone" under it."""
    app = _one_run(_near_miss, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=_pressing("left"))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_prompt_history(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """h, [: prompt 0 at its last round (po-ckett after matching at 600 and 800), the rounds strip."""
    app = _one_run(eventgen.prompt_rounds, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=_pressing("h", "left_square_bracket"))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_health(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Two anomalies (! on the train loss), the best eval (★ on val loss), ▲ overfitting, the health line."""
    app = _one_run(eventgen.with_health, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_anomaly_batch(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """a, ←: the loss spike at 455 and the examples of its batch, the row with its loss first."""
    app = _one_run(eventgen.with_health, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=_pressing("a", "left"))
