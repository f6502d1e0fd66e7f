"""Waiting on a Pilot-driven app: what the screen shows, and a screen that has caught up.

A test waits for the thing that matters (the state reached, the screen drawn
from it, a key's effect), bounded by ``WAIT_S``, a hang detector.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import eventgen
from _support import WAIT_S
from textual.pilot import Pilot

from syllo_tui.app import SylloApp, make_app
from syllo_tui.widgets import TextPane

WIDE = (160, 48)


def screen_text(app: SylloApp) -> str:
    """Every line of the screen as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def pane(app: SylloApp, name: str) -> str:
    return app.query_one(f"#{name}", TextPane).body_text


async def settle(
    pilot: Pilot[int], until: Callable[[], bool] = lambda: True, timeout: float = WAIT_S
) -> None:
    """Wait until ``until()`` holds and the screen shows the state's latest version."""
    app = pilot.app
    assert isinstance(app, SylloApp)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until() and app.drawn_version == app.state.version and not app.history_pending:
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"the screen did not settle in {timeout}s:\n{screen_text(app)}")


async def shows(pilot: Pilot[int], what: Callable[[], bool], desc: str) -> None:
    """Wait until the app shows ``what`` (a key's effect, a scroll, a screen pushed or popped).

    Key presses are processed before ``press`` returns, but what they start (a
    scroll, a screen change, a refresh) can finish a few frames later; on a
    loaded machine, later still. So the test waits for the result itself.
    """
    app = pilot.app
    assert isinstance(app, SylloApp)
    deadline = time.monotonic() + WAIT_S
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"never shown: {desc}; the screen:\n{screen_text(app)}")
        await pilot.pause(0.02)


def app_for(path: Path, run: eventgen.RunWriter | None = None) -> SylloApp:
    """An app on ``path`` whose clock is 5 s after the writer's (deterministic ages)."""
    clock = (lambda: run.w.now + 5) if run is not None else (lambda: eventgen.T0)
    return make_app(path, clock=clock, tz=UTC)


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n")


async def settle_runs(pilot: Pilot[int], timeout: float = WAIT_S) -> None:
    """Wait until every run has taken in its whole file, histories folded, and the screen drawn."""
    app = pilot.app
    assert isinstance(app, SylloApp)
    deadline = time.monotonic() + timeout
    seen: int | None = None  # app.redraws when every run was first seen settled
    while time.monotonic() < deadline:
        done = all(
            r.feed.state.applied == lines_in(Path(r.source.path))  # type: ignore[attr-defined]
            and not r.feed.history_pending
            and r.pending is None
            for r in app.runs
        )
        if not done:
            seen = None
        elif seen is None:
            seen = app.redraws
        elif app.redraws > seen:  # a redraw after that: the screen shows every run's state
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"the runs did not settle in {timeout}s:\n{screen_text(app)}")
