"""ops/lock.py: one trainer per folder, a flock that a dead holder can never keep."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from syllo_train.ops.lock import LOCK_NAME, FolderLock, LockBusy, lock_held, read_lock

HOLD_LOCK = """
import sys, time
from syllo_train.ops.lock import FolderLock
FolderLock.acquire(sys.argv[1], {"pid": __import__("os").getpid(), "role": "test-holder"})
print("held", flush=True)
time.sleep(600)
"""


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_ones(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert lock_held(folder) is True
        with pytest.raises(LockBusy) as busy:
            FolderLock.acquire(folder, {"pid": os.getpid()}, tries=2, wait_s=0.01)
        assert f"pid {holder.pid}" in str(busy.value) and "syllo-train stop" in str(busy.value)
        assert busy.value.holder and busy.value.holder["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    # The holder died by SIGKILL: its file is still there, its flock is gone.
    assert (folder / LOCK_NAME).exists() and lock_held(folder) is False
    said: list[str] = []
    lock = FolderLock.acquire(folder, {"pid": os.getpid(), "role": "test"}, notify=said.append)
    assert len(said) == 1 and "stale" in said[0] and f"pid {holder.pid}" in said[0]
    assert read_lock(folder) == {"pid": os.getpid(), "role": "test"}
    lock.release()
    assert not (folder / LOCK_NAME).exists() and lock_held(folder) is None
