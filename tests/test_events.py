"""The event contract: writer → file → reader round trip, caps, drops, and the doc."""

from __future__ import annotations

import os
import re
from pathlib import Path

from syllo_train import events
from syllo_train.events import EVENT_FIELDS, EventWriter, validate_event
from syllo_tui.stream import EventTail

DOC = Path(__file__).resolve().parents[1] / "docs" / "events.md"

SAMPLE = {
    "index": 3,
    "prompt": "Tiles: pro | fes | sor",
    "golden": '{"solutions":[]}',
    "prompt_tokens": 12,
    "golden_tokens": 7,
}

# One valid payload per documented type; the test fails if a type is added to
# EVENT_FIELDS without a payload here.
PAYLOADS: dict[str, dict] = {
    "run_start": dict(
        config={"train": {"max_steps": 10}},
        model="m",
        params_total=10,
        params_trainable=10,
        train_examples=5,
        val_examples=2,
        eval_prompts=1,
        max_steps=10,
        world_size=1,
        resumed_from=None,
        device="cpu",
        pid=1,
        versions={"syllo": "0"},
    ),
    "log": dict(
        total_steps=10,
        epoch=0.5,
        loss=1.5,
        lr=1e-3,
        grad_norm=0.7,
        steps_per_s=None,
        tokens_per_s=None,
        eta_s=None,
        elapsed_s=1.0,
        peak_mem_bytes=1024,
        mem_kind="rss",
        example={**SAMPLE, "loss": 1.25},
    ),
    "eval": dict(
        total_steps=10,
        epoch=0.5,
        val_loss=1.7,
        train_loss=1.5,
        gap=0.2,
        accuracy=0.0,
        seconds=0.4,
        samples=[
            {
                **SAMPLE,
                "sample": 0,
                "output": "x",
                "match": False,
                "output_tokens": 1,
                "seconds": 0.1,
                "timed_out": False,
            },
            {
                **SAMPLE,
                "sample": 1,
                "output": None,
                "match": None,
                "output_tokens": 9,
                "seconds": 0.5,
                "timed_out": True,
            },
        ],
    ),
    "timeout": dict(sample=1, limit_s=0.5, elapsed_s=0.51, tokens=9, partial="{", stall=False),
    "checkpoint": dict(path="runs/x/checkpoint-10", seconds=0.1),
    "resume": dict(from_checkpoint="runs/x/checkpoint-10", reason="auto"),
    "run_end": dict(status="completed", reason=None, elapsed_s=3.0),
    "error": dict(error_type="RuntimeError", message="boom", traceback=None),
}


def test_every_type_has_a_payload() -> None:
    assert set(PAYLOADS) == set(EVENT_FIELDS)


