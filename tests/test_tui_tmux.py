"""End to end in a real terminal: the installed ``syllo-tui`` running inside tmux.

A separate writer process (``python tests/eventgen.py serve FILE``) appends
events through the real EventWriter; the test reads the terminal with
``tmux capture-pane`` and types with ``tmux send-keys``. Each test has its own
tmux server (``-L``) and config (tests/_tmux.py), killed at teardown. The
TUI's stderr is never redirected: a traceback would land on the captured
screen. How fast a write reaches the terminal is a benchmark's figure
(bench/bench_tui.py --terminal), not a verdict here.
"""

from __future__ import annotations

import re
import shlex
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import eventgen
import pytest
from _support import WAIT_S
from _tmux import Tmux, Writer, colour_codes, tui_command

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture()
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(tmp_path)
    yield t
    t.kill()


@pytest.fixture()
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer(tmp_path / "events.jsonl")
    yield w
    w.close()


def test_new_steps_show_and_q_exits_cleanly(tmp_path: Path, tmux: Tmux, writer: Writer) -> None:
    path = tmp_path / "events.jsonl"
    writer.do("mid_run")
    tmux.start(tui_command(shlex.quote(str(path))))
    tmux.wait_for(lambda s: "step 1,200/2,000" in s, "the TUI never showed the run")
    for step in (1210, 1220, 1230):
        writer.do(f"log {step}")
        tmux.wait_for(lambda s, step=step: f"step {step:,}/2,000" in s, f"step {step} never shown")
    tmux.keys("q")
    assert tmux.wait_exit() == 0


def test_escape_sequences_in_output_stay_inert_and_no_color(
    tmp_path: Path, tmux: Tmux, writer: Writer
) -> None:
    path = tmp_path / "events.jsonl"
    writer.do("mid_run")
    tmux.start(tui_command(shlex.quote(str(path))), env={"NO_COLOR": "1"})
    tmux.wait_for(lambda s: "step 1,200/2,000" in s, "the TUI never showed the run")
    writer.do("inject 1210")
    tmux.wait_for(lambda s: "[@click=app.quit]boom[/]" in s, "the injected output never showed")
    screen = tmux.screen()
    assert "␛]52;c;SGVsbG8=␇" in screen
    assert "␛[2J" in screen
    assert "[bold red]x[/]" in screen
    assert screen.splitlines()[0].lstrip().startswith("syllo"), "the screen was cleared"
    assert tmux.tmux("list-buffers") == "", "an OSC 52 reached the terminal"
    assert tmux.pane("#{pane_dead}") == "0", "the TUI died"
    # NO_COLOR: attributes (bold, reverse) stay, colours go.
    colours = colour_codes(tmux.screen(escapes=True))
    assert colours == [], colours[:5]
    tmux.keys("q")
    assert tmux.wait_exit() == 0


def test_reads_events_from_a_pipe(tmp_path: Path, tmux: Tmux, writer: Writer) -> None:
    """``tail -n +1 -F FILE | syllo-tui -``: events from stdin, keys from the terminal."""
    path = tmp_path / "events.jsonl"
    writer.do("mid_run")
    tmux.start(tui_command("-", pipe_from=f"tail -n +1 -F {shlex.quote(str(path))}"))
    tmux.wait_for(lambda s: "step 1,200/2,000" in s, "the TUI never showed the piped run")
    writer.do("log 1210")
    tmux.wait_for(lambda s: "step 1,210/2,000" in s, "a piped event never showed")
    tmux.keys("q")
    # tail only notices its reader is gone at its next write.
    deadline = time.monotonic() + WAIT_S
    step = 1220
    while "exited with status" not in tmux.screen(history=True) and time.monotonic() < deadline:
        writer.do(f"log {step}")
        step += 10
        time.sleep(0.2)
    assert tmux.wait_exit() == 0


