"""A real terminal for tests and benchmarks: a private tmux server and the event writer process.

Each ``Tmux`` is its own server (``tmux -L <unique socket>``) started with its
own config file (``-f``: no /etc/tmux.conf, no ~/.tmux.conf), so nothing else
on the machine — another tmux, a user's options — can change what it shows.
``Writer`` runs ``python tests/eventgen.py serve FILE`` and appends events
through the real EventWriter on command. Waits poll the screen until what they
look for is there; their bound (``WAIT_S``) only ends a hang.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from _support import WAIT_S

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
        # Started from inside another tmux, the client would see that one's TMUX variable.
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self.last_screen = ""  # what the last capture showed (kept for a failure's report)

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            env=self.env,
        )
        if done.returncode != 0:
            raise AssertionError(f"tmux {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str, env: dict[str, str] | None = None, size: str = "120x40") -> None:
        extra = [arg for k, v in (env or {}).items() for arg in ("-e", f"{k}={v}")]
        width, height = size.split("x")
        self.tmux("new-session", "-d", "-x", width, "-y", height, "-s", "t", *extra, command)

    def screen(self, *, escapes: bool = False, history: bool = False) -> str:
        flags = ["-e"] if escapes else []
        if history:
            flags += ["-S", "-"]  # from the start of the scrollback
        text = self.tmux("capture-pane", "-p", *flags, "-t", "t")
        if not escapes:
            self.last_screen = text
        return text

    def pane(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", "t", fmt).strip()

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def wait_for(self, what: Callable[[str], bool], message: str, timeout: float = WAIT_S) -> float:
        """Poll the screen until ``what(screen)``; return when it became true (time.time())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what(self.screen()):
                return time.time()
            time.sleep(0.02)
        raise AssertionError(f"{message} (waited {timeout:g} s); the screen:\n{self.screen()}")

    def wait_exit(self, timeout: float = WAIT_S) -> int:
        """Wait for the TUI's exit status, which the pane's shell prints (see ``tui_command``).

        tmux's own ``#{pane_dead_status}`` is not used: in some sandboxes the
        tmux server never reaps its child, and the status stays empty.
        """
        found: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.findall(r"syllo-tui exited with status (\d+)", self.screen(history=True))
            if found:
                return int(found[0])
            time.sleep(0.05)
        raise AssertionError(
            f"the TUI did not exit; the screen and its history:\n{self.screen(history=True)}"
        )

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"],
            capture_output=True,
            timeout=WAIT_S,
            env=self.env,
        )


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
            self.proc.wait(WAIT_S)


def sets_colour(sgr: str) -> bool:
    """Whether an SGR parameter list sets a colour (39/49, "default colour", do not)."""
    codes = [int(c) for c in sgr.split(";") if c]
    return any(
        c in (38, 48) or 30 <= c <= 37 or 40 <= c <= 47 or 90 <= c <= 97 or 100 <= c <= 107
        for c in codes
    )


def colour_codes(screen: str) -> list[str]:
    """The SGR parameter lists of a screen captured with escapes that set a colour."""
    return [sgr for sgr in re.findall(r"\x1b\[([0-9;]*)m", screen) if sets_colour(sgr)]
