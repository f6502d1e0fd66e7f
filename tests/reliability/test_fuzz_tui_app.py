"""The live monitor on a stream of nonsense: it must keep reading and drawing, and never crash.

The stream parser and the state fold are fuzzed in test_fuzz.py; this drives
the whole app (real follower thread, real widgets, real redraws) headless with
Textual's Pilot. A file gets batches of event-shaped objects whose fields
hold the wrong types and the wrong magnitudes (``ts`` in the year 10^12, a
step of -2^63, a list where a loss goes, escape sequences everywhere); after
each batch the app must show the new state, and keys that move between
examples and evals are pressed in between.
"""

from __future__ import annotations

import random
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import _torture as T
import orjson
import pytest

from syllo_train.events import (
    COUNTER_FIELDS,
    EVAL_SAMPLE_FIELDS,
    EVENT_FIELDS,
    EVENT_TYPES,
    LOG_EXAMPLE_FIELDS,
)
from syllo_tui.app import SylloApp, make_app

pytestmark = [pytest.mark.reliability, pytest.mark.asyncio, pytest.mark.timeout(3600)]

BATCHES = T.knob("TUI_BATCHES", 40, 400)
KEYS = [
    "n",
    "p",
    "left",
    "right",
    "left_square_bracket",
    "right_square_bracket",
    "t",
    "f",
    "f",
    "end",
    "home",
]

WEIRD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**63 - 1,
    -(2**63),
    1e308,
    -1e308,
    1e20,
    -6.2e10,
    5e-324,
    0.5,
    "",
    "x",
    "nan",
    "\x1b]52;c;SGVsbG8=\x07\x1b[2J\x9b31m\u202e",
    "9" * 300,
    "<think>" * 50,
    [],
    {},
    [1, "a", None],
    {"a": {"b": [1]}},
]


def _plausible(types: tuple[type, ...], rnd: random.Random) -> Any:
    if bool in types:
        return rnd.random() < 0.5
    if int in types and float not in types:
        return rnd.randint(0, 5000)
    if float in types:
        return rnd.choice([rnd.uniform(0, 10), rnd.uniform(-1e6, 1e6), 0.0])
    if str in types:
        return rnd.choice(["hello", "<think>x</think>y", "line\nline", "ok"])
    if list in types:
        return []
    return {}


def _fields(spec: dict[str, tuple[tuple[type, ...], bool]], rnd: random.Random) -> dict[str, Any]:
    out = {}
    for name, (types, _nullable) in spec.items():
        roll = rnd.random()
        if roll < 0.15:
            continue  # missing
        out[name] = rnd.choice(WEIRD) if roll < 0.5 else _plausible(types, rnd)
    return out


def weird_event(rnd: random.Random, step: int) -> dict[str, Any]:
    etype = rnd.choice([*EVENT_TYPES, *EVENT_TYPES, "mystery", ""])
    event: dict[str, Any] = {"type": etype}
    if rnd.random() < 0.8:
        event.update(v=1, ts=time.time(), run_id=rnd.choice(["run-a", "run-a", "run-b"]), step=step)
    event.update(_fields(EVENT_FIELDS.get(etype, {}), rnd))
    for key in ("v", "ts", "run_id", "step"):
        if rnd.random() < 0.1:
            event[key] = rnd.choice(WEIRD)
    if "counters" in event and rnd.random() < 0.7:
        event["counters"] = {
            k: rnd.choice([*WEIRD, 3, 0.5]) for k in COUNTER_FIELDS if rnd.random() < 0.8
        }
    if etype == "log" and rnd.random() < 0.7:
        event["example"] = _fields(dict(LOG_EXAMPLE_FIELDS), rnd)
    if etype == "eval" and rnd.random() < 0.8:
        event["samples"] = [
            _fields(dict(EVAL_SAMPLE_FIELDS), rnd) for _ in range(rnd.randint(0, 4))
        ]
    return event


async def _settle(pilot: Any, app: SylloApp, since: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.state.version != since and app.drawn_version == app.state.version:
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(
        f"the app stopped following the file (state v{app.state.version}, drawn v{app.drawn_version})"
    )


async def test_live_tui_survives_nonsense_events(tmp_path: Path, figure: Any) -> None:
    rnd = T.rng("tui-app")
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"")
    app = make_app(path, tz=UTC, poll_interval_s=0.05)
    written = keys = 0
    async with app.run_test(size=(160, 48)) as pilot:
        for b in range(BATCHES):
            batch = [weird_event(rnd, step=10 * b + i) for i in range(rnd.randint(1, 6))]
            since = app.state.version
            with open(path, "ab") as fh:
                fh.write(b"".join(orjson.dumps(e) + b"\n" for e in batch))
            written += len(batch)
            await _settle(pilot, app, since)
            for _ in range(rnd.randint(0, 2)):
                await pilot.press(rnd.choice(KEYS))
                keys += 1
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running
    assert app.return_code in (None, 0)
    figure(
        "live syllo-tui (Pilot: real follower, widgets, redraws) fed batches of events with wrong-typed, "
        "out-of-range and hostile fields, keys pressed between batches",
        written,
        f"0 crashes; the screen caught up after each of {BATCHES} batches ({keys} key presses)",
        batches=BATCHES,
        key_presses=keys,
    )
