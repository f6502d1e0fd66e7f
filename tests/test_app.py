"""app.py under Pilot: a real app following a real file that a test appends to.

Each test writes events with tests/eventgen.py (the real EventWriter), runs
the app headless with ``App.run_test()``, and reads what is on the screen
(the compositor's text, the very cells a terminal would get). The follower
thread, the file watcher and the coalesced redraws are all the real ones.
"""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

import eventgen
import pytest
from _pilot import WIDE, app_for, pane, screen_text, settle, shows

from syllo_tui.app import make_app
from syllo_tui.widgets import TextPane

pytestmark = pytest.mark.asyncio


async def test_appending_events_updates_every_pane(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path)
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 1200)
        text = screen_text(app)
        assert "step 1,200/2,000" in text
        assert "example 144/144" in text

        # A log-tier example: prompt and golden change, the model pane says why it is empty.
        example = {
            "index": 7,
            "prompt": "Split the word 'zebra' into syllables.",
            "golden": "ze-bra",
            "prompt_tokens": 11,
            "golden_tokens": 3,
            "loss": 0.25,
        }
        run.log(1210, example=example, loss=0.123)
        await settle(pilot, lambda: app.state.step == 1210)
        text = screen_text(app)
        assert "step 1,210/2,000" in text
        assert "Split the word 'zebra' into syllables." in pane(app, "prompt")
        assert pane(app, "golden") == "ze-bra"
        assert "not generated at this step" in pane(app, "model")
        assert "0.123 " in text  # the train loss sparkline's latest value
        assert "11 tok" in text and "3 tok" in text

        # An eval with a timeout: counters, event log and the model pane's verdict.
        run.eval(1210, ["match", "timeout"])
        run.checkpoint(1210)
        await settle(pilot, lambda: app.state.counters["checkpoints"] == 4)
        text = screen_text(app)
        assert "timeouts 1 · " in text
        assert "@1210 checkpoint runs/demo/checkpoint-1210" in text
        assert "@1210 timeout    sample 1: generation cut off" in text
        assert "⏱ TIMEOUT" in pane(app, "model")
        assert "partial output:" in pane(app, "model")
        assert "last @1210 · 5s ago" in text  # the checkpoint age, from the injected clock


async def test_follow_and_pause(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=200)
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 200)
        before = pane(app, "prompt")
        await pilot.press("space")
        assert not app.following
        example = {
            "index": 1,
            "prompt": "NEW PROMPT",
            "golden": "g",
            "prompt_tokens": 2,
            "golden_tokens": 1,
        }
        run.log(210, example={**example, "loss": 1.0})
        await settle(pilot, lambda: app.state.step == 210)
        assert pane(app, "prompt") == before, "paused: the panes stay on their example"
        text = screen_text(app)
        assert "⏸ paused +1 new" in text
        assert "step 210/2,000" in text, "paused: the header keeps moving"
        await pilot.press("f")
        await settle(pilot, lambda: app.following)
        assert pane(app, "prompt") == "NEW PROMPT"
        assert "▶ following" in screen_text(app)


async def test_history_navigation(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_timeouts(path)
    app = app_for(path)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 1000)
        examples = list(app.state.examples)
        assert "⏱ TIMEOUT" in pane(app, "model")  # the newest: sample 3, a stall

        await pilot.press("left", "left")
        await settle(pilot)
        assert not app.following
        assert app.current_example() == examples[-3]
        assert f"example {len(examples) - 2}/{len(examples)}" in screen_text(app)
        assert "✅ MATCH" not in pane(app, "model")
        await pilot.press("right")
        await settle(pilot)
        assert app.current_example() == examples[-2]

        await pilot.press("left_square_bracket")  # the eval before the last one
        await settle(pilot)
        shown = app.current_example()
        assert shown is not None and (shown.step, shown.tier, shown.sample) == (800, "eval", 0)
        text = screen_text(app)
        assert "#4 @800" in text
        assert "step 800 · eval · sample 0" in text
        assert "✅ MATCH" in text

        for _ in range(10):  # past the first eval: stays there, rings the bell
            await pilot.press("left_square_bracket")
        await settle(pilot)
        assert "#1 @200" in screen_text(app)

        await pilot.press("space")  # back to following the newest
        await settle(pilot)
        assert app.current_example() == examples[-1]


