"""Operating a run: ``run --detach``, ``stop`` and ``status`` (docs/operations.md).

* ``detach``: take the lock here (so "already running" is said where the user
  looks), then start ``run --supervise`` in a new session, hand it the lock and
  return; its output goes to ``<output.dir>/trainer.out``.
* ``stop``: SIGTERM to the lock's holder (the supervisor passes it on; the
  trainer finishes the step, checkpoints and ends ``stopped``) and wait for the
  lock to be let go; ``--now`` is SIGKILL to everything, and ``run_end``
  stopped is written here since the trainer cannot.
* ``status``: the snapshot plus liveness (is the lock held? is anything
  moving?), as plain text and an exit code (syllo_train/exitcodes.py).

Pure: stdlib + syllo's pure modules; nothing here imports torch.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syllo_train import exitcodes
from syllo_train.events import EVENTS_FILE, SNAPSHOT_FILE, read_last_events
from syllo_train.inert import print_inert
from syllo_train.ops.heartbeat import beaten_since, last_beat
from syllo_train.ops.lock import LockError, RunLock, describe, lock_held, pid_alive, read_lock
from syllo_train.ops.supervisor import SuperviseOptions
from syllo_train.sinks.reporter import record_end
from syllo_train.sinks.snapshot import read_snapshot

OUT_NAME = "trainer.out"  # the detached supervisor's (and trainer's) stdout and stderr


DEFAULT_STALE_AFTER_S = 600.0  # an unsupervised trainer silent this long is called stale


def _say(text: str) -> None:
    """A line on stdout; it may quote a path or a run's reason, so it is shown inert."""
    print_inert(text, sys.stdout)


def _err(text: str) -> None:
    print_inert(f"syllo-train: {text}")


def resolve_folder(target: str | os.PathLike[str]) -> Path:
    """The run's output folder from a folder or a config file (its ``output.dir``)."""
    path = Path(target)
    if path.is_file() and path.suffix == ".toml":
        from syllo_train.config import ConfigError, load_config

        try:
            return Path(load_config(path).output.dir)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    return path


class UsageError(ValueError):
    """A bad argument to stop/status (exit code 2)."""


# --- detach --------------------------------------------------------------------------------------


def _existing_folder(target: str | os.PathLike[str]) -> Path | None:
    """resolve_folder, plus the check that it exists; None (after saying why) when not."""
    try:
        folder = resolve_folder(target)
    except UsageError as exc:
        _err(f"error: {exc}")
        return None
    if not folder.is_dir():
        _err(f"error: {folder}: no such folder; pass a run's output.dir (or its config file)")
        return None
    return folder


def detach(
    cfg: Any,
    config_path: str,
    overrides: Sequence[str],
    opts: SuperviseOptions,
    *,
    wait_s: float = 30.0,
) -> int:
    """Start a supervised run in the background; return once the supervisor holds the lock."""
    problems = opts.problems(cfg.monitor.generation_timeout_s, cfg.monitor.stall_grace_s)
    for p in problems:
        _err(f"error: {p}")
    if problems:
        return exitcodes.BAD_INPUT
    try:
        lock = RunLock.acquire(cfg, role="supervisor", config_path=config_path, state="detaching")
    except LockError as exc:
        _err(f"error: {exc}")
        return exc.exit_code
    out_dir = Path(cfg.output.dir)
    out_path = out_dir / OUT_NAME
    cmd = [
        sys.executable,
        "-m",
        "syllo_train",
        "run",
        "--supervise",
        "--quiet",
        config_path,
        "--stall-timeout",
        repr(opts.stall_timeout_s),
        "--start-timeout",
        repr(opts.start_timeout_s),
        "--max-restarts",
        str(opts.max_restarts),
        "--backoff",
        repr(opts.backoff_s),
    ]
    for item in overrides:
        cmd += ["--set", item]
    # Written before the start: the supervisor's own update (its pid) must not be overwritten.
    lock.update(state="handed over")
    try:
        with open(out_path, "ab") as out:
            out.write(
                f"==== syllo-train run --detach {config_path} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode()
            )
            out.flush()
            # A new session: no controlling terminal, so closing the SSH session leaves it running.
            child = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=lock.fds,
                env={**os.environ, **lock.env("owner")},
            )
    except OSError as exc:
        lock.release()
        _err(f"error: could not start the background supervisor ({exc}); nothing was started")
        return exitcodes.FAILED
    lock.handover()
    # Wait for the supervisor to adopt the lock: an early death (an import error, a
    # bad flag) is reported here instead of being found in trainer.out hours later.
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            _err(
                f"error: the background supervisor exited at once (code {code}); its output ({out_path}):"
            )
            print_inert(_tail_text(out_path))
            return code or exitcodes.FAILED
        info = read_lock(out_dir) or {}
        if info.get("pid") == child.pid:  # the supervisor has adopted the lock
            break
        time.sleep(0.05)
    else:
        _err(
            f"warning: the background supervisor (pid {child.pid}) has not reported in {wait_s:g} s; "
            f"check {out_path} and `syllo-train status {out_dir}`"
        )
    # We never wait for it (it lives on in its own session); a set returncode keeps
    # Popen from warning that a child was left running.
    child.returncode = 0
    d = str(out_dir)
    _say(
        f"syllo-train: started in the background: supervisor pid {child.pid} "
        f"(restarts up to {opts.max_restarts}, stall timeout {opts.stall_timeout_s:g} s)\n"
        f"  output  {d}/ (events.jsonl, training_status.json, train.log; supervisor output in {out_path})\n"
        f"  watch   syllo-tui {d}/{EVENTS_FILE}   or   syllo-train status {d}\n"
        f"  stop    syllo-train stop {d}   (--now to kill at once)"
    )
    return 0


