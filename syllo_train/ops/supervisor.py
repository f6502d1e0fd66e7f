"""``syllo-train run --supervise``: a parent that restarts a crashed or hung trainer.

The supervisor holds the run's lock and starts the trainer as a child
(``python -m syllo_train run CONFIG --set …``) in its own process group, lending
it the lock. It watches three things:

* the child's exit: a ``run_end`` completed/stopped as the last event means
  done; anything else (an exception, an OOM kill, a segfault) is a crash;
* progress: the heartbeat file (beaten at every step end and between eval
  generations) and the events file. When neither changes for
  ``stall_timeout_s`` (``start_timeout_s`` until the child's first heartbeat,
  at the end of its first step: loading a big model, resuming a checkpoint or
  compiling the first step is slow) the trainer is hung — a stuck CUDA call, a
  collective waiting for a dead peer — and its whole process group gets SIGKILL;
* stop signals: SIGTERM/SIGINT/SIGHUP are passed on to the trainer (which
  finishes its step, saves and ends ``stopped``); no restart follows.

A crash or hang is followed by a restart from the newest complete checkpoint,
after a back-off (``backoff_s``, doubling, capped), at most ``max_restarts``
times. Each restart's ``resume`` event carries the reason (the trainer writes
it from ``SYLLO_RESUME_REASON``). When the budget is spent the supervisor
itself appends ``error`` + ``run_end`` failed with the reason, and folds them
into the status snapshot and the human log. Pure: stdlib + syllo's pure modules.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syllo_train import exitcodes
from syllo_train.checkpoints import list_checkpoints, read_marker
from syllo_train.events import EVENTS_FILE, read_last_events
from syllo_train.inert import print_inert
from syllo_train.ops.faults import ATTEMPT_ENV
from syllo_train.ops.heartbeat import HEARTBEAT_NAME, beaten_since
from syllo_train.ops.lock import RunLock
from syllo_train.sinks.reporter import append_events, record_end

RESUME_ENV = "SYLLO_RESUME_REASON"  # runner.py puts it into the resume event's reason


@dataclass(frozen=True)
class SuperviseOptions:
    """How patient the supervisor is, and how often it tries again."""

    stall_timeout_s: float = 600.0  # no event and no heartbeat this long = hung
    start_timeout_s: float = 1800.0  # the same, until the trainer's first step (model loading)
    max_restarts: int = 3  # restarts allowed over the whole supervised run
    backoff_s: float = 5.0  # wait before the first restart; doubles each time
    max_backoff_s: float = 300.0  # cap on that wait
    poll_s: float = 0.25  # how often the child is checked
    quiet: bool = False  # pass --quiet to the trainer (no human log on stdout)

    def problems(self, generation_timeout_s: float, stall_grace_s: float) -> list[str]:
        """Settings that would misfire (a healthy eval generation read as a hang, …)."""
        out = []
        if self.stall_timeout_s <= 0:
            out.append("--stall-timeout must be > 0 seconds")
        silent = generation_timeout_s + stall_grace_s
        if 0 < self.stall_timeout_s <= silent:
            out.append(
                f"--stall-timeout {self.stall_timeout_s:g} s is not above monitor.generation_timeout_s + "
                f"monitor.stall_grace_s = {silent:g} s: one slow but healthy eval generation would be killed "
                f"as a hang; raise --stall-timeout above {silent:g}"
            )
        if self.start_timeout_s < self.stall_timeout_s:
            out.append("--start-timeout must be at least --stall-timeout")
        if self.max_restarts < 0:
            out.append("--max-restarts must be 0 or more")
        if self.backoff_s < 0:
            out.append("--backoff must be 0 or more seconds")
        return out


# --- reading and appending to a run's event stream -----------------------------------------------


def has_complete_checkpoint(output_dir: str | os.PathLike[str]) -> bool:
    """Is there a checkpoint in ``output_dir`` that ``train.resume = "auto"`` would take?"""
    return any(read_marker(path) is not None for _, path in list_checkpoints(Path(output_dir)))


# --- the supervisor ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one trainer attempt ended."""

    kind: str  # done | stopped | bad_input | crash | hang
    reason: str
    code: int = 0