async def test_resume_seam_shown_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.resumed(path)
    app = app_for(path)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 800)
        text = screen_text(app)
        trend_rows = [
            line for line in text.splitlines() if "train loss" in line or "val loss" in line
        ]
        assert len(trend_rows) == 2 and all("┆" in row for row in trend_rows), trend_rows
        assert "@600 resume     from runs/demo/checkpoint-600" in text
        assert "9.0" not in text.split("train loss")[1].split("\n")[0]
        steps = [p[0] for p in app.state.train_loss.points()]
        assert steps == list(range(10, 810, 10))


async def test_truncated_or_replaced_file_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.finished(path)
    app = app_for(path)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.status == "completed")
        assert "✔ completed" in screen_text(app)

        path.write_bytes(b"")  # truncated ...
        run = eventgen.mid_run(path, step=30, run_id="20990101-000000-000002")  # ... and a new run
        await settle(
            pilot, lambda: app.state.run_id == "20990101-000000-000002" and app.state.step == 30
        )
        text = screen_text(app)
        assert "20990101-000000-000002" in text and eventgen.RUN_ID not in text
        assert "● training" in text
        assert app.state.applied == 4  # run_start + 3 logs: nothing of the old run
        run.close()

        # Replaced by rename (another inode).
        other = tmp_path / "other.jsonl"
        eventgen.mid_run(other, step=20, run_id="20990101-000000-000003").close()
        os.replace(other, path)
        await settle(pilot, lambda: app.state.run_id == "20990101-000000-000003")
        assert app.state.step == 20 and app.state.applied == 3


async def test_malformed_lines_are_counted_never_fatal(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=100)
    eventgen.append_raw(path, b'not json at all\n{"truncated": \n[1, 2, 3]\n\xff\xfe\n{}\n')
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.malformed == 5)
        assert "malformed 5" in screen_text(app)
        eventgen.append_raw(path, b"garbage\n")
        run.log(110)
        await settle(pilot, lambda: app.state.step == 110)
        assert "malformed 6" in screen_text(app)
        assert app.is_running


async def test_unknown_type_and_newer_schema_are_warnings(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=100)
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 100)
        run.emit("gpu_temperature", 100, celsius=81)
        run.w.schema_version = 99
        run.log(110)
        await settle(pilot, lambda: app.state.step == 110)
        text = screen_text(app)
        assert "⚠ 2 warnings" in text
        assert "unknown event type 'gpu_temperature'" in text
        assert "schema v99" in text
        assert "step 110/2,000" in text


async def test_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    path = tmp_path / "later" / "events.jsonl"
    app = app_for(path)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert f"waiting for {path}" in text
        path.parent.mkdir()
        run = eventgen.mid_run(path, step=50)
        await settle(pilot, lambda: app.state.step == 50)
        assert "step 50/2,000" in screen_text(app)
        run.close()


async def test_untrusted_text_is_shown_literally(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=100)
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 100)
        eventgen.inject(run, 110)
        run.error("boom \x1b[2J [bold]not bold[/bold] [@click=app.quit]quit[/]")
        await settle(pilot, lambda: app.state.step == 110 and app.state.last_error is not None)
        text = screen_text(app)
        model = pane(app, "model")
        for literal in ("␛]52;c;SGVsbG8=␇", "␛[2J", "[bold red]x[/]", "[@click=app.quit]boom[/]"):
            assert literal in model, literal
        assert "prompt ␛[31mred␛[0m [b]bold[/b]" in text
        assert "boom ␛[2J [bold]not bold[/bold] [@click=app.quit]quit[/]" in text
        assert "\x1b" not in text and "\x07" not in text
        # Clicking the would-be link does nothing: the text is not markup.
        await pilot.click("#model")
        await pilot.pause()
        assert app.is_running


