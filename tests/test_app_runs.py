"""app.py with several runs and the chart view, under Pilot: real files, real followers.

Runs are written by tests/eventgen.py (the real EventWriter) into a folder of
runs; the app is the one ``syllo-tui runs/`` builds (runs.select).
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import eventgen
import pytest
from _pilot import screen_text, settle, settle_runs, shows

from syllo_tui.app import SylloApp, make_app
from syllo_tui.runs import select

pytestmark = pytest.mark.asyncio

WIDE = (160, 48)


def app_on(root: Path, now: float) -> SylloApp:
    chosen = select([str(root)])
    return make_app(chosen.runs, folders=chosen.folders, clock=lambda: now, tz=UTC, several=True)


def list_line(app: SylloApp, name: str) -> str:
    return next(line for line in screen_text(app).splitlines()[2:] if f" {name} " in line[:12])


async def test_the_run_list_follows_every_run_and_opens_one(tmp_path: Path) -> None:
    runs = eventgen.runs_folder(tmp_path)
    app = app_on(tmp_path, eventgen.T0 + 3000)
    async with app.run_test(size=WIDE) as pilot:
        await settle_runs(pilot)
        text = screen_text(app)
        assert "run" in text and "status" in text and "timeouts" in text and "last event" in text
        assert "completed" in list_line(app, "a") and "2,000/2,000" in list_line(app, "a")
        assert "800/2,000" in list_line(app, "b")
        assert "1,000/2,000" in list_line(app, "c") and "25.0%" in list_line(app, "c")
        # A live run moves on the list.
        runs["c"].log(1010)
        await shows(pilot, lambda: "1,010/2,000" in list_line(app, "c"), "c's new step on the list")
        # Open c (the third line), then back to the list.
        await pilot.press("down", "down", "enter")
        await shows(pilot, lambda: app.view == "run", "c's own screen")
        await settle(pilot)
        text = screen_text(app)
        assert " c " in text.splitlines()[0] and "step 1,010/2,000" in text
        assert "example" in text and "counters" in text
        await pilot.press("escape")
        await shows(pilot, lambda: app.view == "runs", "the list again")


async def test_a_run_that_starts_later_joins_the_list(tmp_path: Path) -> None:
    eventgen.runs_folder(tmp_path)
    app = app_on(tmp_path, eventgen.T0 + 3000)
    async with app.run_test(size=WIDE) as pilot:
        await settle_runs(pilot)
        (tmp_path / "d").mkdir()
        eventgen.mid_run(tmp_path / "d" / "events.jsonl", step=40, run_id="20231114-221320-dddddd")
        await shows(pilot, lambda: len(app.runs) == 4, "the new run on the list")
        await settle_runs(pilot)
        assert "40/2,000" in list_line(app, "d")


async def test_overlay_and_side_by_side_of_the_marked_runs(tmp_path: Path) -> None:
    eventgen.runs_folder(tmp_path)
    app = app_on(tmp_path, eventgen.T0 + 3000)
    async with app.run_test(size=WIDE) as pilot:
        await settle_runs(pilot)
        await pilot.press("space", "down", "down", "space")  # mark a and c
        await shows(pilot, lambda: [r.marked for r in app.runs] == [True, False, True], "marks")
        await pilot.press("o")
        await shows(pilot, lambda: "train loss by run" in screen_text(app), "the overlay")
        text = screen_text(app)
        assert "⢕⢕ a" in text and "×× c" in text and "•• b" not in text
        assert "a 0.3491" in text, "the caption holds each run's latest loss"
        await pilot.press("x")
        await shows(pilot, lambda: "eval prompt 0" in screen_text(app), "side by side")
        await pilot.press("right_square_bracket")
        await shows(pilot, lambda: "eval prompt 1" in screen_text(app), "the next prompt")
        text = screen_text(app)
        assert "step 2000 · ❌ NO MATCH" in text and "step 1000 · ⏱ TIMEOUT" in text
        assert "caterpillar" in text


async def test_side_by_side_and_run_names_stay_inert(tmp_path: Path) -> None:
    evil = "evil\x1b[2J"
    (tmp_path / evil).mkdir()
    (tmp_path / "ok").mkdir()
    run = eventgen.mid_run(tmp_path / evil / "events.jsonl", step=100)
    eventgen.inject(run, 110)
    eventgen.mid_run(tmp_path / "ok" / "events.jsonl", step=100, run_id="20231114-221320-000ok0")
    app = app_on(tmp_path, eventgen.T0 + 3000)
    async with app.run_test(size=WIDE) as pilot:
        await settle_runs(pilot)
        assert "evil␛[2J" in screen_text(app)
        await pilot.press("x")
        await shows(pilot, lambda: "eval prompt 0" in screen_text(app), "side by side")
        text = screen_text(app)
        for literal in (
            "␛]52;c;SGVsbG8=␇",
            "[bold red]x[/]",
            "[@click=app.quit]boom[/]",
            "evil␛[2J",
        ):
            assert literal in text, literal
        await pilot.press("o")
        await shows(pilot, lambda: "train loss by run" in screen_text(app), "the overlay")
        assert "evil␛[2J" in screen_text(app)
        assert "\x1b" not in screen_text(app) and app.is_running


async def test_chart_view_keys(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.resumed(path)
    app = make_app(path, clock=lambda: eventgen.T0 + 3000, tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.step == 800)
        await pilot.press("g")
        await shows(
            pilot,
            lambda: (
                "step" in screen_text(app) and "loss" in screen_text(app) and app.view == "charts"
            ),
            "the chart view",
        )
        text = screen_text(app)
        assert "┆ resume @600" in text and "train/val gap" in text
        await pilot.press("l")
        await shows(pilot, lambda: "loss (log)" in screen_text(app), "the log axis")
        await pilot.press("plus", "plus")
        await shows(pilot, lambda: "zoom ×4: steps 603–800" in screen_text(app), "zoomed in")
        await pilot.press("0")
        await shows(pilot, lambda: "zoom ×" not in screen_text(app), "all the steps")
        await pilot.press("c")
        await shows(pilot, lambda: "accuracy per eval" in screen_text(app), "the next panel")
        await pilot.press("g")
        await shows(pilot, lambda: "example" in screen_text(app), "back to the run")


async def test_a_tall_terminal_adds_the_loss_chart(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.mid_run(path).close()
    app = make_app(path, clock=lambda: eventgen.T0 + 3000, tz=UTC)
    async with app.run_test(size=(160, 60)) as pilot:
        await settle(pilot, lambda: app.state.step == 1200)
        await shows(pilot, lambda: "⢕⢕ train loss" in screen_text(app), "the loss chart")
        assert "example" in screen_text(app) and "trends" in screen_text(app)


async def test_an_opened_run_has_its_detail_views_and_esc_goes_back_to_the_list(
    tmp_path: Path,
) -> None:
    """v, h, a act on the opened run; on the list they do nothing; Esc from them: the list."""
    eventgen.runs_folder(tmp_path)
    app = app_on(tmp_path, eventgen.T0 + 3000)
    async with app.run_test(size=WIDE) as pilot:
        await settle_runs(pilot)
        await pilot.press("v")  # the list holds several runs: no one run's view opens
        await settle_runs(pilot)
        assert app.view == "runs"
        await pilot.press("down", "down", "enter", "h")  # c: its evals, one prompt's history
        await shows(pilot, lambda: "eval prompt " in screen_text(app), "c's prompt history")
        assert " c " in screen_text(app).splitlines()[0] and app.view == "history"
        await pilot.press("a")
        await shows(pilot, lambda: "no anomaly" in screen_text(app), "c has no anomaly")
        await pilot.press("escape")
        await shows(pilot, lambda: app.view == "runs", "the list again")
