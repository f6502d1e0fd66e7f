"""The two folds of the event stream: the status snapshot and the human log (train.log)."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from syllo_train.events import (
    EVAL_SAMPLE_FIELDS,
    EVENT_FIELDS,
    LOG_EXAMPLE_FIELDS,
    EventWriter,
    validate_event,
)
from syllo_train.humanlog import HumanLog, format_event
from syllo_train.reporter import Reporter
from syllo_train.status import SNAPSHOT_NAME, StatusSnapshot, read_snapshot, write_json_atomic


def _writer() -> EventWriter:
    return EventWriter("unused.jsonl", "run-1", enabled=False)


def _value(types: tuple[type, ...]) -> Any:
    return {str: "x", int: 1, float: 1.5, bool: False, dict: {}, list: []}[types[0]]


def _spec_fields(spec: dict[str, Any], nulls: bool) -> dict[str, Any]:
    """Every field of ``spec``: nullable ones None when ``nulls``, else a plain value."""
    return {
        name: None if (nulls and nullable) else _value(types)
        for name, (types, nullable) in spec.items()
    }


def _worst_case(etype: str, nulls: bool) -> dict[str, Any]:
    """An event of ``etype`` with every nullable field null (the origin crashed on these)."""
    fields = _spec_fields({k: v for k, v in EVENT_FIELDS[etype].items() if k != "counters"}, nulls)
    if etype == "log" and not nulls:
        fields["example"] = _spec_fields(LOG_EXAMPLE_FIELDS, nulls=True)
    if etype == "eval":
        sample = _spec_fields(EVAL_SAMPLE_FIELDS, nulls=True) | {"timed_out": True}
        fields["samples"] = [sample, sample | {"timed_out": False}]
    if etype == "run_end":
        fields["status"] = "failed"
    return _writer().build(etype, 3, **fields)


@pytest.mark.parametrize("nulls", [True, False], ids=["nulls", "values"])
@pytest.mark.parametrize("etype", list(EVENT_FIELDS))
def test_every_event_type_formats_and_folds_with_nulls(etype: str, nulls: bool) -> None:
    event = _worst_case(etype, nulls)
    assert validate_event(event) == []  # a legal event, so the folds must take it
    text = format_event(event)
    assert isinstance(text, str) and text
    snap = StatusSnapshot("unused.json")
    snap.apply(event)
    json.dumps(snap.data)  # still plain data


# --- human log ------------------------------------------------------------------------------------

PROMPT = "Tiles: pro | fes | sor\n1. ___ ___ ___ — a university teacher"
GOLD = '{"solutions":[{"ans_num":1,"syllables":["pro","fes","sor"],"answer":"PROFESSOR"}]}'


def _sample(k: int, output: str | None, match: bool | None, timed_out: bool) -> dict[str, Any]:
    return {
        "sample": k,
        "index": k,
        "prompt": PROMPT,
        "golden": GOLD,
        "output": output,
        "match": match,
        "prompt_tokens": 20,
        "golden_tokens": 25,
        "output_tokens": 7,
        "seconds": 0.5,
        "timed_out": timed_out,
    }


def _eval_event(
    w: EventWriter, step: int, samples: list[dict[str, Any]], val_loss: float | None = 2.5
) -> dict[str, Any]:
    return w.build(
        "eval",
        step,
        total_steps=10,
        epoch=0.5,
        val_loss=val_loss,
        train_loss=2.0,
        gap=None if val_loss is None else val_loss - 2.0,
        accuracy=0.5,
        samples=samples,
        seconds=1.25,
    )


def test_eval_block_with_a_timed_out_null_output() -> None:
    w = _writer()
    event = _eval_event(
        w, 5, [_sample(0, None, None, True), _sample(1, f"<think>hm</think>{GOLD}", True, False)]
    )
    text = format_event(event)
    assert text is not None
    assert "Train=2.0000 | Val=2.5000 | Gap=+0.5000" in text
    assert "sample 0 — ⏱ TIMEOUT" in text and "sample 1 — ✅ MATCH" in text
    assert text.count("🤖 model:") == 2
    assert "    (none)" in text  # the null output, said plainly
    assert "<think>hm</think>" in text
    assert "📝 prompt:" in text and "✅ golden:" in text


def test_eval_block_without_val_loss() -> None:
    text = format_event(_eval_event(_writer(), 5, [_sample(0, "x", False, False)], val_loss=None))
    assert text is not None and "Val=n/a | Gap=n/a" in text and "❌ NO MATCH" in text


def test_log_block_and_null_example_loss() -> None:
    w = _writer()
    ex = {
        "index": 0,
        "prompt": PROMPT,
        "golden": GOLD,
        "prompt_tokens": 20,
        "golden_tokens": 25,
        "loss": None,
    }
    base = dict(
        total_steps=10,
        epoch=0.1,
        loss=2.0,
        lr=1e-4,
        grad_norm=None,
        steps_per_s=None,
        tokens_per_s=None,
        eta_s=None,
        elapsed_s=1.0,
        peak_mem_bytes=None,
        mem_kind="rss",
    )
    text = format_event(w.build("log", 2, example=ex, **base))
    assert text is not None
    assert text.startswith("[step 2/10] loss=2.0000 lr=1.00e-04 grad_norm=n/a")
    assert "📝 prompt (20 tokens):" in text and "✅ golden (25 tokens):" in text
    assert "loss on this example: n/a" in text
    assert "    1. ___ ___ ___ — a university teacher" in text  # multi-line prompts stay indented
    bare = format_event(w.build("log", 3, example=None, **base))
    assert bare is not None and "\n" not in bare


def test_timeout_line_is_greppable() -> None:
    w = _writer()
    w.counters.generations, w.counters.timeouts = 4, 1
    text = format_event(
        w.build(
            "timeout", 5, sample=1, limit_s=0.5, elapsed_s=0.51, tokens=9, partial=None, stall=False
        )
    )
    assert text is not None and text.startswith("⚠️ TIMEOUT: step 5 sample 1 cut off")
    assert "1 timeouts so far (25.0% of generations)" in text


def test_untrusted_output_cannot_drive_the_terminal(tmp_path: Path) -> None:
    # Model output goes to train.log and to the terminal (stdout echo): escape
    # sequences and other control characters must arrive inert.
    w = _writer()
    evil = "ok\x1b[2J\x1b]0;pwned\x07\rdone\x9b31m"
    echo = io.StringIO()
    log = HumanLog(tmp_path / "train.log", echo=echo)
    log.apply(_eval_event(w, 5, [_sample(0, evil, False, False)]))
    log.close()
    for text in ((tmp_path / "train.log").read_text(encoding="utf-8"), echo.getvalue()):
        assert not any(ch in text for ch in "\x1b\x07\r\x9b"), repr(text)
        # Visible and greppable instead (the CR became a line break in the indented block).
        assert "ok\\x1b[2J\\x1b]0;pwned\\x07" in text and "done\\x9b31m" in text


def test_long_texts_are_cut_in_the_log() -> None:
    uncapped = EventWriter("unused.jsonl", "run-1", enabled=False, max_text_chars=0)
    text = format_event(_eval_event(uncapped, 5, [_sample(0, "y" * 5000, False, False)]))
    assert text is not None
    assert "y" * 600 + "… [4400 more chars]" in text and "y" * 601 not in text


def test_human_log_file_and_echo(tmp_path: Path) -> None:
    echo = io.StringIO()
    log = HumanLog(tmp_path / "train.log", echo=echo)
    log.apply(_writer().build("checkpoint", 4, path="runs/x/checkpoint-4", seconds=0.25))
    log.write("first\nsecond")
    log.close()
    lines = (tmp_path / "train.log").read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith("💾 checkpoint at step 4: runs/x/checkpoint-4 (0.25s)")
    assert (
        lines[1].endswith(" first") and lines[2] == "second"
    )  # timestamp on a block's first line only
    assert echo.getvalue().splitlines() == lines


def test_human_log_survives_a_closed_echo(tmp_path: Path) -> None:
    echo = io.StringIO()
    echo.close()
    log = HumanLog(tmp_path / "train.log", echo=echo)
    log.write("still written")
    log.close()
    assert "still written" in (tmp_path / "train.log").read_text(encoding="utf-8")


# --- status snapshot ------------------------------------------------------------------------------


def test_snapshot_folds_a_run() -> None:
    w = _writer()
    snap = StatusSnapshot("unused.json")
    assert snap.data["status"] == "starting"
    snap.apply(
        w.build(
            "run_start",
            0,
            config={},
            model="m",
            params_total=10,
            params_trainable=10,
            train_examples=5,
            val_examples=2,
            eval_prompts=2,
            max_steps=10,
            world_size=1,
            resumed_from=None,
            device="cpu",
            pid=4242,
            versions={},
        )
    )
    assert (
        snap.data["status"],
        snap.data["total_steps"],
        snap.data["pid"],
        snap.data["model"],
    ) == ("training", 10, 4242, "m")
    ex = {
        "index": 1,
        "prompt": PROMPT,
        "golden": GOLD,
        "prompt_tokens": 20,
        "golden_tokens": 25,
        "loss": 1.9,
    }
    log = dict(
        total_steps=10,
        epoch=0.2,
        lr=1e-4,
        grad_norm=0.5,
        steps_per_s=2.0,
        tokens_per_s=100.0,
        eta_s=4.0,
        elapsed_s=1.0,
        peak_mem_bytes=1,
        mem_kind="rss",
        example=ex,
    )
    snap.apply(w.build("log", 2, loss=2.0, **log))
    assert (snap.data["step"], snap.data["loss"], snap.data["eta_s"]) == (2, 2.0, 4.0)
    assert snap.data["last_example"] == {
        "step": 2,
        "tier": "log",
        "prompt": PROMPT,
        "golden": GOLD,
        "output": None,
        "match": None,
        "loss": 1.9,
    }
    w.counters.generations, w.counters.timeouts, w.counters.evals = 2, 1, 1
    snap.apply(_eval_event(w, 4, [_sample(0, None, None, True), _sample(1, GOLD, True, False)]))
    assert (snap.data["val_loss"], snap.data["gap"], snap.data["last_eval_accuracy"]) == (
        2.5,
        0.5,
        0.5,
    )
    assert (
        snap.data["last_example"]["output"] is None and snap.data["last_example"]["match"] is None
    )
    assert snap.data["last_example"]["timed_out"] is True
    assert (snap.data["timeouts"], snap.data["timeout_pct"]) == (1, 50.0)
    snap.apply(w.build("log", 6, loss=1.5, **log))
    assert snap.data["gap"] == pytest.approx(2.5 - 1.5)  # the gap follows the newest train loss
    snap.apply(w.build("checkpoint", 6, path="runs/x/checkpoint-6", seconds=0.1))
    assert snap.data["last_checkpoint"]["step"] == 6
    end = w.build("run_end", 6, status="completed", reason=None, elapsed_s=9.0)
    snap.apply(end)
    assert (snap.data["status"], snap.data["step"], snap.data["eta_s"]) == ("completed", 6, 0.0)
    assert snap.data["counters"] == end["counters"] and snap.data["run_id"] == "run-1"


def test_snapshot_keeps_the_failure_reason() -> None:
    w = _writer()
    snap = StatusSnapshot("unused.json")
    snap.apply(w.build("error", 3, error_type="RuntimeError", message="boom", traceback=None))
    snap.apply(w.build("run_end", 3, status="failed", reason="RuntimeError: boom", elapsed_s=1.0))
    assert (snap.data["status"], snap.data["reason"]) == ("failed", "RuntimeError: boom")


def test_atomic_write_readers_never_see_half_a_file(tmp_path: Path) -> None:
    path = tmp_path / SNAPSHOT_NAME
    # Large versions (hundreds of KB) make a torn read likely if the write were in place.
    versions = [{"version": i, "pad": str(i) * 200_000} for i in range(4)]
    write_json_atomic(path, versions[0])
    stop = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                data = read_snapshot(path)
            except ValueError as exc:
                problems.append(str(exc)[:200])
                continue
            seen.append(data["version"])
            if data != versions[data["version"]]:
                problems.append(f"version {data['version']} differs")

    t = threading.Thread(target=reader)
    t.start()
    try:
        for n in range(40):
            write_json_atomic(path, versions[n % 4], fsync=(n % 10 == 0))
    finally:
        stop.set()
        t.join()
    assert problems == []
    assert seen
    assert read_snapshot(path) == versions[39 % 4]
    assert [p.name for p in tmp_path.iterdir()] == [SNAPSHOT_NAME]  # no temp files left behind


def test_failed_write_leaves_no_temp_and_snapshot_write_reports_it(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_json_atomic(tmp_path / "missing" / SNAPSHOT_NAME, {"a": 1})
    target = tmp_path / "is-a-dir"
    (target / "x").mkdir(parents=True)  # a non-empty folder: the rename over it fails
    with pytest.raises(OSError):
        write_json_atomic(target, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["is-a-dir"]
    assert StatusSnapshot(tmp_path / "missing" / SNAPSHOT_NAME).write() is False


def test_read_snapshot_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / SNAPSHOT_NAME
    bad.write_text("{half")
    with pytest.raises(ValueError, match=str(bad)):
        read_snapshot(bad)


# --- the reporter: one emit, three outputs that agree ------------------------------------------------


def test_reporter_outputs_agree(tmp_path: Path) -> None:
    rep = Reporter(tmp_path, run_id="run-7")
    rep.emit(
        "run_start",
        0,
        config={},
        model="m",
        params_total=1,
        params_trainable=1,
        train_examples=1,
        val_examples=1,
        eval_prompts=1,
        max_steps=4,
        world_size=1,
        resumed_from=None,
        device="cpu",
        pid=1,
        versions={},
    )
    rep.counters.evals, rep.counters.generations, rep.counters.timeouts = 1, 1, 1
    rep.emit(
        "eval",
        2,
        total_steps=4,
        epoch=0.5,
        val_loss=None,
        train_loss=None,
        gap=None,
        accuracy=0.0,
        samples=[_sample(0, None, None, True)],
        seconds=0.5,
    )
    rep.note("⚠️ a note for people only")
    last = rep.emit("run_end", 2, status="stopped", reason="SIGTERM received", elapsed_s=2.0)
    rep.close()
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["type"] for e in events] == ["run_start", "eval", "run_end"]
    assert all(validate_event(e) == [] for e in events)
    snap = read_snapshot(tmp_path / SNAPSHOT_NAME)
    assert (snap["status"], snap["step"], snap["counters"]) == ("stopped", 2, last["counters"])
    log = (tmp_path / "train.log").read_text(encoding="utf-8")
    assert (
        "⏱ TIMEOUT" in log and "a note for people only" in log and "■ run stopped at step 2" in log
    )
    assert "a note" not in (tmp_path / "events.jsonl").read_text(encoding="utf-8")
