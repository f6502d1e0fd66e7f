"""Operating a run: the lock, detach/status/stop, and the supervisor under injected faults.

Everything is real: ``python -m syllo_train`` subprocesses training a tiny
model, real signals (``os.kill``), real ``flock`` locks. Faults come from the
test-only ``SYLLO_FAULT`` hook (syllo_train/ops/faults.py). Timeouts are generous
(the box is small and shared); nothing asserts a duration.
"""

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

import pytest
from _support import SUBPROCESS_ENV, decode_events

from syllo_train import exitcodes
from syllo_train.events import validate_event
from syllo_train.ops.faults import parse_faults
from syllo_train.ops.lock import LOCK_NAME, FolderLock, LockBusy, lock_held, pid_alive, read_lock
from syllo_train.sinks.snapshot import StatusSnapshot

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


# --- fast: the fault hook's parser, the lock, status exit codes ------------------------------------


def test_fault_specs_parse_and_bad_ones_are_refused() -> None:
    faults = parse_faults(
        "hang@12:once, crash@3 ,slow@1:secs=0.2,kill@5:attempt=2,slowstart@0:secs=3"
    )
    assert [(f.kind, f.step, f.attempt) for f in faults] == [
        ("hang", 12, 0),
        ("crash", 3, None),
        ("slow", 1, None),
        ("kill", 5, 2),
        ("slowstart", 0, None),
    ]
    assert faults[2].secs == 0.2
    assert faults[0].due(12, 0) and not faults[0].due(12, 1) and not faults[0].due(11, 0)
    assert faults[1].due(7, 4)  # the first step end at or after 3, in every attempt
    assert parse_faults("") == []
    for bad in ("explode@3", "hang@x", "hang", "crash@3:twice"):
        with pytest.raises(ValueError, match="SYLLO_FAULT"):
            parse_faults(bad)


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


def test_a_stall_timeout_shorter_than_one_generation_is_refused(
    tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    cfg = make_config(tmp_path, monitor={"generation_timeout_s": 30, "stall_grace_s": 5})
    for mode in ("--supervise", "--detach"):
        proc = syllo("run", mode, cfg, "--stall-timeout", "20", cwd=tmp_path, timeout=60)
        assert proc.returncode == exitcodes.BAD_INPUT, proc.stderr
        assert "raise --stall-timeout above 35" in proc.stderr
    assert not (tmp_path / "status").exists()  # refused before anything was written


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


def _supervised_run(
    tmp_path: Path, make_config: Callable[..., Path], fault: str, *extra: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    cfg = make_config(tmp_path, train={"max_steps": 8, "save_steps": 2}, monitor=MONITOR)
    proc = syllo(
        "run", "--supervise", "--quiet", cfg, *SUPERVISE, *extra, cwd=tmp_path, fault=fault
    )
    return proc, events(tmp_path / "status")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("hang@4:once", "no event or heartbeat for"),  # a stuck step: only SIGKILL ends it
        ("crash@4:once", "exited with code 1"),  # an exception in the training loop
    ],
)
def test_supervisor_restarts_a_hung_or_crashed_trainer_and_the_run_completes(
    tmp_path: Path, make_config: Callable[..., Path], fault: str, said: str
) -> None:
    proc, evs = _supervised_run(tmp_path, make_config, fault)
    assert proc.returncode == 0, proc.stderr
    starts, resumes = of_type(evs, "run_start"), of_type(evs, "resume")
    assert len(starts) == 2 and len(resumes) == 1
    resume = resumes[0]
    # The fault fires at the end of step 4, before step 4's save: checkpoint-2 is the newest.
    assert resume["from_checkpoint"].endswith("checkpoint-2") and resume["step"] == 2
    assert resume["reason"].startswith("supervisor restart 1/3: ") and said in resume["reason"]
    if fault.startswith("crash"):
        assert "InjectedFault" in resume["reason"]
        assert of_type(evs, "error")[0]["error_type"] == "InjectedFault"
    end = evs[-1]
    assert end["type"] == "run_end" and end["status"] == "completed" and end["step"] == 8
    assert snapshot(tmp_path / "status")["status"] == "completed"
    assert not (tmp_path / "status" / LOCK_NAME).exists()


