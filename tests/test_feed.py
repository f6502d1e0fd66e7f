"""feed.py: the cold-open state, the folded history swapped in, live events replayed once.

The batches are the follower's own (a real file, cold-opened with
follower.cold_open_events); the history fold runs here on the test's thread,
where the app would run it on a worker thread.
"""

from __future__ import annotations

import os
from pathlib import Path

import eventgen
import pytest
from _folds import read_all

from syllo_tui import feed as feed_mod
from syllo_tui.feed import Feed
from syllo_tui.follower import Batch, cold_open_events
from syllo_tui.stream import EventTail, ReadResult


def cold_batch(tail: EventTail) -> Batch:
    events = cold_open_events(tail)
    return Batch(ReadResult(events=events), cold=True, history=tail.history())


def test_history_replaces_the_cold_open_state_with_live_events_replayed(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.append_raw(path, b"early garbage\n")
    written = eventgen.huge(path, 6000, example_chars=50)
    with EventTail(path) as tail:
        feed = Feed()
        job = feed.take(cold_batch(tail))
        assert job is not None and feed.history_pending
        cold = feed.state
        assert cold.applied < written, "the cold open shows the tail only"
        assert cold.train_loss.first_step != 10
        # The run goes on while the history folds: these must show up exactly once.
        with open(path, "a") as fh:
            fh.write('{"v":2,"type":"log","step":999990,"loss":0.1}\n')
        assert feed.take(Batch(tail.poll())) is None
        assert feed.history_folded(feed.fold(job))
    st = feed.state
    assert st is not cold and not feed.history_pending
    assert st.applied == written + 1, "every event once: history, cold window and live"
    assert st.malformed == 1, "the history's malformed line is counted"
    assert st.train_loss.first_step == 10 and st.step == 999990
    assert st.run_id == eventgen.RUN_ID


def test_a_reset_abandons_the_history_being_folded(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.huge(path, 3000, example_chars=50)
    with EventTail(path) as tail:
        feed = Feed()
        job = feed.take(cold_batch(tail))
        assert job is not None
        feed.take(Batch(ReadResult(reset=True)))  # truncated or replaced meanwhile
        assert not feed.history_pending and feed.state.applied == 0
        result = feed.fold(job)
        assert result.state is None, "the fold noticed it was cancelled"
        assert not feed.history_folded(result), "and its result is ignored"
        assert feed.state.applied == 0


def test_too_many_live_events_keep_the_cold_open_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_mod, "MAX_REPLAY_EVENTS", 5)
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=1200)
    with EventTail(path) as tail:
        tail.seek_tail(max_events=20)  # a short cold-open window: history lies before it
        feed = Feed()
        job = feed.take(Batch(ReadResult(), cold=True, history=tail.history()))
        assert job is not None
        for step in range(1210, 1280, 10):
            run.log(step)
        feed.take(Batch(tail.poll()))
        assert not feed.history_pending
        assert not feed.history_folded(feed.fold(job))
        assert "too many new events to merge" in feed.state.warnings[-1]
        assert feed.state.step == 1270


def test_a_failed_fold_says_why_and_keeps_the_state(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.mid_run(path, step=1200).close()
    with EventTail(path) as tail:
        tail.seek_tail(max_events=20)
        feed = Feed()
        job = feed.take(
            Batch(ReadResult(events=read_all(path)[-20:]), cold=True, history=tail.history())
        )
        assert job is not None
        os.close(job.history._fd)  # type: ignore[arg-type]  # the descriptor gone under it: reads fail
        job.history._fd = os.open(tmp_path, os.O_RDONLY)  # a folder: pread fails with EISDIR
        before = feed.state
        result = feed.fold(job)
        assert result.error is not None
        assert feed.history_folded(result)
        assert feed.state is before
        assert any("could not read the file's history" in w for w in feed.state.warnings)


def test_a_source_error_and_the_end_of_input_are_noted() -> None:
    feed = Feed(clock=lambda: 5.0)
    feed.take(Batch(ReadResult(), error="cannot read x: Permission denied"))
    assert feed.source_note == "cannot read x: Permission denied"
    assert feed.state.warnings[-1] == "cannot read x: Permission denied"
    feed.take(Batch(ReadResult(eof=True)))
    assert feed.source_ended and feed.source_note == "input ended"
    feed.take(Batch(ReadResult(events=[{"type": "log", "step": 1, "loss": []}])))
    assert feed.state.step == 1, "a wrong-typed field is absent, never fatal"


def test_the_history_opens_on_the_prompt_shown_at_its_round_when_paused(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.prompt_rounds(path)
    feed = Feed()
    feed.state.apply_all(read_all(path))
    history = feed.state.prompts
    feed.open_history()  # following: the newest sample (prompt 1), its newest round
    assert feed.prompt_cursor.shown(history) == (1, 4)
    feed.browser.step_eval(feed.state, -2)  # paused on the eval at 600, its first sample
    feed.open_history()
    assert feed.prompt_cursor.shown(history) == (0, 2)
    assert history.first_match(0) == 600