def test_round_trip_every_type(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventWriter(path, "run-1") as w:
        written = [w.emit(t, step, **payload) for step, (t, payload) in enumerate(PAYLOADS.items())]
    tail = EventTail(path)
    got = tail.poll().events
    assert got == written
    for ev in got:
        assert validate_event(ev) == [], ev["type"]
        for name in (*events.COMMON_FIELDS, *EVENT_FIELDS[ev["type"]]):
            assert name in ev
    assert [e["type"] for e in got] == list(PAYLOADS)
    assert tail.malformed_total == 0


def test_validator_catches_contract_breaks() -> None:
    w = EventWriter(os.devnull, "r")
    ev = w.build("eval", 1, **PAYLOADS["eval"])
    assert validate_event(ev) == []
    bad = {**ev, "samples": [{**ev["samples"][1], "match": False}]}
    assert any("match must be null" in p for p in validate_event(bad))
    missing = {k: v for k, v in ev.items() if k != "val_loss"}
    assert any("val_loss" in p for p in validate_event(missing))
    assert any("bool" in p for p in validate_event({**ev, "step": True}))
    assert validate_event([1]) == ["event is not a JSON object"]
    # Unknown types are valid when their common fields are: readers skip them.
    assert validate_event({**ev, "type": "future_thing"}) == []


def test_counters_ride_on_events_and_are_cumulative(tmp_path: Path) -> None:
    w = EventWriter(tmp_path / "e.jsonl", "r")
    w.counters.generations, w.counters.timeouts, w.counters.matches = 4, 1, 2
    ev = w.emit("timeout", 3, **PAYLOADS["timeout"])
    c = ev["counters"]
    assert (c["generations"], c["timeouts"], c["timeout_pct"], c["accuracy"]) == (4, 1, 25.0, 0.5)
    assert set(events.COUNTER_FIELDS) <= set(c)
    assert events.Counters.from_dict(c) == w.counters
    assert "counters" not in w.emit("resume", 3, **PAYLOADS["resume"])
    assert events.Counters().as_dict()["accuracy"] is None


def test_long_texts_are_capped_and_marked(tmp_path: Path) -> None:
    w = EventWriter(tmp_path / "e.jsonl", "r", max_text_chars=50)
    long = "é" * 500
    ev = w.emit("timeout", 1, **{**PAYLOADS["timeout"], "partial": long})
    assert len(ev["partial"]) == 50 and ev["partial"].endswith(events.CUT_MARKER)
    assert ev["partial_cut"] == 500
    nested = w.emit(
        "eval",
        1,
        **{**PAYLOADS["eval"], "samples": [{**PAYLOADS["eval"]["samples"][0], "output": long}]},
    )
    assert nested["samples"][0]["output_cut"] == 500
    assert validate_event(nested) == []
    short = w.emit("timeout", 1, **PAYLOADS["timeout"])
    assert "partial_cut" not in short


def test_each_event_is_one_whole_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    w = EventWriter(path, "r")
    w.emit("error", 0, error_type="X", message="line1\nline2\r\n\x1b[2J", traceback=None)
    data = path.read_bytes()
    assert data.count(b"\n") == 1 and data.endswith(b"\n")


def test_failed_writes_are_counted_then_reported(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    w = EventWriter(path, "r")
    # Put a directory where the file was: every reopen fails with EISDIR, the
    # same failure shape as a full disk or a revoked permission, and root-proof.
    assert w._fd is not None
    os.close(w._fd)
    w._fd = os.open(path, os.O_RDONLY)
    path.unlink()
    path.mkdir()
    w.emit("checkpoint", 1, **PAYLOADS["checkpoint"])  # must not raise
    w.emit("checkpoint", 2, **PAYLOADS["checkpoint"])
    assert w.dropped == 2
    path.rmdir()
    ev = w.emit("checkpoint", 3, **PAYLOADS["checkpoint"])  # writing works again
    assert ev["counters"]["dropped_events"] == 2
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1


def test_docs_cover_every_type_field_and_counter() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert f"schema version {events.SCHEMA_VERSION}" in doc
    for etype, spec in EVENT_FIELDS.items():
        assert f"### `{etype}`" in doc, etype
        for name in spec:
            assert re.search(rf"\| `{name}` \|", doc), f"{etype}.{name} undocumented"
    for name in (
        *events.LOG_EXAMPLE_FIELDS,
        *events.EVAL_SAMPLE_FIELDS,
        *events.COUNTER_FIELDS,
        *events.COMMON_FIELDS,
    ):
        assert re.search(rf"\| `{name}` \|", doc), f"{name} undocumented"


def test_doc_example_lines_are_valid_events() -> None:
    doc = DOC.read_text(encoding="utf-8")
    lines = [ln for ln in doc.splitlines() if ln.startswith('{"v":')]
    assert len(lines) >= 6
    for ln in lines:
        assert validate_event(events.decode_event(ln)) == [], ln[:80]


def test_writer_ends_a_torn_last_line_before_its_first_event(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'{"v":1,"type":"log"}\n{"v":1,"type":"lo')  # a writer killed mid-line
    w = EventWriter(path, "r")
    ev = w.emit("resume", 3, **PAYLOADS["resume"])
    lines = path.read_bytes().split(b"\n")
    assert lines[1] == b'{"v":1,"type":"lo'  # the fragment alone is lost
    assert events.decode_event(lines[2]) == ev


def test_a_schema_v1_file_still_opens() -> None:
    """v2 added only optional fields: a v1 file (no tokenization, no think_opened) validates and folds."""
    from syllo_tui.state import RunState

    doc = DOC.read_text(encoding="utf-8")
    v1 = []
    for ln in (x for x in doc.splitlines() if x.startswith('{"v":')):
        event = events.decode_event(ln)
        event["v"] = 1
        event.pop("tokenization", None)
        for sample in event.get("samples", []):
            sample.pop("think_opened", None)
        v1.append(event)
    state = RunState()
    for event in v1:
        assert validate_event(event) == [], event["type"]
        state.apply(event)
    assert list(state.warnings) == [] and state.applied == len(v1)


def test_a_lone_surrogate_in_a_text_is_written_as_its_escape(tmp_path: Path) -> None:
    """A path from a non-UTF-8 file name, an exception message: text UTF-8 cannot encode.

    The writer must not raise (the error event would be lost and the run's end
    with it): such a character is written as the visible text ``\\ud800``.
    """
    path = tmp_path / "e.jsonl"
    w = EventWriter(path, "r")
    ev = w.emit("error", 3, error_type="OSError", message="bad name a\udcffb", traceback=None)
    assert ev["message"] == "bad name a\\udcffb"
    (line,) = path.read_bytes().splitlines()
    assert events.decode_event(line)["message"] == "bad name a\\udcffb"
    assert w.dropped == 0