def test_a_folder_of_three_runs_two_live(tmp_path: Path, tmux: Tmux) -> None:
    """syllo-tui runs/: the list follows the live runs, a run opens, the overlay shows both."""
    runs = tmp_path / "runs"
    (runs / "done").mkdir(parents=True)
    eventgen.finished(runs / "done" / "events.jsonl").close()
    writers = []
    try:
        for name in ("live1", "live2"):
            (runs / name).mkdir()
            writer = Writer(runs / name / "events.jsonl")
            writer.do("mid_run")
            writers.append(writer)
        tmux.start(tui_command(shlex.quote(str(runs))), size="120x40")
        tmux.wait_for(
            lambda s: all(n in s for n in ("done", "live1", "live2")) and "1,200/2,000" in s,
            "the run list never showed the three runs",
        )
        writers[0].do("log 1210")
        writers[1].do("log 1250")
        tmux.wait_for(
            lambda s: "1,210/2,000" in s and "1,250/2,000" in s, "the list never moved on"
        )
        # Open live2 (the third line): its own screen, then back to the list.
        tmux.keys("Down", "Down", "Enter")
        tmux.wait_for(
            lambda s: " live2 " in s.splitlines()[0] and "example" in s,
            "live2's screen never opened",
        )
        writers[1].do("log 1260")
        tmux.wait_for(lambda s: "step 1,260/2,000" in s, "live2's screen never moved on")
        tmux.keys("Escape")
        tmux.wait_for(lambda s: "last event" in s, "the list never came back")
        # The cursor is still on live2: mark it and live1 above it, and overlay them.
        tmux.keys("Space", "Up", "Space", "o")
        tmux.wait_for(
            lambda s: (
                "train loss by run" in s and "live1" in s and "live2" in s and "done" not in s
            ),
            "the overlay never showed both live runs",
        )
        tmux.keys("q")
        assert tmux.wait_exit() == 0
    finally:
        for writer in writers:
            writer.close()


def test_chart_view_without_colour(tmp_path: Path, tmux: Tmux, writer: Writer) -> None:
    """NO_COLOR in the chart view: plotext's charts keep their axes and markers, no colour codes."""
    path = tmp_path / "events.jsonl"
    writer.do("mid_run")
    tmux.start(tui_command(shlex.quote(str(path))), env={"NO_COLOR": "1"})
    tmux.wait_for(lambda s: "step 1,200/2,000" in s, "the TUI never showed the run")
    tmux.keys("g")
    tmux.wait_for(lambda s: "train loss" in s and "val loss" in s and "┤" in s, "no chart view")
    writer.do("log 1210")
    tmux.wait_for(lambda s: "train loss 0.4" in s and "step 1,210/2,000" in s, "no redraw")
    colours = colour_codes(tmux.screen(escapes=True))
    assert colours == [], colours[:5]
    tmux.keys("q")
    assert tmux.wait_exit() == 0


def test_token_view_diff_and_history_in_a_real_terminal(
    tmp_path: Path, tmux: Tmux, writer: Writer
) -> None:
    """v: a wrong mask flagged, hostile token text inert; the near miss diffed; h: its history.

    Under NO_COLOR: the token kinds still differ by attribute (masked dim, trained
    underlined, the highest losses reversed), with no colour code at all.
    """
    path = tmp_path / "events.jsonl"
    writer.do("mid_run")
    tmux.start(tui_command(shlex.quote(str(path))), env={"NO_COLOR": "1"}, size="120x40")
    tmux.wait_for(lambda s: "step 1,200/2,000" in s, "the TUI never showed the run")
    writer.do("tokens 1210")
    tmux.wait_for(lambda s: "step 1,210/2,000" in s, "the token example never came")
    tmux.keys("v")
    tmux.wait_for(lambda s: "⚠ 1 answer token masked" in s, "the token view never flagged the mask")
    screen = tmux.screen()
    assert "⟨|im_start|⟩assistant↵" in screen
    assert "␛]52;c;SGVsbG8=␇" in screen and "[bold]Split\\u202e" in screen
    assert tmux.tmux("list-buffers") == "", "an OSC 52 reached the terminal"
    escaped = tmux.screen(escapes=True)
    assert colour_codes(escaped) == [], colour_codes(escaped)[:5]
    attributes = {p for sgr in re.findall(r"\x1b\[([0-9;]*)m", escaped) for p in sgr.split(";")}
    assert {"2", "4", "7"} <= attributes, attributes  # dim, underline, reverse
    tmux.keys("v")
    tmux.wait_for(lambda s: "example " in s and "tokens 1/1" not in s, "no way back")
    writer.do("near_miss 1220")
    tmux.wait_for(lambda s: "step 1220 · eval · sample 1" in s, "the near miss never came")
    tmux.keys("Left")  # sample 0: POKET for POCKET
    tmux.wait_for(lambda s: "PO[-C-]KET" in s, "the model pane never diffed the near miss")
    tmux.keys("h")
    tmux.wait_for(
        lambda s: "eval prompt 0 · round 7/7 · step 1220" in s and "vs golden (1 char gone)" in s,
        "the prompt's history never showed",
    )
    assert tmux.pane("#{pane_dead}") == "0", "the TUI died"
    tmux.keys("q")
    assert tmux.wait_exit() == 0
