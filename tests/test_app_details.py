"""The detail views under Pilot: the token view (v), one prompt's history (h), an anomaly's batch (a).

Also the model pane's diff against the golden, the best eval (b), the health
line, and the overfitting rule (the gap widened at each of the last K evals)
as the screen shows it. Each test writes a real file with tests/eventgen.py,
runs the real app headless and reads the screen's cells; it waits on what
the screen shows or the app's state, never on time.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import eventgen
import pytest
from _pilot import WIDE, app_for, pane, screen_text, settle, shows

from syllo_tui.follower import TAIL_EVENTS

pytestmark = pytest.mark.asyncio


def then(text: str, first: str, second: str) -> bool:
    """Whether a line of the screen holds ``first`` and the line under it ``second``."""
    lines = text.splitlines()
    return any(first in a and second in b for a, b in pairwise(lines))


# -- the token view -------------------------------------------------------------------


async def test_token_view_shows_the_mask_the_losses_and_the_special_tokens(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.with_tokens(path)
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 410)
        await pilot.press("v")
        await shows(pilot, lambda: "tokens 1/1 · step 410" in screen_text(app), "the token view")
        text = screen_text(app)
        assert "22 tokens, 4 trained" in text
        # The mask strip is the event's trained flags, one cell a token, literally.
        trained = eventgen.chatml_tokens()["tokens"]["trained"]
        assert "mask   " + "".join("█" if t else "░" for t in trained) in text
        assert 'highest "cket" 4.73 @19 · "po" 0.21 @17' in text
        assert "⟨|im_start|⟩assistant↵" in text
        assert "po-cket⟨|im_end|⟩↵" in text
        assert "⚠" not in text and "‹!›" not in text.split("flagged", 1)[1], "a right mask"
        await pilot.press("v")
        await shows(pilot, lambda: "example " in screen_text(app), "back to the run view")
        assert app.view == "run"


@pytest.mark.parametrize(
    ("mask", "finding", "flagged"),
    [
        ("answer_masked", "1 answer token masked: it is not learned", "cket‹!›"),
        ("prompt_trained", "1 token before the answer trained: a prompt token", "pocket‹!›"),
        ("double_bos", "doubled ⟨s⟩ at the start: BOS written twice?", "⟨s⟩‹!›⟨s⟩‹!›"),
        ("eot_masked", "⟨|im_end|⟩ after the answer is not trained", "⟨|im_end|⟩‹!›"),
    ],
)
async def test_a_wrong_mask_is_named_and_its_tokens_flagged(
    mask: str, finding: str, flagged: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.with_tokens(path, mask)
    app = app_for(path, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.step == 410)
        await pilot.press("v")
        await shows(pilot, lambda: "⚠" in screen_text(app), f"the finding on {mask}")
        text = screen_text(app)
        assert f"⚠ {finding}" in text
        assert flagged in text


async def test_token_view_steps_through_the_examples_that_carry_tokens(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.with_tokens(path)  # step 410: a right mask
    run.log(420, example=eventgen.chatml_tokens("answer_masked"))
    run.log(430)  # an example without its tokens
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 430)
        await pilot.press("v")
        await shows(pilot, lambda: "tokens 2/2 · step 420" in screen_text(app), "the newest")
        assert "the newest trained example before the one shown" in screen_text(app)
        assert "⚠ 1 answer token masked" in screen_text(app)
        await pilot.press("left")
        await shows(pilot, lambda: "tokens 1/2 · step 410" in screen_text(app), "the one before")
        assert not app.following and "⚠" not in screen_text(app)
        await pilot.press("right")
        await shows(pilot, lambda: "tokens 2/2 · step 420" in screen_text(app), "the next")
        redraws = app.redraws
        await pilot.press("right")  # none after it: nothing moves
        await settle(pilot, lambda: app.redraws > redraws)
        assert "tokens 2/2 · step 420" in screen_text(app)


async def test_token_view_of_a_run_without_token_views_says_how_to_get_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=200)
    app = app_for(path, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.step == 200)
        await pilot.press("v")
        await shows(pilot, lambda: "no token view yet" in screen_text(app), "the hint")
        assert "monitor.example_tokens" in screen_text(app)


# -- what changed: the model pane and one prompt's history ------------------------------


async def test_the_model_pane_shows_a_near_miss_against_its_golden(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path)
    eventgen.near_miss(run, 1210)
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 1210)
        await pilot.press("left")  # from sample 1 (unlike its golden) to sample 0
        await shows(pilot, lambda: pane(app, "golden") == "POCKET", "sample 0")
        assert pane(app, "model") == "PO[-C-]KET"
        assert "1 char gone" in screen_text(app)


async def test_history_steps_through_one_prompts_rounds(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.prompt_rounds(path)
    app = app_for(path, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.step == 1000)
        await pilot.press("h", "left_square_bracket")
        await shows(pilot, lambda: "eval prompt 0 · round 5/5" in screen_text(app), "prompt 0")
        text = screen_text(app)
        assert "step 1000 · ✗ NO MATCH · first matched @600" in text
        assert "rounds  @200✗ @400✗ @600✓ @800✓ [@1000✗]" in text
        assert then(text, "(change from @800: 1 char new)", "po-cket{+t+}")
        await pilot.press("left", "left")
        await shows(pilot, lambda: "round 3/5 · step 600 · ✓ MATCH" in screen_text(app), "@600")
        assert "po-{+c+}ket" in screen_text(app)
        await pilot.press("left", "left")
        await shows(pilot, lambda: "round 1/5 · step 200" in screen_text(app), "the first round")
        assert then(screen_text(app), "(the first round in the file)", "pock-et")
        await pilot.press("right_square_bracket")  # prompt 1, at the same round
        await shows(pilot, lambda: "eval prompt 1 · round 1/5" in screen_text(app), "prompt 1")
        assert "never matched yet" in screen_text(app)


async def test_history_is_filled_in_after_a_cold_open(tmp_path: Path) -> None:
    """The evals lie before the cold-open window: the background fold brings every round."""
    path = tmp_path / "events.jsonl"
    run = eventgen.prompt_rounds(path, max_steps=5000)
    for step in range(1001, 1001 + TAIL_EVENTS + 100):
        run.log(step, example=False)
    app = app_for(path, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.step == 1000 + TAIL_EVENTS + 100)
        assert len(app.state.prompts.rounds(0)) == 5
        await pilot.press("h", "left_square_bracket")
        await shows(pilot, lambda: "eval prompt 0" in screen_text(app), "the history")
        assert "first matched @600" in screen_text(app)
        assert "@200✗ @400✗ @600✓ @800✓ [@1000✗]" in screen_text(app)


# -- run health: anomalies, the best eval, overfitting -----------------------------------


async def test_anomalies_and_the_best_eval_are_marked_and_reachable(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.with_health(path)
    app = app_for(path, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.step == 1000)
        text = screen_text(app)
        assert "health   ! 2 @690 · ★ 0.7 @400" in text
        trends = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ ")}
        assert trends["train"].count("!") == 2 and "★" in trends["val"]
        await pilot.press("a")
        await shows(pilot, lambda: "anomaly 2/2 · step 690" in screen_text(app), "the newest")
        assert "the loss is not finite" in screen_text(app)
        assert "its batch: 4 examples, 3 shown" in screen_text(app)
        await pilot.press("left")
        await shows(pilot, lambda: "anomaly 1/2 · step 455" in screen_text(app), "the first")
        text = screen_text(app)
        assert "loss spike 9.5 (threshold 3.25)" in text
        assert "row 100 · its loss 9.5000" in text
        assert "Split the word 'banana' into syllables." in text
        await pilot.press("b")  # the best eval: the run view, paused on it
        await shows(pilot, lambda: app.view == "run" and "#2 @400" in screen_text(app), "@400")
        assert not app.following
        assert app.current_example() is not None and app.current_example().step == 400  # type: ignore[union-attr]


async def test_the_charts_mark_each_anomaly_and_the_best_eval(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.with_health(path)
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 1000)
        await pilot.press("g")
        await shows(pilot, lambda: "! anomaly @455, @690" in screen_text(app), "the marks")
        assert "★ best eval @400 " in screen_text(app), "the best so far, not the ones it replaced"


def _gap_stream(path: Path, gaps: list[float], k: int) -> eventgen.RunWriter:
    run = eventgen.RunWriter(path)
    run.run_start(monitor={"log_steps": 10, "overfit_evals": k})
    for i, gap in enumerate(gaps):
        step = 100 * (i + 1)
        run.log(step)
        run.eval(step, val_loss=round(1.0 + gap, 4), train_loss=1.0, gap=gap)
    return run


@pytest.mark.parametrize(
    ("gaps", "k", "expected"),
    [
        ([0.1, 0.2, 0.3, 0.4], 3, True),  # three rises in a row
        ([0.1, 0.2, 0.3], 3, False),  # only two
        ([0.1, 0.3, 0.2, 0.4], 3, False),  # a fall breaks the run
        ([-0.4, -0.3, -0.2, -0.1], 3, False),  # widening toward zero is not overfitting
        ([0.1, 0.2], 1, True),  # k = 1: one rise is enough
    ],
)
async def test_overfitting_on_screen_is_k_widening_evals(
    gaps: list[float], k: int, expected: bool, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    run = _gap_stream(path, gaps, k)
    app = app_for(path, run)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.state.step == 100 * len(gaps))
        text = screen_text(app)
        gap_line = next(line for line in text.splitlines() if line.startswith("│ gap"))
        assert ("▲" in gap_line) is expected, gap_line
        assert ("overfit    the train/val gap widened" in text) is expected


async def test_help_lists_the_detail_views_keys(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=200)
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: app.state.step == 200)
        await pilot.press("question_mark")
        await shows(pilot, lambda: "syllo-tui keys" in screen_text(app), "the help screen")
        lines = screen_text(app).splitlines()
        for key, what in [
            ("v", "the trained example token by token"),
            ("h", "an eval prompt at each round"),
            ("a", "the latest anomaly and its batch"),
            ("b", "the best eval"),
        ]:
            assert any(f" {key}  " in line and what in line for line in lines), (key, lines)
