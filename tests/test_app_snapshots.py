"""app.py snapshots: the whole screen at 80x24 and 160x48 for a mid-run state, a timeout and a finished run.

Everything that moves with time is pinned: event times come from eventgen's
fake clock, the app's clock is fixed 5 s after the last event, and times are
shown in UTC. Update the SVGs under tests/__snapshots__/ with
``pytest tests/test_app_snapshots.py --snapshot-update`` and look at them
(``snapshot_report.html``) before committing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import eventgen
import pytest
from _support import WAIT_S
from textual.pilot import Pilot

from syllo_tui.app import SylloApp, make_app

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