class Supervisor:
    """Starts, watches and restarts one run's trainer (see the module docstring)."""

    def __init__(
        self,
        cfg: Any,
        config_path: str,
        overrides: Sequence[str],
        lock: RunLock,
        opts: SuperviseOptions,
    ) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.overrides = list(overrides)
        self.lock = lock
        self.opts = opts
        self.out_dir = Path(cfg.output.dir)
        self.events_path = self.out_dir / EVENTS_FILE
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_signal: str | None = None
        self._signals: list[signal.Signals] = []  # received, not yet passed on
        self._forwarded = 0
        self.t0 = time.time()

    def log(self, text: str) -> None:
        print_inert(f"syllo-train supervisor: {text}")

    # ---- signals --------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Only note it here; the watch loop passes it on (a child may be starting right now).
        self.stop_signal = signal.Signals(signum).name
        self._signals.append(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    def _forward_signals(self, child: subprocess.Popen[bytes]) -> None:
        """Pass pending stop signals to the trainer, whose own handler does the work:
        the first finishes the step, saves and stops; a second exits at once."""
        while self._signals:
            sig = self._signals.pop(0)
            if self._forwarded == 0:
                self.log(f"received {self.stop_signal}: stopping the trainer (no restart)")
            self._forwarded += 1
            try:
                os.kill(child.pid, sig)
            except ProcessLookupError:
                pass

    # ---- the loop -------------------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until the run completes, is stopped, or the restart budget is spent; the exit code."""
        old = {
            s: signal.signal(s, self._on_signal)
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        self.lock.update(
            pid=os.getpid(),
            role="supervisor",
            supervised=True,
            stall_timeout_s=self.opts.stall_timeout_s,
            start_timeout_s=self.opts.start_timeout_s,
            max_restarts=self.opts.max_restarts,
            state="starting the trainer",
        )
        try:
            return self._loop()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)

    def _loop(self) -> int:
        restarts, resume_reason = 0, None
        for attempt in range(self.opts.max_restarts + 1):
            if self.stop_signal:
                return self._end_stopped(
                    f"{self.stop_signal} received before the trainer restarted"
                )
            outcome = self._attempt(attempt, restarts, resume_reason)
            if outcome.kind in ("done", "stopped"):
                return outcome.code
            if outcome.kind == "bad_input":
                if attempt == 0:
                    return (
                        exitcodes.BAD_INPUT
                    )  # nothing was written: the trainer said why on stderr
                return self._end_failed(
                    f"the restarted trainer refused its input (exit 2): {outcome.reason}",
                    "TrainerFailed",
                )
            if restarts >= self.opts.max_restarts:
                break
            restarts += 1
            delay = min(self.opts.backoff_s * 2 ** (restarts - 1), self.opts.max_backoff_s)
            resume_reason = (
                f"supervisor restart {restarts}/{self.opts.max_restarts}: {outcome.reason}"
            )
            self.log(
                f"{outcome.reason}; restarting in {delay:g} s ({restarts}/{self.opts.max_restarts})"
            )
            self.lock.update(
                trainer_pid=None,
                trainer_pgid=None,
                restarts=restarts,
                state=f"restarting in {delay:g} s: {outcome.reason}",
            )
            if not self._sleep(delay):
                return self._end_stopped(f"{self.stop_signal} received while waiting to restart")
        return self._end_failed(
            f"{outcome.reason}; restart budget spent ({restarts} of --max-restarts "
            f"{self.opts.max_restarts} used)",
            "RestartBudgetSpent",
        )

    def _sleep(self, seconds: float) -> bool:
        """Sleep, but wake for a stop signal; False when one came."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.stop_signal:
                return False
            time.sleep(min(self.opts.poll_s, max(0.0, end - time.monotonic())))
        return not self.stop_signal

    def _end_failed(self, reason: str, error_type: str) -> int:
        self.log(f"giving up: {reason}")
        if read_last_events(self.events_path):
            record_end(
                self.out_dir,
                "failed",
                reason,
                elapsed_s=time.time() - self.t0,
                error=(error_type, reason),
            )
        return exitcodes.FAILED

    def _end_stopped(self, reason: str) -> int:
        """Record ``run_end`` stopped unless the trainer ended the run itself (a crash's failed end is
        superseded: the stop came instead of the restart)."""
        tail = read_last_events(self.events_path)
        last = tail[-1] if tail else {}
        if tail and not (
            last.get("type") == "run_end" and last.get("status") in ("stopped", "completed")
        ):
            record_end(self.out_dir, "stopped", reason, elapsed_s=time.time() - self.t0)
        return exitcodes.OK

    # ---- one attempt ----------------------------------------------------------------------------

    def _command(self, extra: Sequence[str]) -> list[str]:
        cmd = [sys.executable, "-m", "syllo_train", "run", self.config_path]
        for item in [*self.overrides, *extra]:
            cmd += ["--set", item]
        return cmd + (["--quiet"] if self.opts.quiet else [])

    def _prepare_restart(self, resume_reason: str | None) -> list[str]:
        """Extra --set items for a restart, and the resume event when the trainer will not write one."""
        if resume_reason is None:
            return []
        if has_complete_checkpoint(self.cfg.train.output_dir):
            # Resume from this run's newest checkpoint, whatever train.resume said for the first start.
            return ["train.resume=auto"]
        if self.cfg.train.resume in ("auto", "never") and read_last_events(self.events_path):
            # No checkpoint yet: the trainer starts from step 0 and writes no resume event; mark the seam here.
            append_events(
                self.out_dir,
                [
                    (
                        "resume",
                        {
                            "step": 0,
                            "from_checkpoint": None,
                            "reason": resume_reason + " (no checkpoint yet: from step 0)",
                        },
                    )
                ],
            )
        return []

    def _activity(self) -> tuple[int, int, int]:
        """What changes while the trainer makes progress: the events file and the heartbeat."""

        def stat(path: Path) -> tuple[int, int]:
            try:
                st = path.stat()
                return st.st_size, st.st_mtime_ns
            except FileNotFoundError:
                return -1, -1

        size, mtime = stat(self.events_path)
        return size, mtime, stat(self.out_dir / HEARTBEAT_NAME)[1]

    def _attempt(self, attempt: int, restarts: int, resume_reason: str | None) -> Outcome:
        extra = self._prepare_restart(resume_reason)
        env = {**os.environ, **self.lock.env("borrowed"), ATTEMPT_ENV: str(attempt)}
        env.pop(RESUME_ENV, None)
        if resume_reason:
            env[RESUME_ENV] = resume_reason
        start_size = self._activity()[0]
        # Its own process group: a hang is ended by killing the group (data workers included)
        # without killing the supervisor; terminal signals reach the supervisor only.
        self.child = child = subprocess.Popen(
            self._command(extra),
            env=env,
            pass_fds=self.lock.fds,
            process_group=0,
            stdin=subprocess.DEVNULL,
        )
        self.log(
            f"trainer pid {child.pid} started (attempt {attempt + 1}, restarts {restarts}/{self.opts.max_restarts})"
        )
        started_at = round(time.time(), 3)
        self.lock.update(
            trainer_pid=child.pid,
            trainer_pgid=child.pid,
            trainer_started_at=started_at,
            attempt=attempt,
            restarts=restarts,
            state="running",
        )
        seen, last_change, wrote, stepped = self._activity(), time.monotonic(), False, False
        hang: str | None = None
        while child.poll() is None:
            self._forward_signals(child)
            now_seen = self._activity()
            if now_seen != seen:
                seen, last_change = now_seen, time.monotonic()
                wrote = wrote or now_seen[0] > start_size
                stepped = stepped or beaten_since(self.out_dir, started_at)
            silent = time.monotonic() - last_change
            limit, name = (
                (self.opts.stall_timeout_s, "stall")
                if stepped
                else (self.opts.start_timeout_s, "start")
            )
            if silent > limit:
                hang = (
                    f"no event or heartbeat for {silent:.0f} s (--{name}-timeout {limit:g} s) after step "
                    f"{self._last_step()}: trainer pid {child.pid} hung, killed"
                )
                self._kill_group(child)
                break
            time.sleep(self.opts.poll_s)
        code = child.wait()
        self.child = None
        self.lock.update(trainer_pid=None, trainer_pgid=None, state="trainer exited")
        return self._classify(code, hang, wrote, child.pid)

    def _kill_group(self, child: subprocess.Popen[bytes]) -> None:
        # SIGKILL: a process stuck in a CUDA call or a collective does not run signal handlers.
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _last_step(self) -> int:
        tail = read_last_events(self.events_path, 65_536)
        return int(tail[-1].get("step") or 0) if tail else 0

    def _classify(self, code: int, hang: str | None, wrote: bool, pid: int) -> Outcome:
        tail = read_last_events(self.events_path, 65_536) if wrote else []
        last = tail[-1] if tail else {}
        ended = last.get("type") == "run_end"
        if ended and last.get("status") in ("completed", "stopped"):
            self.log(f"trainer ended: {last.get('status')} at step {last.get('step')}")
            return Outcome("done", str(last.get("reason")), exitcodes.OK)
        if self.stop_signal:
            why = f"{self.stop_signal} received" + (f"; {hang}" if hang else "")
            if ended:  # it failed on its way out: that is the run's end
                return Outcome("stopped", why, exitcodes.FAILED)
            return Outcome("stopped", why, self._end_stopped(why))
        if hang:
            return Outcome("hang", hang)
        if code == exitcodes.BAD_INPUT and not wrote:
            return Outcome("bad_input", "see the trainer's error above")
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        detail = f" ({last.get('reason')})" if ended and last.get("reason") else ""
        return Outcome(
            "crash", f"trainer pid {pid} crashed: {how} after step {self._last_step()}{detail}"
        )


def supervise(cfg: Any, config_path: str, overrides: Sequence[str], opts: SuperviseOptions) -> int:
    """``syllo-train run --supervise``: take (or adopt) the lock, supervise, release; the exit code."""
    from syllo_train.ops.lock import LockError

    problems = opts.problems(cfg.monitor.generation_timeout_s, cfg.monitor.stall_grace_s)
    if problems:
        for p in problems:
            print_inert(f"syllo-train: error: {p}")
        return exitcodes.BAD_INPUT
    try:
        lock = RunLock.from_env(cfg) or RunLock.acquire(
            cfg, role="supervisor", config_path=config_path
        )
    except LockError as exc:
        print_inert(f"syllo-train: error: {exc}")
        return exc.exit_code
    with lock:
        return Supervisor(cfg, config_path, overrides, lock, opts).run()
