"""End to end in a real terminal: the installed ``syllo-tui`` running inside tmux.

A separate writer process (``python tests/eventgen.py serve FILE``) appends
events through the real EventWriter; the test reads the terminal with
``tmux capture-pane`` and types with ``tmux send-keys``. Each test has its own
tmux server (``-L``), killed at teardown. The TUI's stderr is never
redirected: a traceback would land on the captured screen.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

REPO = Path(__file__).resolve().parents[1]
TUI = Path(sys.executable).parent / "syllo-tui"
EVENTGEN = Path(__file__).with_name("eventgen.py")


class Tmux:
    """One private tmux server with one 120x40 session."""

    def __init__(self, tmp: Path) -> None:
        self.socket = f"syllo-test-{uuid.uuid4().hex[:10]}"
        self.conf = tmp / "tmux.conf"
        # remain-on-exit: keep the pane (and the exit status printed there) after the shell ends.
        # set-clipboard on: an OSC 52 that got through would create a paste buffer.
        self.conf.write_text("set -g remain-on-exit on\nset -g set-clipboard on\n")

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode != 0:
            raise AssertionError(f"tmux {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str, env: dict[str, str] | None = None) -> None:
        extra = [arg for k, v in (env or {}).items() for arg in ("-e", f"{k}={v}")]
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "t", *extra, command)

    def screen(self, *, escapes: bool = False, history: bool = False) -> str:
        flags = ["-e"] if escapes else []
        if history:
            flags += ["-S", "-"]  # from the start of the scrollback
        return self.tmux("capture-pane", "-p", *flags, "-t", "t")

    def pane(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", "t", fmt).strip()

    def wait_for(self, what: Callable[[str], bool], timeout: float, message: str) -> float:
        """Poll the screen until ``what(screen)``; return when it became true (time.time())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what(self.screen()):
                return time.time()
            time.sleep(0.02)
        raise AssertionError(f"{message}; the screen:\n{self.screen()}")

    def wait_exit(self, timeout: float = 10) -> int:
        """Wait for the TUI's exit status, which the pane's shell prints (see ``tui_command``).

        tmux's own ``#{pane_dead_status}`` is not used: in some sandboxes the
        tmux server never reaps its child, and the status stays empty.
        """
        found: list[str] = []

        def printed(screen: str) -> bool:
            found[:] = re.findall(r"syllo-tui exited with status (\d+)", screen)
            return bool(found)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if printed(self.screen(history=True)):
                return int(found[0])
            time.sleep(0.05)
        raise AssertionError(
            f"the TUI did not exit; the screen and its history:\n{self.screen(history=True)}"
        )

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def tui_command(args: str, pipe_from: str | None = None) -> str:
    """The pane's shell command: run the TUI (stderr untouched), then print its exit status."""
    tui = f"{shlex.quote(str(TUI))} {args}"
    if pipe_from is not None:
        tui = f"{pipe_from} | {tui}"
    return f"{tui}; echo syllo-tui exited with status $?"


class Writer:
    """The event writer process; each command returns the time its events were written."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(EVENTGEN), "serve", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def do(self, command: str) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().split()
        assert reply[:1] == ["ok"], f"writer said {reply!r} to {command!r}"
        return float(reply[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(10)


def sets_colour(sgr: str) -> bool:
    """Whether an SGR parameter list sets a colour (39/49, "default colour", do not)."""
    codes = [int(c) for c in sgr.split(";") if c]
    return any(
        c in (38, 48) or 30 <= c <= 37 or 40 <= c <= 47 or 90 <= c <= 97 or 100 <= c <= 107
        for c in codes
    )


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


def test_new_step_shows_within_a_second_and_q_exits_cleanly(
    tmp_path: Path, tmux: Tmux, writer: Writer
) -> None:
    path = tmp_path / "events.jsonl"
    writer.do("mid_run")
    tmux.start(tui_command(shlex.quote(str(path))))
    tmux.wait_for(lambda s: "step 1,200/2,000" in s, 20, "the TUI never showed the run")
    latencies = []
    for step in (1210, 1220, 1230):
        written = writer.do(f"log {step}")
        shown = tmux.wait_for(
            lambda s, step=step: f"step {step:,}/2,000" in s, 10, f"step {step} never shown"
        )
        latencies.append(shown - written)
    print(f"append-to-screen latencies: {[round(x, 3) for x in latencies]} s")
    # The bound is 1 s; the margin absorbs a loaded 2-core test box.
    assert min(latencies) < 1.0 and max(latencies) < 2.0, latencies
    tmux.tmux("send-keys", "-t", "t", "q")
    assert tmux.wait_exit() == 0


def test_escape_sequences_in_output_stay_inert_and_no_color(
    tmp_path: Path, tmux: Tmux, writer: Writer
) -> None:
    path = tmp_path / "events.jsonl"
    writer.do("mid_run")
    tmux.start(tui_command(shlex.quote(str(path))), env={"NO_COLOR": "1"})
    tmux.wait_for(lambda s: "step 1,200/2,000" in s, 20, "the TUI never showed the run")
    writer.do("inject 1210")
    screen = tmux.screen()
    tmux.wait_for(lambda s: "[@click=app.quit]boom[/]" in s, 10, "the injected output never showed")
    screen = tmux.screen()
    assert "␛]52;c;SGVsbG8=␇" in screen
    assert "␛[2J" in screen
    assert "[bold red]x[/]" in screen
    assert screen.splitlines()[0].lstrip().startswith("syllo"), "the screen was cleared"
    assert tmux.tmux("list-buffers") == "", "an OSC 52 reached the terminal"
    assert tmux.pane("#{pane_dead}") == "0", "the TUI died"
    # NO_COLOR: attributes (bold, reverse) stay, colours go.
    colours = [
        sgr
        for sgr in re.findall(r"\x1b\[([0-9;]*)m", tmux.screen(escapes=True))
        if sets_colour(sgr)
    ]
    assert colours == [], colours[:5]
    tmux.tmux("send-keys", "-t", "t", "q")
    assert tmux.wait_exit() == 0


def test_reads_events_from_a_pipe(tmp_path: Path, tmux: Tmux, writer: Writer) -> None:
    """``tail -n +1 -F FILE | syllo-tui -``: events from stdin, keys from the terminal."""
    path = tmp_path / "events.jsonl"
    writer.do("mid_run")
    tmux.start(tui_command("-", pipe_from=f"tail -n +1 -F {shlex.quote(str(path))}"))
    tmux.wait_for(lambda s: "step 1,200/2,000" in s, 20, "the TUI never showed the piped run")
    writer.do("log 1210")
    tmux.wait_for(lambda s: "step 1,210/2,000" in s, 10, "a piped event never showed")
    tmux.tmux("send-keys", "-t", "t", "q")
    # tail only notices its reader is gone at its next write.
    deadline = time.monotonic() + 10
    while "exited with status" not in tmux.screen(history=True) and time.monotonic() < deadline:
        writer.do("log 1220")
        time.sleep(0.2)
    assert tmux.wait_exit() == 0
