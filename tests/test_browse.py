"""browse.py: following, pausing and stepping through examples and evals, as plain functions."""

from __future__ import annotations

from pathlib import Path

import eventgen
from _folds import fold, read_all

from syllo_tui.browse import (
    Browser,
    eval_position,
    example_position,
    shown_anomaly,
    step_anomaly,
    token_example,
    token_position,
)
from syllo_tui.state import RunState


def test_following_shows_the_newest_and_pausing_stays(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=200)
    st = fold(path)
    b = Browser()
    newest = st.examples[-1]
    assert b.current_example(st) == newest and b.current_eval(st) == st.evals[-1]
    b.toggle_follow(st)
    assert not b.following and b.example == newest.seq
    run.log(210)
    st.apply_all(read_all(path)[-1:])
    assert b.current_example(st) == newest, "paused: the panes stay on their example"
    assert b.new_since_pause(st) == 1
    b.toggle_follow(st)
    assert b.following and b.current_example(st) == st.examples[-1] != newest
    assert b.new_since_pause(st) == 0


def test_stepping_examples_and_evals(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_timeouts(path)
    st = fold(path)
    examples = list(st.examples)
    b = Browser()
    assert b.step_example(st, -1) and b.step_example(st, -1)
    assert not b.following and b.current_example(st) == examples[-3]
    assert example_position(st, b.current_example(st)) == (len(examples) - 2, len(examples))
    assert b.step_example(st, +1) and b.current_example(st) == examples[-2]
    assert b.step_eval(st, -1)
    shown = b.current_example(st)
    assert shown is not None and (shown.step, shown.tier, shown.sample) == (800, "eval", 0)
    ev = b.current_eval(st)
    assert ev is not None and ev.step == 800
    assert eval_position(st, ev) == (4, 5)
    while b.step_eval(st, -1):
        pass
    assert b.current_eval(st) == st.evals[0], "stepping stops at the first eval"
    assert not b.step_eval(st, -1), "and says it did not move (the app rings the bell)"
    assert not Browser().step_example(RunState(), -1), "nothing to step to"
    assert example_position(st, None) == (0, 0) and eval_position(st, None) == (0, 0)


def test_remap_points_at_the_same_example_in_the_history_state(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_timeouts(path)
    events = read_all(path)
    cold = RunState()
    cold.apply_all(events[-30:])  # a cold open's window: the same examples, other seqs
    full = RunState()
    full.apply_all(events)
    b = Browser()
    assert b.step_eval(cold, -1)
    before = b.current_example(cold)
    assert before is not None
    b.remap(cold, full)
    after = b.current_example(full)
    assert after is not None and after is not before
    assert (after.step, after.tier, after.sample, after.index) == (
        before.step,
        before.tier,
        before.sample,
        before.index,
    )
    assert after.seq != before.seq, "seqs differ between the two states"
    ev = b.current_eval(full)
    assert ev is not None and ev.step == 800
    assert b.paused_at == full.applied, '"+N new" counts from the same point'
    assert b.new_since_pause(full) == 0


def test_another_run_in_the_file_goes_back_to_following(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.mid_run(path, step=100).close()
    st = fold(path)
    b = Browser()
    assert b.step_example(st, -1) and not b.following
    assert not b.check_restart(st)
    other = tmp_path / "other.jsonl"
    eventgen.mid_run(other, step=30, run_id="20990101-000000-000002").close()
    st.apply_all(read_all(other))
    assert st.restarts == 1
    assert b.check_restart(st) and b.following
    assert b.current_example(st) == st.examples[-1]


def test_the_token_view_shows_an_example_with_tokens_or_the_newest_before(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.with_tokens(path)  # 410
    run.log(420, example=eventgen.chatml_tokens("answer_masked"))
    run.log(430)  # no tokens
    st = fold(path)
    newest = st.examples[-1]
    shown, other = token_example(st, newest)
    assert other and shown is not None and shown.step == 420
    assert token_position(st, shown) == (2, 2)
    assert token_example(st, shown) == (shown, False)
    b = Browser()
    has_tokens = lambda e: st.tokens_of(e) is not None  # noqa: E731
    assert b.step_example(st, -1, has_tokens)  # from 430 (none): 410, one before 420
    assert b.current_example(st).step == 410  # type: ignore[union-attr]
    assert not b.step_example(st, -1, has_tokens), "none before the first"
    assert b.step_example(st, +1, has_tokens) and b.current_example(st).step == 420  # type: ignore[union-attr]


def test_anomalies_are_stepped_by_step_and_the_newest_follows(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_health(path)
    st = fold(path)
    anomaly, position = shown_anomaly(st, None)
    assert anomaly is not None and anomaly.step == 690 and position == (2, 2)
    step, moved = step_anomaly(st, None, -1)
    assert moved and step == 455 and shown_anomaly(st, step)[1] == (1, 2)
    assert step_anomaly(st, step, -1) == (455, False)
    assert step_anomaly(st, step, +1) == (None, True), "back on the newest: follow again"


def test_the_best_eval_is_shown_paused_at_its_first_sample(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_health(path)
    st = fold(path)
    b = Browser()
    assert st.best is not None and b.show_eval_at(st, st.best.step)
    assert not b.following
    assert b.current_eval(st).step == 400  # type: ignore[union-attr]
    assert b.current_example(st).step == 400 and b.current_example(st).sample == 0  # type: ignore[union-attr]
    assert not b.show_eval_at(st, 123), "no eval at that step"