async def test_cold_open_fills_history_in_the_background(tmp_path: Path) -> None:
    """A file longer than the cold-open window: the tail shows first, then the whole run."""
    path = tmp_path / "events.jsonl"
    eventgen.append_raw(path, b"early garbage\n")
    written = eventgen.huge(path, 6000, example_chars=50)
    app = app_for(path)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.applied >= written)
        st = app.state
        assert st.applied == written, "history merged: every event once"
        assert st.malformed == 1, "the history's malformed line is counted"
        assert st.train_loss.first_step == 10, "the sparkline starts at the run's first step"
        assert st.run_id == eventgen.RUN_ID and st.model == eventgen.MODEL
        eventgen.append_raw(path, b"late garbage\n")
        await settle(pilot, lambda: app.state.malformed == 2)


async def test_help_lists_every_key_and_q_quits(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.mid_run(path, step=200).close()
    app = app_for(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.step == 200)
        await pilot.press("question_mark")
        await shows(pilot, lambda: "syllo-tui keys" in screen_text(app), "the help screen")
        text = screen_text(app)
        for key, what in [
            ("f / space", "follow / pause"),
            ("← / p", "previous example"),
            ("→ / n", "next example"),
            ("[", "previous eval"),
            ("]", "next eval"),
            ("t", "fold / unfold <think>"),
            ("?", "this list of keys"),
            ("q", "quit"),
            ("tab / shift+tab", "move between"),
        ]:
            assert any(key in line and what in line for line in text.splitlines()), (key, text)
        await pilot.press("escape")
        await shows(pilot, lambda: "syllo-tui keys" not in screen_text(app), "the help closed")
        await pilot.press("t")
        await settle(pilot)
        assert "chars folded" in pane(app, "model")
        await pilot.press("q")
    assert app.return_code == 0


async def test_long_texts_scroll_and_stale_runs_say_so(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=100)
    long_prompt = "\n".join(f"line {i:03d}" for i in range(200))
    example = {
        "index": 1,
        "prompt": long_prompt,
        "golden": "g",
        "prompt_tokens": 900,
        "golden_tokens": 1,
    }
    run.log(110, example={**example, "loss": 0.5})
    last = run.w.now
    app = make_app(path, clock=lambda: last + 600, tz=UTC)  # 10 minutes of silence
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.step == 110)
        assert "◌ stale: no event for 10m00s" in screen_text(app)
        prompt = app.query_one("#prompt", TextPane)
        await pilot.press("shift+tab", "shift+tab")  # from the model pane to the prompt pane
        assert app.focused is prompt
        assert "line 000" in screen_text(app)
        await pilot.press("pagedown", "pagedown")
        await shows(
            pilot,
            lambda: prompt.scroll_y > 0 and "line 000" not in screen_text(app),
            "the prompt pane scrolled down",
        )
        await pilot.press("end")
        await shows(pilot, lambda: "line 199" in screen_text(app), "the prompt pane's end")


async def test_a_redraw_that_fires_during_shutdown_does_nothing(tmp_path: Path) -> None:
    """A redraw timer (the clock tick, a coalesced redraw) can fire while the app shuts down.

    Textual removes the screens' widgets before it stops the app's timers, so a
    redraw that fired in between found no widgets and crashed the exit; on a
    loaded machine the timer fires late enough to land there. The shutdown
    state is reached here for certain, then the redraw is called.
    """
    path = tmp_path / "events.jsonl"
    eventgen.mid_run(path, step=100).close()
    app = app_for(path)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 100)
    assert not app.is_running and not app.query("RunHeader")  # the widgets are gone
    app._redraw()  # what a late timer does: must not raise
