"""Crash consistency: SIGKILL one long training run at random moments, many times.

One run is killed ``KILLS`` times (``SYLLO_TORTURE_KILLS``), each time at a
moment aimed at a different phase: inside a training step, inside an eval
round, inside a checkpoint write, right when the Trainer deletes the previous
checkpoint (``save_total_limit = 1``: the riskiest setting), and during
start-up. After every kill:

* the status snapshot is one whole JSON object;
* every line of the events file parses and passes the contract (a torn last
  line is the only damage a crash may leave);
* the newest checkpoint with syllo's completion marker loads with
  ``AutoModelForCausalLM.from_pretrained`` and its marker agrees with its step;
* the restart (the same command: ``train.resume = "auto"``) resumes from that
  checkpoint, so at most ``save_steps`` logged steps are trained again.

Finally the run is let finish. A reader thread polls the status snapshot the
whole time (tens of thousands of reads) and must never see a broken file; the
trainer must never hold a listening socket.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _torture as T
import pytest

from syllo_train.checkpoints import list_checkpoints, read_marker

SAVE, EVAL, LOG = 5, 10, 1
# Each kill moves the run on by at most 2 * SAVE steps (the "step" aim) plus the few steps
# trained between seeing the aimed-at log line and the kill landing; the margin keeps the
# run from ending before its last kill however fast the machine trains.
MAX_STEPS = 30 + 12 * T.KILLS
# The phase each kill aims at, in turn (SYLLO_TORTURE_PHASES=rotation,checkpoint to focus).
PHASES = tuple(
    os.environ.get("SYLLO_TORTURE_PHASES", "").replace(" ", "").split(",")
    if os.environ.get("SYLLO_TORTURE_PHASES")
    else (
        "step",
        "checkpoint",
        "eval",
        "rotation",
        "step",
        "checkpoint",
        "eval",
        "rotation",
        "startup",
        "checkpoint",
    )
)
START_TIMEOUT = 240  # a cold start is ~7 s; a loaded 2-core CI box can be much slower

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(600 + 90 * T.KILLS)]


def _complete(out: Path) -> list[tuple[int, Path]]:
    """Checkpoints with syllo's completion marker, newest first."""
    return [(n, p) for n, p in list_checkpoints(out) if read_marker(p) is not None]


def _touched_since(folder: Path, wall: float) -> bool:
    try:
        return any(p.stat().st_mtime >= wall for p in [folder, *folder.iterdir()])
    except FileNotFoundError:
        return False


def _classify(tr: T.Trainer, out: Path, newest_before: int) -> str:
    """Which phase the process was in when it died, from what it left behind."""
    own = tr.own_events()
    if not own:
        return "startup (before run_start)"
    for n, path in list_checkpoints(out):
        if n <= newest_before or not _touched_since(path, tr.started_wall):
            continue
        if read_marker(path) is None:
            if newest_before and not _complete(out):
                return "checkpoint rotation (old one deleted, new one unmarked)"
            return "checkpoint write"
        if not any(e["type"] == "checkpoint" and e["step"] == n for e in own):
            return "checkpoint rotation (new one marked, old one being deleted)"
        break
    last = own[-1]
    if (
        last["type"] == "log"
        and last["step"] % EVAL == 0
        and not any(e["type"] == "eval" and e["step"] == last["step"] for e in own)
    ):
        return "eval round"
    if last["type"] == "checkpoint":
        return "right after a checkpoint"
    return "training step"


