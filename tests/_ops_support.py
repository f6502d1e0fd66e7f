"""Shared by the operations tests: the real CLI with a fault, waits, and reading a run's folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _support import SUBPROCESS_ENV, decode_events

from syllo_train.events import validate_event
from syllo_train.ops.lock import pid_alive, read_lock

SLOW_WAIT = 150.0  # seconds: a trainer start (imports, model load) on a busy 2-core box

# Short generations so a stall timeout of a few seconds is allowed
# (the supervisor refuses one at or below generation_timeout_s + stall_grace_s).
MONITOR = {
    "log_steps": 2,
    "eval_steps": 0,
    "eval_at_end": False,
    "generation_timeout_s": 2,
    "stall_grace_s": 1,
}
SUPERVISE = ["--stall-timeout", "6", "--start-timeout", "120", "--backoff", "0.2"]


def syllo(
    *args: str | Path, cwd: Path, fault: str | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **SUBPROCESS_ENV}
    env.pop("SYLLO_FAULT", None)
    if fault:
        env["SYLLO_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "syllo_train", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(what: str, check: Callable[[], Any], timeout: float = SLOW_WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def snapshot(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "training_status.json").read_text())
    except (OSError, ValueError):
        return {}


def events(folder: Path) -> list[dict[str, Any]]:
    evs = decode_events(folder / "events.jsonl")
    for ev in evs:
        assert validate_event(ev) == [], ev
    return evs


def of_type(evs: list[dict[str, Any]], etype: str) -> list[dict[str, Any]]:
    return [e for e in evs if e["type"] == etype]


def complete_checkpoint(cwd: Path, step: int) -> bool:
    return (cwd / "runs" / "out" / f"checkpoint-{step}" / "syllo_checkpoint.json").is_file()


def kill_holders(folder: Path) -> None:
    """SIGKILL whatever the lock names (cleanup after a failed test; never a broad kill)."""
    info = read_lock(folder) or {}
    for key in ("pid", "trainer_pid"):
        pid = info.get(key)
        if pid and pid != os.getpid() and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
