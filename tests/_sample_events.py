"""Events for the sinks' tests: built by the real EventWriter, every field of the contract."""

from __future__ import annotations

from typing import Any

from syllo_train.events import EVAL_SAMPLE_FIELDS, EVENT_FIELDS, LOG_EXAMPLE_FIELDS, EventWriter


def writer() -> EventWriter:
    return EventWriter("unused.jsonl", "run-1", enabled=False)


def value(types: tuple[type, ...]) -> Any:
    return {str: "x", int: 1, float: 1.5, bool: False, dict: {}, list: []}[types[0]]


def spec_fields(spec: dict[str, Any], nulls: bool) -> dict[str, Any]:
    """Every field of ``spec``: nullable ones None when ``nulls``, else a plain value."""
    return {
        name: None if (nulls and nullable) else value(types)
        for name, (types, nullable) in spec.items()
    }


def worst_case(etype: str, nulls: bool) -> dict[str, Any]:
    """An event of ``etype`` with every nullable field null (the origin crashed on these)."""
    fields = spec_fields({k: v for k, v in EVENT_FIELDS[etype].items() if k != "counters"}, nulls)
    if etype == "log" and not nulls:
        fields["example"] = spec_fields(LOG_EXAMPLE_FIELDS, nulls=True)
    if etype == "eval":
        sample = spec_fields(EVAL_SAMPLE_FIELDS, nulls=True) | {"timed_out": True}
        fields["samples"] = [sample, sample | {"timed_out": False}]
    if etype == "run_end":
        fields["status"] = "failed"
    return writer().build(etype, 3, **fields)


PROMPT = "Tiles: pro | fes | sor\n1. ___ ___ ___ — a university teacher"
GOLD = '{"solutions":[{"ans_num":1,"syllables":["pro","fes","sor"],"answer":"PROFESSOR"}]}'


def sample(k: int, output: str | None, match: bool | None, timed_out: bool) -> dict[str, Any]:
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


def eval_event(
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
