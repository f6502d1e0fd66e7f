"""Shared machinery of the torture suite: scale knobs, the figures table, trainer processes.

Scale: ``SYLLO_TORTURE_SCALE`` is ``ci`` (the default: small counts that fit a
CI job) or ``full`` (``make torture``: the published counts). Each count can
also be set on its own (``SYLLO_TORTURE_KILLS=50``, ``SYLLO_TORTURE_FUZZ=20000``);
``SYLLO_TORTURE_SEED`` fixes the random kill moments so a failure reproduces.

Figures: every test records what it did, how many times and what was lost
(``record``); ``tests/reliability/conftest.py`` prints them as a table at the
end of the session and writes them as JSON (``SYLLO_TORTURE_REPORT``, default
``runs/torture/figures.json``). ``docs/reliability.md`` is written from them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from syllo_train.events import validate_event

REPO = Path(__file__).resolve().parents[2]

# --- scale ----------------------------------------------------------------------------------------

SCALE = os.environ.get("SYLLO_TORTURE_SCALE", "ci").strip().lower() or "ci"
if SCALE not in ("ci", "full"):
    raise RuntimeError(f"SYLLO_TORTURE_SCALE = {SCALE!r}: use 'ci' (default) or 'full'")


def knob(name: str, ci: int, full: int) -> int:
    """``SYLLO_TORTURE_<NAME>`` if set, else the count for the current scale."""
    raw = os.environ.get(f"SYLLO_TORTURE_{name}", "").strip()
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise RuntimeError(f"SYLLO_TORTURE_{name} = {raw!r}: expected an integer") from None
    return full if SCALE == "full" else ci


#: SIGKILLs delivered to one long training run (each followed by an auto-resume).
KILLS = knob("KILLS", 3, 20)
#: Hypothesis examples per fuzz target.
FUZZ = knob("FUZZ", 300, 10_000)
#: Seed of the kill moments and phases.
SEED = knob("SEED", int(time.time()) % 100_000, int(time.time()) % 100_000)

#: Environment for trainer/TUI subprocesses: offline, one thread each (2-core box).
SUBPROCESS_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **SUBPROCESS_ENV, **extra}
    # A test's own fault spec must never leak into the next subprocess.
    if "SYLLO_FAULT" not in extra:
        env.pop("SYLLO_FAULT", None)
    return env


# --- figures --------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One row of the published table."""

    test: str  # pytest node id
    what: str  # what was done to the system
    times: int  # how many times
    lost: str  # what was lost (the result a user cares about)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def command(self) -> str:
        env = "SYLLO_TORTURE_SCALE=full " if SCALE == "full" else ""
        return f"{env}.venv/bin/pytest -q -m reliability '{self.test}'"


FIGURES: list[Figure] = []
_lock = threading.Lock()


def record(test: str, what: str, times: int, lost: str, **details: Any) -> Figure:
    """Add a row to the session's figures (printed and saved at the end)."""
    fig = Figure(test, what, times, lost, details)
    with _lock:
        FIGURES.append(fig)
    return fig


# --- events and snapshot files ----------------------------------------------------------------------


@dataclass
class EventsFile:
    """An events file as a crash left it."""

    events: list[dict[str, Any]]
    torn_tail: bytes  # bytes after the last newline (a line cut by the crash), b"" if none
    bad_lines: list[
        tuple[int, bytes]
    ]  # (line number, bytes or problems) of lines that do not parse


def read_events_file(path: Path, *, allowed_bad: frozenset[int] = frozenset()) -> EventsFile:
    """Parse every complete line; ``allowed_bad`` are line numbers known to be earlier torn tails."""
    data = path.read_bytes() if path.exists() else b""
    body, sep, tail = data.rpartition(b"\n")
    lines = body.split(b"\n") if sep else []
    if not sep:
        tail = data
    events, bad = [], []
    for n, line in enumerate(lines, 1):
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            if n not in allowed_bad:
                bad.append((n, line))
            continue
        problems = validate_event(event)
        if problems:
            bad.append((n, f"{problems}".encode()))
            continue
        events.append(event)
    return EventsFile(events, tail, bad)


def read_snapshot(path: Path) -> dict[str, Any]:
    """The status snapshot, strictly: raises ValueError if it is not one whole JSON object."""
    data = orjson.loads(path.read_bytes())
    if not isinstance(data, dict) or "status" not in data or "step" not in data:
        raise ValueError(f"{path}: not a status snapshot: {str(data)[:200]}")
    return data


