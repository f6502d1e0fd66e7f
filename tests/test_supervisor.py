"""ops/supervisor.py: restarts of a hung or crashed trainer, on real trainers with injected faults."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _ops_support import MONITOR, SUPERVISE, events, of_type, snapshot, syllo

from syllo_train import exitcodes
from syllo_train.ops.lock import LOCK_NAME


def test_a_stall_timeout_shorter_than_one_generation_is_refused(
    tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    cfg = make_config(tmp_path, monitor={"generation_timeout_s": 30, "stall_grace_s": 5})
    for mode in ("--supervise", "--detach"):
        proc = syllo("run", mode, cfg, "--stall-timeout", "20", cwd=tmp_path, timeout=60)
        assert proc.returncode == exitcodes.BAD_INPUT, proc.stderr
        assert "raise --stall-timeout above 35" in proc.stderr
    assert not (tmp_path / "status").exists()  # refused before anything was written


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