@pytest.mark.slow
def test_a_crash_on_every_start_spends_the_budget_and_ends_failed(
    tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    # kill@3: SIGKILL at step 3 on every start (like the OOM killer): the trainer writes no run_end.
    proc, evs = _supervised_run(tmp_path, make_config, "kill@3", "--max-restarts", "1")
    assert proc.returncode == 1, proc.stderr
    assert len(of_type(evs, "run_start")) == 2
    (resume,) = of_type(evs, "resume")
    assert "killed by SIGKILL" in resume["reason"] and resume["from_checkpoint"].endswith(
        "checkpoint-2"
    )
    error, end = evs[-2], evs[-1]
    assert error["type"] == "error" and error["error_type"] == "RestartBudgetSpent"
    assert end["type"] == "run_end" and end["status"] == "failed"
    assert "restart budget spent" in end["reason"] and "killed by SIGKILL" in end["reason"]
    assert end["run_id"] == evs[-3]["run_id"]  # it continues the last trainer's stream
    assert of_type(evs, "run_end") == [end]  # the killed trainers wrote none
    snap = snapshot(tmp_path / "status")
    assert snap["status"] == "failed" and "restart budget spent" in snap["reason"]
    st = syllo("status", cwd=tmp_path, timeout=60)
    assert st.returncode == exitcodes.FAILED and st.stdout.startswith("FAILED"), st.stdout
    assert "restart budget spent" in (tmp_path / "status" / "train.log").read_text()


@pytest.mark.slow
def test_a_slow_first_step_gets_the_start_timeout_not_the_stall_timeout(
    tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    # slowstart: 6 s between run_start and the first step (a checkpoint that loads
    # slowly, a first step that compiles), longer than the 4 s stall timeout.
    # Until the first heartbeat the 120 s start timeout applies: no restart.
    cfg = make_config(tmp_path, train={"max_steps": 4, "save_steps": 100}, monitor=MONITOR)
    args = ["--stall-timeout", "4", "--start-timeout", "120"]
    fault = "slowstart@0:secs=6:once"
    proc = syllo("run", "--supervise", "--quiet", cfg, *args, cwd=tmp_path, fault=fault)
    assert proc.returncode == 0, proc.stderr
    evs = events(tmp_path / "status")
    assert of_type(evs, "resume") == [] and len(of_type(evs, "run_start")) == 1, [
        e["reason"] for e in of_type(evs, "resume")
    ]
    assert evs[-1]["type"] == "run_end" and evs[-1]["status"] == "completed"


@pytest.mark.slow
def test_heartbeat_keeps_a_slow_run_with_sparse_events_alive(
    tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    # ~1.2 s a step and no event between run_start and the last step: only the
    # heartbeat tells the supervisor (stall timeout 4 s) that the trainer is moving.
    monitor = {**MONITOR, "log_steps": 100}
    cfg = make_config(tmp_path, train={"max_steps": 8, "save_steps": 100}, monitor=monitor)
    args = ["--stall-timeout", "4", "--start-timeout", "120"]
    proc = syllo("run", "--supervise", "--quiet", cfg, *args, cwd=tmp_path, fault="slow@1:secs=1.2")
    assert proc.returncode == 0, proc.stderr
    evs = events(tmp_path / "status")
    assert of_type(evs, "resume") == [] and len(of_type(evs, "run_start")) == 1
    start, end = of_type(evs, "run_start")[0], evs[-1]
    assert end["type"] == "run_end" and end["status"] == "completed" and end["step"] == 8
    assert end["ts"] - start["ts"] > 4 * 2  # events really were that sparse
