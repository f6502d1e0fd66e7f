"""prompts.py: one eval prompt across the run (its rounds, its first match) and the history cursor.

The rounds come from files written by tests/eventgen.py (the real EventWriter),
folded as the app folds them.
"""

from __future__ import annotations

from pathlib import Path

import eventgen
from _folds import fold, read_all

from syllo_tui.prompts import PromptCursor, PromptHistory, Round
from syllo_tui.state import RunState


def test_every_round_of_a_prompt_and_its_first_match(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    eventgen.prompt_rounds(path).close()
    history = fold(path).prompts
    assert history.samples() == [0, 1]
    rounds = history.rounds(0)
    assert [r.step for r in rounds] == [200, 400, 600, 800, 1000]
    assert tuple(r.output for r in rounds) == eventgen.ROUND_OUTPUTS
    assert [r.match for r in rounds] == [False, False, True, True, False]
    assert history.first_match(0) == 600
    assert history.first_match(1) is None


def test_a_resume_forgets_the_rounds_it_redoes_and_their_match() -> None:
    history = PromptHistory()
    for step, match in ((200, False), (400, True), (600, True)):
        history.add(0, Round(step, "p", "g", "out", match))
    history.cut_after(300)
    assert [r.step for r in history.rounds(0)] == [200]
    assert history.first_match(0) is None
    history.add(0, Round(400, "p", "g", "out", False))
    history.add(0, Round(400, "p", "g", "again", True))  # a step seen again replaces it
    assert [r.output for r in history.rounds(0)] == ["out", "again"]
    assert history.first_match(0) == 400


def test_the_cursor_follows_the_newest_round_until_stepped(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    eventgen.prompt_rounds(path).close()
    events = read_all(path)
    st = RunState()
    st.apply_all(events[:-1])  # the last eval not yet written
    cursor = PromptCursor()
    cursor.open_at(st.prompts, None, None)
    assert cursor.shown(st.prompts) == (0, 3)
    assert cursor.step_round(st.prompts, -1) and cursor.step == 600
    assert not cursor.step_round(st.prompts, -3)  # before the first round: stays
    st.apply(events[-1])
    assert cursor.shown(st.prompts) == (0, 2), "stepped back: a new round does not move it"
    assert cursor.step_round(st.prompts, +1) and cursor.step_round(st.prompts, +1)
    assert cursor.step is None and cursor.shown(st.prompts) == (0, 4)  # the newest: follows
    assert cursor.step_prompt(st.prompts, +1) and cursor.sample == 1
    assert not cursor.step_prompt(st.prompts, +1)
    cursor.open_at(st.prompts, 0, 400)
    assert cursor.shown(st.prompts) == (0, 1)
