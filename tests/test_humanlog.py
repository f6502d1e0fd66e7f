"""sinks/humanlog.py: train.log, the human log a person tails or greps (and its stdout echo)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from _sample_events import GOLD, PROMPT, eval_event, sample, worst_case, writer

from syllo_train.events import EVENT_FIELDS, EventWriter, validate_event
from syllo_train.sinks.humanlog import HumanLog, format_event


@pytest.mark.parametrize("nulls", [True, False], ids=["nulls", "values"])
@pytest.mark.parametrize("etype", list(EVENT_FIELDS))
def test_every_event_type_formats_with_nulls(etype: str, nulls: bool) -> None:
    event = worst_case(etype, nulls)
    assert validate_event(event) == []  # a legal event, so the log must take it
    text = format_event(event)
    assert isinstance(text, str) and text


def test_eval_block_with_a_timed_out_null_output() -> None:
    w = writer()
    event = eval_event(
        w, 5, [sample(0, None, None, True), sample(1, f"<think>hm</think>{GOLD}", True, False)]
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
    text = format_event(eval_event(writer(), 5, [sample(0, "x", False, False)], val_loss=None))
    assert text is not None and "Val=n/a | Gap=n/a" in text and "❌ NO MATCH" in text


def test_log_block_and_null_example_loss() -> None:
    w = writer()
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
    w = writer()
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
    w = writer()
    evil = "ok\x1b[2J\x1b]0;pwned\x07\rdone\x9b31m"
    echo = io.StringIO()
    log = HumanLog(tmp_path / "train.log", echo=echo)
    log.apply(eval_event(w, 5, [sample(0, evil, False, False)]))
    log.close()
    for text in ((tmp_path / "train.log").read_text(encoding="utf-8"), echo.getvalue()):
        assert not any(ch in text for ch in "\x1b\x07\r\x9b"), repr(text)
        # Visible instead, in syllo_train.inert's one form: control pictures for C0
        # (the CR became a line break in the indented block), \\x9b for C1.
        assert "ok␛[2J␛]0;pwned␇" in text and "done\\x9b31m" in text


def test_long_texts_are_cut_in_the_log() -> None:
    uncapped = EventWriter("unused.jsonl", "run-1", enabled=False, max_text_chars=0)
    text = format_event(eval_event(uncapped, 5, [sample(0, "y" * 5000, False, False)]))
    assert text is not None
    assert "y" * 600 + "… [4400 more chars]" in text and "y" * 601 not in text


def test_human_log_file_and_echo(tmp_path: Path) -> None:
    echo = io.StringIO()
    log = HumanLog(tmp_path / "train.log", echo=echo)
    log.apply(writer().build("checkpoint", 4, path="runs/x/checkpoint-4", seconds=0.25))
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
