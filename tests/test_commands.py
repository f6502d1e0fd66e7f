"""ops/commands.py: run --detach, stop and status, on real trainers (python -m syllo_train).

Faults come from the test-only SYLLO_FAULT hook (ops/faults.py). Waits are
for the state that matters, bounded (the box is small and shared); nothing
asserts a duration.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _ops_support import (
    MONITOR,
    SLOW_WAIT,
    complete_checkpoint,
    events,
    kill_holders,
    of_type,
    snapshot,
    syllo,
    wait_for,
)

from syllo_train import exitcodes
from syllo_train.ops.lock import LOCK_NAME, lock_held, pid_alive, read_lock
from syllo_train.sinks.snapshot import StatusSnapshot


def _fold(folder: Path, *evs: dict[str, Any]) -> None:
    snap = StatusSnapshot(folder / "training_status.json")
    for ev in evs:
        snap.apply({"ts": time.time(), "run_id": "r", **ev})
    snap.write()


@pytest.mark.parametrize(
    ("end", "code", "word"),
    [
        (None, exitcodes.STALE, "STALE"),  # says training, nothing holds the lock
        ({"type": "run_end", "step": 5, "status": "completed"}, exitcodes.FINISHED, "COMPLETED"),
        ({"type": "run_end", "step": 5, "status": "stopped"}, exitcodes.FINISHED, "STOPPED"),
        (
            {"type": "run_end", "step": 5, "status": "failed", "reason": "boom"},
            exitcodes.FAILED,
            "FAILED",
        ),
    ],
)
def test_status_exit_code_without_a_live_process(
    tmp_path: Path, end: dict[str, Any] | None, code: int, word: str
) -> None:
    folder = tmp_path / "status"
    folder.mkdir()
    start = {"type": "run_start", "step": 0, "max_steps": 10, "model": "m", "pid": 1}
    _fold(folder, start, *([end] if end else []))
    proc = syllo("status", folder, cwd=tmp_path)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert proc.stdout.startswith(word)
    assert "step        5/10" in proc.stdout if end else "step        0/10" in proc.stdout


def test_status_and_stop_on_a_folder_without_a_run(tmp_path: Path) -> None:
    assert syllo("status", tmp_path / "nope", cwd=tmp_path).returncode == exitcodes.BAD_INPUT
    (tmp_path / "empty").mkdir()
    proc = syllo("status", tmp_path / "empty", cwd=tmp_path)
    assert proc.returncode == exitcodes.BAD_INPUT and "no training_status.json" in proc.stdout
    proc = syllo("stop", tmp_path / "empty", cwd=tmp_path)
    assert proc.returncode == 0 and "nothing to stop" in proc.stdout


# --- end to end: real trainers ------------------------------------------------------------------


@pytest.mark.slow
def test_detach_status_stop_and_a_second_start_refused(
    tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    # Far more steps than can run before the stop: at 0.5 s a step (slow@1) the run
    # cannot end on its own, however fast or slow the machine is meanwhile.
    cfg = make_config(tmp_path, train={"max_steps": 10_000, "save_steps": 5}, monitor=MONITOR)
    status_dir = tmp_path / "status"
    started = syllo("run", "--detach", cfg, cwd=tmp_path, fault="slow@1:secs=0.5", timeout=60)
    try:
        assert started.returncode == 0, started.stderr
        assert "started in the background" in started.stdout
        info = read_lock(status_dir)
        assert info and info["role"] == "supervisor" and pid_alive(info["pid"])

        # A second trainer on the same folder is refused, detached or not, naming the holder.
        for args in (("run", "--detach", cfg), ("run", cfg)):
            again = syllo(*args, cwd=tmp_path, timeout=60)
            assert again.returncode == exitcodes.BUSY, again.stderr
            assert (
                "in use by another trainer" in again.stderr and f"pid {info['pid']}" in again.stderr
            )

        wait_for("two steps", lambda: (snapshot(status_dir).get("step") or 0) >= 2)
        st = syllo("status", cwd=tmp_path, timeout=60)
        assert st.returncode == exitcodes.OK, st.stdout + st.stderr
        assert st.stdout.startswith("RUNNING") and "/10000" in st.stdout
        assert f"supervisor pid {info['pid']}" in st.stdout

        stopped = syllo("stop", cwd=tmp_path, timeout=SLOW_WAIT)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    finally:
        kill_holders(status_dir)
    st = syllo("status", cwd=tmp_path, timeout=60)
    assert st.returncode == exitcodes.FINISHED, st.stdout + st.stderr
    assert st.stdout.startswith("STOPPED")
    evs = events(status_dir)
    end = evs[-1]
    assert end["type"] == "run_end" and end["status"] == "stopped"
    assert 2 <= end["step"] < 10_000
    # The graceful stop saved a checkpoint at the very step it stopped on.
    assert of_type(evs, "checkpoint")[-1]["step"] == end["step"]
    assert complete_checkpoint(tmp_path, end["step"])
    assert not (status_dir / LOCK_NAME).exists()
    assert not pid_alive(info["pid"]) and not pid_alive(info["trainer_pid"])


@pytest.mark.slow
def test_killed_run_is_stale_and_the_next_start_cleans_its_lock_then_stop_now(
    tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    cfg = make_config(tmp_path, train={"max_steps": 20, "save_steps": 1}, monitor=MONITOR)
    status_dir = tmp_path / "status"
    # hang@3: the trainer sticks at step 3 (after checkpoint-2) and the long stall timeout
    # leaves it there: a process that is alive but not moving.
    first = syllo("run", "--detach", cfg, "--stall-timeout", "300", cwd=tmp_path, fault="hang@3")
    try:
        assert first.returncode == 0, first.stderr
        wait_for("checkpoint-2", lambda: complete_checkpoint(tmp_path, 2))
        info = read_lock(status_dir)
        assert info and info["trainer_pid"]
        # The daemon dies hard. Its orphaned trainer still holds the lock it borrowed,
        # so a second trainer is kept out and status still sees it alive.
        os.kill(info["pid"], signal.SIGKILL)
        wait_for("the supervisor to die", lambda: not pid_alive(info["pid"]), timeout=30)
        assert lock_held(status_dir) is True and pid_alive(info["trainer_pid"])
        orphan = syllo("run", cfg, cwd=tmp_path, timeout=60)
        assert orphan.returncode == exitcodes.BUSY and "in use by another trainer" in orphan.stderr
        st = syllo("status", cwd=tmp_path, timeout=60)
        assert st.returncode == exitcodes.OK, st.stdout
        assert "(gone: its trainer runs on unsupervised)" in st.stdout
        assert f"trainer pid {info['trainer_pid']}" in st.stdout
        # Then the trainer dies too: nothing got to write run_end.
        os.killpg(info["trainer_pgid"], signal.SIGKILL)
        wait_for("the lock to be let go", lambda: lock_held(status_dir) is False, timeout=30)
        st = syllo("status", cwd=tmp_path, timeout=60)
        assert st.returncode == exitcodes.STALE, st.stdout + st.stderr
        assert st.stdout.startswith("STALE") and "no live process holds the lock" in st.stdout

        second = syllo(
            "run", "--detach", cfg, "--stall-timeout", "300", cwd=tmp_path, fault="hang@3"
        )
        assert second.returncode == 0, second.stderr
        assert "removed a stale lock" in second.stderr and f"pid {info['pid']}" in second.stderr
        new = read_lock(status_dir)
        assert new and new["pid"] != info["pid"]
        # It resumed from checkpoint-2 and hangs again: alive, but stale by a short --stale-after.
        wait_for("the resume", lambda: of_type(events(status_dir), "resume"))
        hung = wait_for(
            "status to call the hung trainer stale",
            lambda: (
                (p := syllo("status", "--stale-after", "2", cwd=tmp_path)).returncode
                == exitcodes.STALE
                and p
            ),
        )
        assert "alive but not moving" in hung.stdout and "alive: supervisor pid" in hung.stdout

        now = syllo("stop", "--now", cwd=tmp_path, timeout=90)
        assert now.returncode == 0, now.stdout + now.stderr
    finally:
        kill_holders(status_dir)
    evs = events(status_dir)
    assert evs[-1]["type"] == "run_end" and evs[-1]["status"] == "stopped"
    assert "stop --now" in evs[-1]["reason"]
    assert of_type(evs, "resume")[-1]["from_checkpoint"].endswith("checkpoint-2")
    st = syllo("status", cwd=tmp_path, timeout=60)
    assert st.returncode == exitcodes.FINISHED and st.stdout.startswith("STOPPED"), st.stdout
    assert not (status_dir / LOCK_NAME).exists()
    assert not (tmp_path / "runs" / "out" / LOCK_NAME).exists()
    assert not pid_alive(new["pid"]) and not pid_alive(new["trainer_pid"])