def _tail_text(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"  (cannot read {path}: {exc.strerror})"
    return "\n".join("  " + line for line in text.splitlines()[-lines:])


# --- stop ----------------------------------------------------------------------------------------


def stop(
    target: str | os.PathLike[str],
    *,
    now: bool = False,
    wait: bool = True,
    timeout_s: float = 900.0,
) -> int:
    """``syllo-train stop``: 0 stopped (or nothing was running), 1 still alive after the wait, 2 usage, 3 stale."""
    folder = _existing_folder(target)
    if folder is None:
        return exitcodes.BAD_INPUT
    held = lock_held(folder)
    info = read_lock(folder) or {}
    if not held:
        return _nothing_to_stop(folder)
    if info.get("host") and info["host"] != socket.gethostname():
        _err(
            f"error: {folder} is held by a process on host {info['host']}; run `syllo-train stop` there"
        )
        return exitcodes.BAD_INPUT
    if now:
        return _stop_now(folder, info, timeout_s=min(timeout_s, 60.0))
    pid = info.get("pid")
    if not pid_alive(pid):
        # The supervisor is gone but its trainer (which shares the lock) is not: stop that one.
        pid = info.get("trainer_pid")
    if not pid_alive(pid):
        _err(
            f"error: the lock on {folder} is held but neither pid in it is alive ({describe(info)}); "
            "try `syllo-train stop --now`"
        )
        return exitcodes.FAILED
    os.kill(pid, signal.SIGTERM)
    who = "supervisor" if pid == info.get("pid") and info.get("role") == "supervisor" else "trainer"
    _say(
        f"syllo-train: sent SIGTERM to the {who} (pid {pid}): it finishes the current step, saves a checkpoint "
        "and stops"
    )
    if not wait:
        return 0
    if not _wait_released(folder, timeout_s):
        _err(
            f"error: still running after {timeout_s:g} s; `syllo-train stop --now {folder}` ends it at once"
        )
        return exitcodes.FAILED
    snap = _read_snap(folder) or {}
    _say(
        f"syllo-train: stopped: status {snap.get('status')} at step {snap.get('step')}, "
        f"last checkpoint {(snap.get('last_checkpoint') or {}).get('path')}"
    )
    return 0


def _nothing_to_stop(folder: Path) -> int:
    snap = _read_snap(folder)
    status = (snap or {}).get("status")
    if status in ("training", "starting"):
        _err(
            f"error: nothing to stop in {folder}: the snapshot says {status!r} but no live process holds the "
            "lock (it died without writing run_end); `syllo-train run` resumes it from its last checkpoint"
        )
        return exitcodes.STALE
    _say(
        f"syllo-train: nothing to stop in {folder}: no trainer is running (last status: {status or 'none'})"
    )
    return 0


def _wait_released(folder: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not lock_held(folder):
            return True
        time.sleep(0.2)
    return False


def _stop_now(folder: Path, info: dict[str, Any], *, timeout_s: float) -> int:
    """SIGKILL the supervisor first (so it restarts nothing), then the trainer's process group."""
    killed = []
    sup = info.get("pid") if info.get("role") == "supervisor" else None
    if sup and pid_alive(sup):
        os.kill(sup, signal.SIGKILL)
        killed.append(f"supervisor {sup}")
    trainer = info.get("trainer_pid") or (
        info.get("pid") if info.get("role") == "trainer" else None
    )
    pgid = info.get("trainer_pgid")
    if trainer and pid_alive(trainer):
        try:
            same_group = bool(pgid) and os.getpgid(trainer) == pgid
        except ProcessLookupError:
            same_group = False
        if same_group:
            os.killpg(pgid, signal.SIGKILL)  # its data workers too
        else:
            os.kill(trainer, signal.SIGKILL)
        killed.append(f"trainer {trainer}")
    if not _wait_released(folder, timeout_s):
        _err(
            f"error: the lock on {folder} is still held {timeout_s:g} s after SIGKILL to {', '.join(killed) or 'nobody'}; "
            f"a process that inherited it is alive: `fuser {folder}/trainer.lock` names it"
        )
        return exitcodes.FAILED
    reason = "syllo-train stop --now: " + (
        f"SIGKILL to {', '.join(killed)}" if killed else "no live process"
    )
    tail = read_last_events(folder / EVENTS_FILE)
    if tail and tail[-1].get("type") != "run_end":
        started = info.get("started_at")
        elapsed = time.time() - started if isinstance(started, (int, float)) else 0.0
        record_end(folder, "stopped", reason, elapsed_s=elapsed)
    _clean_stale_locks(info, folder)
    print_inert(
        f"syllo-train: {reason}; run_end stopped recorded in {folder / EVENTS_FILE}", sys.stdout
    )
    return 0


def _clean_stale_locks(info: dict[str, Any], folder: Path) -> None:
    """Remove the dead holder's lock files (taking each first, so a live new holder is never touched)."""
    from syllo_train.ops.lock import FolderLock

    for f in info.get("folders") or [str(folder)]:
        if lock_held(f) is False:
            try:
                FolderLock.acquire(f, {}, notify=lambda _msg: None, tries=1).release()
            except LockError:
                pass  # somebody took it in between: theirs now


# --- status --------------------------------------------------------------------------------------


def _read_snap(folder: Path) -> dict[str, Any] | None:
    try:
        return read_snapshot(folder / SNAPSHOT_FILE)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _err(f"warning: {exc}")
        return None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


def _num(x: Any, spec: str = ".4f") -> str:
    return "n/a" if x is None else format(x, spec)


def assess(folder: Path, *, stale_after_s: float | None = None) -> tuple[int, str, list[str]]:
    """(exit code, state word, detail lines) for the run in ``folder``."""
    snap = _read_snap(folder)
    held = lock_held(folder)
    info = (read_lock(folder) or {}) if held is not None else {}
    if snap is None and not held:
        return (
            exitcodes.BAD_INPUT,
            "NO RUN",
            [f"no {SNAPSHOT_FILE} and no live trainer in {folder}"],
        )
    status = (snap or {}).get("status") or "starting"
    notes: list[str] = []
    if held:
        supervised = info.get("role") == "supervisor"
        if supervised:
            sup = f"supervisor pid {info.get('pid')}"
            if not pid_alive(info.get("pid")):
                sup += " (gone: its trainer runs on unsupervised)"
            notes.append(
                f"alive: {sup}, trainer pid {info.get('trainer_pid') or '-'}, restarts "
                f"{info.get('restarts', 0)}/{info.get('max_restarts')}; {info.get('state') or 'running'}"
            )
        else:
            notes.append(f"alive: pid {info.get('pid')}")
        if status in ("completed", "stopped"):
            return exitcodes.FINISHED, status.upper(), [*notes, "(the process is exiting)"]
        if status == "failed" and not supervised:
            return exitcodes.FAILED, "FAILED", [*notes, "(the process is exiting)"]
        activity = max(
            filter(None, [last_beat(folder), _mtime(folder / EVENTS_FILE)]), default=None
        )
        # The current trainer's start (a restart reloads the model: start-timeout again).
        started = float(info.get("trainer_started_at") or info.get("started_at") or 0.0)
        since = max(activity or 0.0, started)
        silent = time.time() - since
        if stale_after_s is not None:
            limit = stale_after_s
        elif not beaten_since(folder, started):
            limit = float(info.get("start_timeout_s") or 1800.0)  # not past its first step yet
        else:
            limit = float(info.get("stall_timeout_s") or DEFAULT_STALE_AFTER_S)
        notes.append(
            f"activity: last event or heartbeat {_dur(silent)} ago (stale after {_dur(limit)})"
        )
        if silent > limit:
            return (
                exitcodes.STALE,
                "STALE",
                [*notes, "alive but not moving: hung? `syllo-train stop --now` ends it"],
            )
        if status == "failed":
            return exitcodes.OK, "RESTARTING", notes
        return exitcodes.OK, "RUNNING" if snap else "STARTING", notes
    if held is False:
        notes.append(
            f"lock file left by a dead process: {describe(info)} (removed by the next start)"
        )
    if status in ("completed", "stopped"):
        return exitcodes.FINISHED, status.upper(), notes
    if status == "failed":
        return exitcodes.FAILED, "FAILED", notes
    notes.append(
        f"the snapshot says {status!r} but no live process holds the lock: the trainer died without writing "
        "run_end; `syllo-train run` (or --detach) resumes it from its last checkpoint"
    )
    return exitcodes.STALE, "STALE", notes


def summary(folder: Path, code: int, state: str, notes: list[str]) -> str:
    """The plain-text report ``syllo-train status`` prints."""
    snap = _read_snap(folder) or {}
    lines = [f"{state}  run {snap.get('run_id') or '?'} in {folder}/"]
    if snap:
        step, total = snap.get("step"), snap.get("total_steps")
        pct = f" ({100 * step / total:.0f}%)" if isinstance(step, int) and total else ""
        c = snap.get("counters") or {}
        ckpt = snap.get("last_checkpoint") or {}
        ckpt_text = "none yet"
        if snap.get("resumed_from"):  # a resumed trainer's snapshot starts without one
            ckpt_text = f"none since the resume from {snap['resumed_from']}"
        if ckpt.get("path"):
            ago = (
                f", {_dur(time.time() - ckpt['ts'])} ago"
                if isinstance(ckpt.get("ts"), (int, float))
                else ""
            )
            ckpt_text = f"{ckpt['path']} (step {ckpt.get('step')}{ago})"
        lines += [
            f"step        {step}/{total}{pct}",
            f"loss        {_num(snap.get('loss'))}   val loss {_num(snap.get('val_loss'))}   gap {_num(snap.get('gap'), '+.4f')}",
            f"timeouts    {snap.get('timeouts', 0)} ({snap.get('timeout_pct', 0.0)}% of {c.get('generations', 0)} generations)",
            f"ETA         {_dur(snap.get('eta_s')) if code == exitcodes.OK else '-'}",
            f"checkpoint  {ckpt_text}",
        ]
        if snap.get("reason"):
            lines.append(f"reason      {snap['reason']}")
    lines += [f"note        {n}" for n in notes]
    if (
        code in (exitcodes.FAILED, exitcodes.STALE, exitcodes.BAD_INPUT)
        and (folder / OUT_NAME).exists()
    ):
        lines += [f"last lines of {folder / OUT_NAME}:", _tail_text(folder / OUT_NAME, 8)]
    return "\n".join(lines)


def status(target: str | os.PathLike[str], *, stale_after_s: float | None = None) -> int:
    """``syllo-train status``: print the summary; return its exit code (exitcodes: OK = running)."""
    folder = _existing_folder(target)
    if folder is None:
        return exitcodes.BAD_INPUT
    code, state, notes = assess(folder, stale_after_s=stale_after_s)
    print_inert(summary(folder, code, state, notes), sys.stdout)  # quotes untrusted reasons
    return code
