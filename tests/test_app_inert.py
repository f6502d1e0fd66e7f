"""Untrusted text stays inert in the detail views: the token view, one prompt's history, a batch.

Every class of dangerous character of tests/test_inert.py (an escape
sequence, a C1 control, bidi overrides and isolates, a lone surrogate), and
Rich markup, put where the trainer copies model and data text: a token, a
special token, an eval output and its golden (diffed, so the pieces of a
diff are checked too), an anomaly's batch. The screen's cells must hold the
visible stand-in, never the raw character, and the markup as its brackets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import eventgen
import pytest
from _pilot import WIDE, app_for, screen_text, settle, shows
from test_inert import CLASSES

pytestmark = pytest.mark.asyncio

MARKUP = "[bold red]x[/]"


def _hostile_run(path: Path, text: str) -> eventgen.RunWriter:
    run = eventgen.mid_run(path, step=100)
    example = eventgen.chatml_tokens()
    example["tokens"]["text"][3] = f"{MARKUP}{text}"  # a masked token
    example["tokens"]["text"][17] = f"po{text}"  # a trained one
    example["tokens"]["text"][0] = f"<{text}>"  # a special one
    run.log(110, example=example)
    for step, output in ((200, f"pocket {text}"), (400, f"po-cket {text}!")):
        run.log(step)
        sample: dict[str, Any] = {
            **run.sample(0, "miss", output=output),
            "golden": f"po-cket {MARKUP}",
            "prompt": f"split {text}",
        }
        run.counters.generations += 1
        run.counters.evals += 1
        run.emit(
            "eval",
            step,
            total_steps=run.max_steps,
            epoch=0.5,
            val_loss=0.6,
            train_loss=0.5,
            gap=0.1,
            accuracy=0.0,
            samples=[sample],
            seconds=1.0,
        )
    batch = [{"index": 3, "prompt": f"{MARKUP} {text}", "golden": f"g {text}", "loss": 9.0}]
    run.anomaly(405, examples=batch)
    return run


def _inert_on_screen(screen: str, case: str, where: str) -> None:
    _, forbidden, stand_in = CLASSES[case]
    for bad in forbidden:
        assert bad.decode("utf-8", "surrogatepass") not in screen, f"{where}: raw {bad!r} ({case})"
    assert stand_in in screen, f"{where}: the stand-in {stand_in!r} is missing ({case})"
    assert MARKUP in screen, f"{where}: the markup was not shown as its brackets"


@pytest.mark.parametrize("case", list(CLASSES))
async def test_the_detail_views_show_untrusted_text_inert(case: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = _hostile_run(path, CLASSES[case][0])
    app = app_for(path, run)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, lambda: len(app.state.anomalies) == 1)
        await pilot.press("v")
        await shows(pilot, lambda: "tokens 1/1" in screen_text(app), "the token view")
        _inert_on_screen(screen_text(app), case, "the token view")
        await pilot.press("h")
        await shows(pilot, lambda: "eval prompt 0" in screen_text(app), "the history")
        _inert_on_screen(screen_text(app), case, "the history")
        assert "(change from @200" in screen_text(app), "the diff between rounds was drawn"
        await pilot.press("a")
        await shows(pilot, lambda: "anomaly 1/1" in screen_text(app), "the batch")
        _inert_on_screen(screen_text(app), case, "the batch view")
        assert app.is_running
