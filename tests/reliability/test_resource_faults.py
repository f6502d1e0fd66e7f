"""Resource faults in the middle of a real run: a full disk, a file-size limit.

Two faults, each two ways:

* the **events file becomes unwritable** mid-run: training goes on, the
  events that could not be written are counted, and the count rides on the
  first event written once the disk accepts writes again;
* a **checkpoint write fails**: the previous checkpoint stays intact and
  loadable, the half-written folder is never taken for a complete one, and
  the run ends ``failed`` with the reason (``error`` event, ``run_end``,
  status snapshot, exit code 1).

"Unwritable" is made real, not mocked: ``RLIMIT_FSIZE`` lowered on the
running trainer with ``prlimit`` (writes past the limit fail with EFBIG;
CPython ignores SIGXFSZ), and, where this process may mount (root), a small
tmpfs filled up to ENOSPC.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _torture as T
import pytest

from syllo_train.checkpoints import Fingerprint, list_checkpoints, plan_resume, read_marker

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]

INF = resource.RLIM_INFINITY
START_TIMEOUT = 240


# --- making a disk refuse writes ---------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (skips the test where mounting is not allowed)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); needs root"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def fill(folder: Path) -> Path:
    """Fill the file system under ``folder`` to the last byte (ENOSPC); returns the filler file."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    block = b"\0" * (1 << 16)
    try:
        while True:
            try:
                if os.write(fd, block) == 0:
                    break
            except OSError:
                if len(block) == 1:
                    break
                block = block[: len(block) // 2]
    finally:
        os.close(fd)
    return filler


class FsizeLimit:
    """RLIMIT_FSIZE of a running process, lowered and lifted from the outside (prlimit)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def set(self, limit_bytes: int) -> None:
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (limit_bytes, INF))

    def lift(self) -> None:
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (INF, INF))


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


# --- the events file becomes unwritable -----------------------------------------------------------------


def _check_dropped_and_reported(
    ev: T.EventsFile, *, minimum: int, fragments: int = 0
) -> tuple[int, list[int]]:
    """Training went on through the outage; the dropped events are counted exactly, once.

    ``fragments``: how many cut lines the outage may leave (a short write as a
    disk fills up); each must be part of one event, never glued to the next.
    """
    assert len(ev.bad_lines) <= fragments, [(n, b[:200]) for n, b in ev.bad_lines]
    for n, line in ev.bad_lines:
        assert line.count(b'{"v":') == 1 and not line.endswith(b"}"), (n, line[:300])
    end = ev.events[-1]
    assert (end["type"], end["status"]) == ("run_end", "completed"), end
    logs = [e["step"] for e in ev.events if e["type"] == "log"]
    missing = sorted(set(range(1, end["step"] + 1)) - set(logs))
    assert len(missing) >= minimum, f"the outage dropped only {missing}"
    # The first event after the gap reports the exact count; every later one carries it on.
    after = next(e for e in ev.events if e["type"] == "log" and e["step"] > missing[-1])
    assert after["counters"]["dropped_events"] == len(missing), (after["counters"], missing)
    assert end["counters"]["dropped_events"] == len(missing)
    before = [e for e in ev.events if "counters" in e and e["step"] < missing[0]]
    assert all(e["counters"]["dropped_events"] == 0 for e in before)
    return len(missing), missing


def _events_run(tmp_path: Path, make_config: Callable[..., Path], status_dir: str) -> T.Trainer:
    cfg = make_config(
        tmp_path,
        train={"max_steps": 60, "save_steps": 1000},  # one save, at the end, after the outage
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 0, "eval_at_end": False},
        output={"dir": status_dir},
    )
    # A steady pace (~10 steps/s) so the outage spans many steps on any machine.
    env = T.subprocess_env(SYLLO_FAULT="slow@1:secs=0.1")
    return T.Trainer(cfg, tmp_path, status_dir=status_dir, env=env)


def test_events_file_unwritable_efbig(
    tmp_path: Path, make_config: Callable[..., Path], figure: Any
) -> None:
    tr = _events_run(tmp_path, make_config, "status")
    limit = FsizeLimit(tr.pid)
    tr.wait_event(lambda e: e["type"] == "log" and e["step"] >= 3, START_TIMEOUT, "log@3")
    frozen = _size(tr.events_path)
    limit.set(frozen)  # every append to events.jsonl now fails with EFBIG
    snap0 = T.read_snapshot(tr.snapshot_path)["step"]
    # Training goes on: the (small) snapshot is still replaced, the events file stands still.
    tr.wait_for(
        lambda: T.read_snapshot(tr.snapshot_path)["step"] >= snap0 + 15, START_TIMEOUT, "15 steps"
    )
    grown = _size(tr.events_path) - frozen
    limit.lift()
    assert tr.wait(timeout=300) == 0, tr.stderr_tail()
    assert grown == 0, f"events were appended past RLIMIT_FSIZE ({grown} bytes)"
    dropped, missing = _check_dropped_and_reported(T.read_events_file(tr.events_path), minimum=15)
    figure(
        "events.jsonl made unwritable mid-run (RLIMIT_FSIZE lowered on the live trainer: EFBIG), then writable again",
        1,
        f"{dropped} events dropped (steps {missing[0]}-{missing[-1]}), all counted in "
        "counters.dropped_events on the first event after; training completed",
        dropped_events=dropped,
    )


def test_events_file_on_a_full_disk_enospc(
    tmp_path: Path, make_config: Callable[..., Path], figure: Any
) -> None:
    with small_tmpfs(tmp_path / "status", "4m") as status:
        tr = _events_run(tmp_path, make_config, "status")
        try:
            tr.wait_event(lambda e: e["type"] == "log" and e["step"] >= 3, START_TIMEOUT, "log@3")
            filler = fill(status)
            frozen = _size(tr.events_path)
            time.sleep(2.0)  # ~20 steps at the paced rate; the snapshot cannot be replaced either
            grown = _size(tr.events_path) - frozen
            filler.unlink()
            code = tr.wait(timeout=300)
        finally:
            tr.kill()
        assert code == 0, tr.stderr_tail()
        ev = T.read_events_file(tr.events_path)
        snap = T.read_snapshot(tr.snapshot_path)
    assert (snap["status"], snap["step"]) == ("completed", 60)
    # The disk fills in the middle of a line: one cut line (counted as dropped) is allowed.
    dropped, missing = _check_dropped_and_reported(ev, minimum=5, fragments=1)
    figure(
        "status/ on a 4 MB tmpfs filled to ENOSPC mid-run for 2 s, then space freed",
        1,
        f"{dropped} events dropped (steps {missing[0]}-{missing[-1]}), all counted, "
        f"{len(ev.bad_lines)} of them left as a cut line that readers skip; training completed",
        dropped_events=dropped,
        cut_lines=len(ev.bad_lines),
        bytes_appended_while_full=grown,
    )


# --- a checkpoint write fails ----------------------------------------------------------------------------


def _ckpt_run(tmp_path: Path, make_config: Callable[..., Path], output_dir: str) -> T.Trainer:
    cfg = make_config(
        tmp_path,
        train={"max_steps": 30, "save_steps": 5, "save_total_limit": 1, "output_dir": output_dir},
        monitor={"log_steps": 5, "eval_steps": 0, "eval_samples": 0, "eval_at_end": False},
    )
    # Steps 6-10 take 0.3 s each: time to make the disk refuse before the step-10 save.
    return T.Trainer(cfg, tmp_path, env=T.subprocess_env(SYLLO_FAULT="slow@6:secs=0.3"))


def _check_failed_save(tr: T.Trainer, out: Path, code: int, *, reason_has: tuple[str, ...]) -> str:
    from transformers import AutoModelForCausalLM

    assert code == 1, f"exit code {code}\n{tr.stderr_tail()}"
    ev = T.read_events_file(tr.events_path)
    assert not ev.bad_lines and not ev.torn_tail
    end = ev.events[-1]
    err = next(e for e in ev.events if e["type"] == "error")
    assert (end["type"], end["status"]) == ("run_end", "failed"), end
    reason = end["reason"] or ""
    assert any(s in reason.lower() for s in reason_has), reason
    assert err["message"] and err["error_type"]
    assert [e["step"] for e in ev.events if e["type"] == "checkpoint"] == [5]
    snap = T.read_snapshot(tr.snapshot_path)
    assert snap["status"] == "failed" and snap["reason"]
    assert "training failed" in tr.stderr_tail()
    # The previous checkpoint: marked, loadable, and what a rerun would resume from.
    marker = read_marker(out / "checkpoint-5")
    assert marker is not None and marker["step"] == 5
    model = AutoModelForCausalLM.from_pretrained(out / "checkpoint-5", dtype="float32")
    assert sum(p.numel() for p in model.parameters()) > 0
    assert read_marker(out / "checkpoint-10") is None  # the failed save is not marked complete
    start = ev.events[0]
    fp = Fingerprint(**start["fingerprint"])
    plan = plan_resume(out, "auto", fp, marker["settings"])
    assert plan.checkpoint == out / "checkpoint-5" and plan.step == 5
    assert any("checkpoint-10" in s and "incomplete" in s for s in plan.skipped), plan.skipped
    return reason


def test_checkpoint_write_fails_efbig(
    tmp_path: Path, make_config: Callable[..., Path], figure: Any
) -> None:
    tr = _ckpt_run(tmp_path, make_config, "runs/out")
    out = tmp_path / "runs" / "out"
    tr.wait_for(
        lambda: read_marker(out / "checkpoint-5") is not None, START_TIMEOUT, "checkpoint-5"
    )
    weights = _size(out / "checkpoint-5" / "model.safetensors")
    # Below the weights file, far above the events/snapshot/log files of this short run.
    FsizeLimit(tr.pid).set(weights // 2)
    code = tr.wait(timeout=300)
    reason = _check_failed_save(tr, out, code, reason_has=("too large", "efbig", "errno 27"))
    figure(
        "checkpoint save fails mid-write (RLIMIT_FSIZE below the weights file: EFBIG)",
        1,
        "the half-written checkpoint-10 only; checkpoint-5 intact and loadable, chosen for resume; "
        "run ended failed (exit 1) with the reason",
        reason=reason[:160],
    )


def test_checkpoint_write_fails_enospc(
    tmp_path: Path, make_config: Callable[..., Path], figure: Any
) -> None:
    with small_tmpfs(tmp_path / "ckpt", "8m") as ckpt:
        tr = _ckpt_run(tmp_path, make_config, "ckpt")
        try:
            tr.wait_for(
                lambda: read_marker(ckpt / "checkpoint-5") is not None,
                START_TIMEOUT,
                "checkpoint-5",
            )
            fill(ckpt)
            code = tr.wait(timeout=300)
        finally:
            tr.kill()
        reason = _check_failed_save(tr, ckpt, code, reason_has=("no space", "enospc", "errno 28"))
        leftovers = sorted(p.name for (p,) in [(c,) for _, c in list_checkpoints(ckpt)])
    figure(
        "checkpoint save on an 8 MB tmpfs that is full (ENOSPC)",
        1,
        "the half-written checkpoint-10 only; checkpoint-5 intact and loadable, chosen for resume; "
        "run ended failed (exit 1) with the reason",
        reason=reason[:160],
        folders_left=leftovers,
    )