def _load_checkpoint(path: Path) -> int:
    """Load the checkpoint's weights as a user would; return the parameter count."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype="float32")
    return sum(p.numel() for p in model.parameters())


def _aim(phase: str, tr: T.Trainer, out: Path, resume_step: int, rnd: Any) -> float:
    """Wait for the moment ``phase`` asks for; return the extra random delay slept (s)."""
    if phase == "step":
        # Aimed at a step, not at a time: a fast machine trains the whole run in about a
        # second, so a wall-clock delay after the first log could outlive the run.
        target = resume_step + rnd.randint(1, 2 * SAVE)
        tr.wait_event(
            lambda e: e["type"] == "log" and e["step"] >= target, START_TIMEOUT, f"log@{target}"
        )
        delay = rnd.uniform(0.0, 0.01)  # somewhere inside the next step (~10 ms here)
    elif phase == "eval":
        target = (resume_step // EVAL + 1) * EVAL
        tr.wait_event(
            lambda e: e["type"] == "log" and e["step"] == target, START_TIMEOUT, f"log@{target}"
        )
        delay = rnd.uniform(0.0, 0.12)  # an eval round of 2 generations takes ~0.2 s here
    elif phase == "checkpoint":
        target = (resume_step // SAVE + 1) * SAVE
        folder = out / f"checkpoint-{target}"
        tr.wait_for(
            lambda: folder.is_dir() and _touched_since(folder, tr.started_wall),
            START_TIMEOUT,
            f"{folder.name} to appear",
            poll_s=0.001,
        )
        delay = rnd.uniform(0.0, 0.02)  # a save takes ~40 ms here
    elif phase == "rotation":
        # The Trainer deletes the previous checkpoint (save_total_limit = 1) while saving
        # the next one: kill the moment the old folder is gone.
        prev = resume_step
        if prev == 0:
            first = out / f"checkpoint-{SAVE}"
            tr.wait_for(
                lambda: read_marker(first) is not None, START_TIMEOUT, "the first checkpoint"
            )
            prev = SAVE
        old = out / f"checkpoint-{prev}"
        tr.wait_for(
            lambda: not old.exists(), START_TIMEOUT, f"{old.name} to be rotated away", poll_s=0.0005
        )
        delay = 0.0
    elif phase == "startup":
        # A random moment of the start-up, which ends at the first trained step at the
        # latest: a fixed sleep on a fast machine would land after the run had ended.
        delay = rnd.uniform(0.5, 5.0)
        until = time.monotonic() + delay
        tr.wait_for(
            lambda: time.monotonic() >= until or any(e["type"] == "log" for e in tr.own_events()),
            START_TIMEOUT,
            "the start-up's kill moment",
            poll_s=0.002,
        )
        return delay
    else:  # pragma: no cover - a typo in PHASES
        raise AssertionError(phase)
    if delay:
        time.sleep(delay)
    return delay


def _check_after_kill(cwd: Path, out: Path, allowed_bad: set[int]) -> tuple[int, int, T.EventsFile]:
    """The invariants a crash must keep; returns (newest complete step, furthest logged step, file)."""
    snap = T.read_snapshot(cwd / "status" / "training_status.json")  # raises if not whole JSON
    assert snap["status"] in ("training", "starting"), snap["status"]
    ev = T.read_events_file(cwd / "status" / "events.jsonl", allowed_bad=frozenset(allowed_bad))
    assert not ev.bad_lines, f"events file damaged beyond a torn last line: {ev.bad_lines[:3]}"
    complete = _complete(out)
    newest = 0
    if complete:
        newest, path = complete[0]
        marker = read_marker(path)
        assert marker is not None and marker["step"] == newest, marker
        state = json.loads((path / "trainer_state.json").read_text())
        assert state["global_step"] == newest
        assert _load_checkpoint(path) > 0
    logged = [e["step"] for e in ev.events if e["type"] == "log"]
    return newest, max(logged, default=0), ev


def _check_resume(tr: T.Trainer, expected: int, furthest: int) -> int:
    """At run_start: the restart resumes from the newest complete checkpoint; returns steps lost."""
    start = tr.wait_event(lambda e: e["type"] == "run_start", START_TIMEOUT, "run_start")
    if expected:
        assert start["resumed_from"] and start["resumed_from"].endswith(f"checkpoint-{expected}"), (
            start["resumed_from"]
        )
        resume = tr.wait_event(lambda e: e["type"] == "resume", 30, "the resume event")
        assert resume["step"] == expected
    else:
        assert start["resumed_from"] is None
    lost = furthest - expected
    assert 0 <= lost <= SAVE, (
        f"resumed at {expected} but step {furthest} had been logged: {lost} steps lost"
    )
    return lost


def test_kill9_at_random_moments_loses_at_most_save_steps(
    tmp_path: Path, make_config: Callable[..., Path], figure: Any
) -> None:
    rnd = T.rng("kill9")
    cfg = make_config(
        tmp_path,
        train={"max_steps": MAX_STEPS, "save_steps": SAVE, "save_total_limit": 1},
        monitor={
            "log_steps": LOG,
            "eval_steps": EVAL,
            "eval_samples": 2,
            "max_new_tokens": 24,
            "generation_timeout_s": 30,
        },
    )
    out = tmp_path / "runs" / "out"
    poller = T.SnapshotPoller(tmp_path / "status" / "training_status.json").start()
    allowed_bad: set[int] = set()
    kills: list[dict[str, Any]] = []
    sockets: list[str] = []
    expected, furthest = 0, 0
    try:
        for i in range(T.KILLS):
            phase = PHASES[i % len(PHASES)]
            tr = T.Trainer(cfg, tmp_path)
            lost: int | None = None
            if phase != "startup":
                lost = _check_resume(tr, expected, furthest)
                sockets += T.inet_sockets(tr.pid)
            delay = _aim(phase, tr, out, expected, rnd)
            assert tr.proc.poll() is None, f"kill {i}: the run ended on its own\n{tr.stderr_tail()}"
            tr.kill()
            assert tr.proc.returncode == -9
            observed = _classify(tr, out, expected)
            newest, logged, ev = _check_after_kill(tmp_path, out, allowed_bad)
            assert newest >= expected, (
                f"kill {i} ({observed}) left checkpoint-{newest} as the newest complete one; "
                f"checkpoint-{expected} was complete before: a kill destroyed a complete checkpoint"
            )
            if ev.torn_tail:
                # The next writer ends the torn line; it stays a known bad line in the middle.
                allowed_bad.add(len(ev.events) + len(allowed_bad) + 1)
            kills.append(
                {
                    "kill": i,
                    "aimed_at": phase,
                    "observed": observed,
                    "delay_s": round(delay, 3),
                    "lost_at_restart": lost,
                    "furthest_logged": logged,
                    "newest_complete": newest,
                    "torn_tail": bool(ev.torn_tail),
                }
            )
            expected, furthest = newest, max(furthest, logged)
        tr = T.Trainer(cfg, tmp_path)
        final_lost = _check_resume(tr, expected, furthest)
        sockets += T.inet_sockets(tr.pid)
        code = tr.wait(timeout=START_TIMEOUT + 10 * MAX_STEPS)
        assert code == 0, tr.stderr_tail()
    finally:
        poller.stop()
    ev = T.read_events_file(
        tmp_path / "status" / "events.jsonl", allowed_bad=frozenset(allowed_bad)
    )
    assert not ev.bad_lines, ev.bad_lines[:3]
    end = ev.events[-1]
    assert (end["type"], end["status"], end["step"]) == ("run_end", "completed", MAX_STEPS)
    snap = T.read_snapshot(tmp_path / "status" / "training_status.json")
    assert (snap["status"], snap["step"]) == ("completed", MAX_STEPS)
    # Every step was trained and logged at least once; each restart's first log is its resume step + 1.
    logs = [e["step"] for e in ev.events if e["type"] == "log"]
    assert set(logs) == set(range(1, MAX_STEPS + 1))
    segments = _segments(ev.events)
    for start_step, seg_logs in segments:
        if seg_logs:
            assert seg_logs[0] == start_step + 1, (start_step, seg_logs[:3])
    assert [n for n, _ in _complete(out)][:1] == [MAX_STEPS]
    assert T.listening(sockets) == [], sockets
    # The reader: thousands of reads, none of them a broken file.
    assert poller.invalid == [], poller.invalid[:3]
    assert poller.missing_after_first == 0
    assert poller.reads >= 1000 and poller.distinct_updates >= 10
    losses = [k["lost_at_restart"] for k in kills[1:] if k["lost_at_restart"] is not None] + [
        final_lost
    ]
    phases = Counter(k["observed"] for k in kills)
    figure(
        "SIGKILL a training run (log every step, eval every 10, save every 5, save_total_limit 1), "
        "check, restart it with the same command",
        len(kills),
        f"at most {max(losses)} steps retrained per restart (bound: save_steps = {SAVE}); "
        "0 corrupt events, snapshots or checkpoints",
        kills_by_phase=dict(phases),
        steps_retrained=losses,
        torn_event_tails=sum(k["torn_tail"] for k in kills),
        restarts=len(segments) - 1,
        max_steps=MAX_STEPS,
        snapshot_reads=poller.reads,
        snapshot_updates_seen=poller.distinct_updates,
        invalid_snapshot_reads=len(poller.invalid),
        inet_sockets_seen=len(sockets),
        listening_sockets=len(T.listening(sockets)),
        # write_json_atomic's temp files a kill left behind (harmless; never read).
        leftover_temp_files=len(list((tmp_path / "status").glob(".*.tmp")))
        + len(list(out.glob("checkpoint-*/.*.tmp"))),
    )
    T.dump_json(tmp_path / "kills.json", kills)


def _segments(events: list[dict[str, Any]]) -> list[tuple[int, list[int]]]:
    """(start step, log steps) of each process's part of the file."""
    out: list[tuple[int, list[int]]] = []
    for e in events:
        if e["type"] == "run_start":
            out.append((e["step"], []))
        elif e["type"] == "log" and out:
            out[-1][1].append(e["step"])
    return out