class SnapshotPoller:
    """A reader that reads ``training_status.json`` in a tight loop on its own thread.

    Counts every read; an invalid one (not whole JSON, not a snapshot) is kept
    as evidence. A missing file is only expected before the first write.
    """

    def __init__(self, path: Path, interval_s: float = 0.0005) -> None:
        self.path = path
        self.interval_s = interval_s
        self.reads = 0
        self.valid = 0
        self.invalid: list[str] = []
        self.missing_before_first = 0
        self.missing_after_first = 0
        self.distinct_updates = 0
        self._last_updated: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshot-poller", daemon=True)

    def start(self) -> SnapshotPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.reads += 1
            try:
                data = read_snapshot(self.path)
            except FileNotFoundError:
                if self.valid:
                    self.missing_after_first += 1
                else:
                    self.missing_before_first += 1
            except (ValueError, OSError) as exc:
                self.invalid.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                self.valid += 1
                if data.get("updated_at") != self._last_updated:
                    self._last_updated = data.get("updated_at")
                    self.distinct_updates += 1
            time.sleep(self.interval_s)


# --- trainer processes -----------------------------------------------------------------------------


class Trainer:
    """``python -m syllo_train run CONFIG`` in the background, with helpers to wait and kill.

    Output goes to ``stdout.txt``/``stderr.txt`` in ``cwd`` (appended across restarts).
    """

    def __init__(
        self,
        config: Path,
        cwd: Path,
        *,
        status_dir: str = "status",
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.cwd = cwd
        self.events_path = cwd / status_dir / "events.jsonl"
        self.snapshot_path = cwd / status_dir / "training_status.json"
        self.start_offset = self.events_path.stat().st_size if self.events_path.exists() else 0
        self.started = time.monotonic()
        self.started_wall = time.time()  # compared with file mtimes
        with open(cwd / "stdout.txt", "ab") as out, open(cwd / "stderr.txt", "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syllo_train", "run", str(config), "--quiet"],
                cwd=cwd,
                env=env or subprocess_env(),
                stdout=out,
                stderr=err,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def own_events(self) -> list[dict[str, Any]]:
        """Complete, parseable events written since this process started."""
        try:
            with open(self.events_path, "rb") as fh:
                fh.seek(self.start_offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        out = []
        for line in data.split(b"\n")[:-1]:
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # a torn line of an earlier process: checked elsewhere
        # Events of this process only: everything from its run_start on.
        for i, e in enumerate(out):
            if e.get("type") == "run_start" and e.get("pid") == self.pid:
                return out[i:]
        return []

    def stderr_tail(self, n: int = 3000) -> str:
        path = self.cwd / "stderr.txt"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float, what: str, poll_s: float = 0.005
    ) -> Any:
        """Poll ``predicate`` until it returns something truthy; fail if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = predicate()
            if got:
                return got
            if self.proc.poll() is not None:
                got = predicate()
                if got:
                    return got
                raise AssertionError(
                    f"the trainer exited ({self.proc.returncode}) before {what}\n{self.stderr_tail()}"
                )
            time.sleep(poll_s)
        self.kill()
        raise AssertionError(f"gave up waiting {timeout:.0f}s for {what}\n{self.stderr_tail()}")

    def wait_event(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((e for e in self.own_events() if pred(e)), None)

        return self.wait_for(find, timeout, what, poll_s=0.01)

    def kill(self) -> None:
        """SIGKILL and reap (no-op if it already exited)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"the trainer did not finish within {timeout:.0f}s\n{self.stderr_tail()}"
            ) from None


def inet_sockets(pid: int) -> list[str]:
    """Every TCP/UDP socket (v4/v6) that process ``pid`` and its children hold, described."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    out = []
    for p in procs:
        try:
            conns = p.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        out += [f"pid {p.pid}: {c.type.name} {c.laddr} -> {c.raddr} {c.status}" for c in conns]
    return out


def listening(sockets: list[str]) -> list[str]:
    """The listeners among ``inet_sockets`` output: TCP in LISTEN state, or any bound UDP socket."""
    return [s for s in sockets if "LISTEN" in s or "SOCK_DGRAM" in s]


def rng(label: str) -> random.Random:
    """A random stream per test, derived from the session seed (printed in the figures)."""
    return random.Random(f"{SEED}:{label}")


def dump_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
