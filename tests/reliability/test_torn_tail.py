"""A writer killed in the middle of a line must not cost the next writer its first event.

An event is one ``write`` call, but a kill -9 during a write of more than a
page can leave part of it (a torn last line, no ``\\n``). The next process to
append (the restarted trainer, or the supervisor recording ``run_end``) must
start on a fresh line: glued onto the torn bytes, its ``run_start`` would be
unreadable, and a reader would lose the run's identity and config.

Real files, the real Reporter (no torch needed): every byte offset at which a
real event line could be cut is tried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import _torture as T
import orjson
import pytest

from syllo_train.events import EVENTS_FILE as EVENTS_NAME
from syllo_train.events import EventWriter
from syllo_train.sinks.reporter import Reporter

pytestmark = pytest.mark.reliability


def _a_real_line(tmp: Path) -> bytes:
    path = tmp / "one.jsonl"
    with EventWriter(path, "run-a") as w:
        w.emit(
            "log",
            7,
            total_steps=10,
            epoch=0.5,
            loss=1.0,
            lr=1e-4,
            grad_norm=1.0,
            steps_per_s=1.0,
            tokens_per_s=100.0,
            eta_s=3.0,
            elapsed_s=7.0,
            peak_mem_bytes=1,
            mem_kind="rss",
            example={
                "index": 0,
                "prompt": "p" * 300,
                "golden": "g",
                "prompt_tokens": 1,
                "golden_tokens": 1,
                "loss": 1.0,
            },
        )
    return path.read_bytes()


def test_a_torn_last_line_is_ended_before_the_next_event(tmp_path: Path, figure: Any) -> None:
    line = _a_real_line(tmp_path)
    head = b'{"v":1,"type":"note","ts":1.0,"run_id":"run-a","step":0}\n'  # any valid event
    cuts = range(1, len(line) - 1)  # every cut that leaves a line without its newline
    for cut in cuts:
        out = tmp_path / f"cut{cut}"
        out.mkdir()
        (out / EVENTS_NAME).write_bytes(head + line[:cut])
        rep = Reporter(out, run_id="run-b")
        try:
            rep.emit("resume", 5, from_checkpoint="runs/out/checkpoint-5", reason="test")
        finally:
            rep.close()
        ev = T.read_events_file(out / EVENTS_NAME, allowed_bad=frozenset({2}))
        assert not ev.bad_lines and ev.torn_tail == b"", (cut, ev.bad_lines)
        assert [e["type"] for e in ev.events] == ["note", "resume"], cut
        assert orjson.loads((out / EVENTS_NAME).read_bytes().split(b"\n")[2])["run_id"] == "run-b"
    # A file that ends cleanly is left as it is: no blank line is added.
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / EVENTS_NAME).write_bytes(head)
    Reporter(clean).close()
    assert (clean / EVENTS_NAME).read_bytes() == head
    figure(
        "append after a writer killed mid-line (every cut point of a real event line)",
        len(cuts),
        "only the torn line itself; the next writer's events all parse",
    )
