"""Test-only fault injection: make a chosen training step hang, crash or die.

**For tests and drills only.** Nothing happens unless the environment variable
``SYLLO_FAULT`` is set; it is read once, the first time a step ends. The
supervisor's tests use it to prove that a hang and a crash are detected and
recovered from (docs/operations.md, "Fault drills").

Syntax: one or more specs separated by commas::

    SYLLO_FAULT="<kind>@<step>[:<option>]..."

``kind``
    ``hang``   sleep forever (a stuck CUDA call or collective; only SIGKILL ends it)
    ``crash``  raise ``InjectedFault`` (an exception: the trainer records it and exits 1)
    ``kill``   SIGKILL this process (an OOM kill or a segfault: nothing gets recorded)
    ``slow``   sleep ``secs`` seconds at every step end from ``step`` on (keeps a run alive)
    ``slowstart`` sleep ``secs`` seconds once, before the first step (a checkpoint
               that loads slowly, a first step that compiles); write its step as 0
``step``
    the fault fires at the first step end at or after this step *in this process*,
    so after a resume from an earlier checkpoint it fires again.
``option``
    ``once``     only in the first attempt (a supervisor restart does not repeat it)
    ``attempt=K`` only in attempt K (0 = the first start; the supervisor counts them)
    ``secs=X``   seconds to sleep for ``slow`` (default 0.5)

Examples: ``hang@12:once``, ``crash@3`` (every start: a restart crashes again),
``hang@4:attempt=0,crash@8:attempt=1``, ``slow@1:secs=0.2``.

The attempt number comes from ``SYLLO_ATTEMPT``, which the supervisor sets
(absent = 0).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

FAULT_ENV = "SYLLO_FAULT"
ATTEMPT_ENV = "SYLLO_ATTEMPT"
KINDS = ("hang", "crash", "kill", "slow", "slowstart")


class InjectedFault(RuntimeError):
    """The exception a ``crash`` fault raises."""


@dataclass
class Fault:
    """One parsed fault spec."""

    kind: str
    step: int
    attempt: int | None = None  # None: every attempt
    secs: float = 0.5
    fired: bool = False

    def due(self, step: int, attempt: int) -> bool:
        if self.attempt is not None and attempt != self.attempt:
            return False
        if self.kind == "slow":
            return step >= self.step
        return not self.fired and step >= self.step


def parse_faults(text: str) -> list[Fault]:
    """Parse a ``SYLLO_FAULT`` value; raises ValueError naming the bad part and the syntax."""
    syntax = f"{FAULT_ENV}: expected <kind>@<step>[:once|:attempt=K|:secs=X], kind one of {', '.join(KINDS)}"
    faults = []
    for spec in filter(None, (s.strip() for s in text.split(","))):
        head, *options = spec.split(":")
        kind, at, step = head.partition("@")
        if kind not in KINDS or not at or not step.strip().isdigit():
            raise ValueError(f"{syntax}; got {spec!r}")
        fault = Fault(kind=kind, step=int(step))
        for opt in options:
            name, _, value = opt.partition("=")
            try:
                if name == "once" and not value:
                    fault.attempt = 0
                elif name == "attempt":
                    fault.attempt = int(value)
                elif name == "secs":
                    fault.secs = float(value)
                else:
                    raise ValueError(opt)
            except ValueError:
                raise ValueError(f"{syntax}; bad option {opt!r} in {spec!r}") from None
        faults.append(fault)
    return faults


_faults: list[Fault] | None = None


def _active() -> list[Fault]:
    global _faults
    if _faults is None:
        _faults = parse_faults(os.environ.get(FAULT_ENV, ""))
    return _faults


def at_train_begin() -> None:
    """Called before the first step (ops/callbacks.py); fires a due ``slowstart`` fault."""
    attempt = int(os.environ.get(ATTEMPT_ENV, "0") or 0)
    for fault in _active():
        if fault.kind == "slowstart" and not fault.fired and fault.due(fault.step, attempt):
            fault.fired = True
            time.sleep(fault.secs)


def at_step_end(step: int) -> None:
    """Called at every step end (ops/callbacks.py); fires a due fault (no-op without SYLLO_FAULT)."""
    faults = _active()
    if not faults:
        return
    attempt = int(os.environ.get(ATTEMPT_ENV, "0") or 0)
    for fault in faults:
        if fault.kind == "slowstart" or not fault.due(step, attempt):
            continue
        fault.fired = True
        if fault.kind == "slow":
            time.sleep(fault.secs)
        elif fault.kind == "crash":
            raise InjectedFault(f"{FAULT_ENV}: injected crash at step {step} (attempt {attempt})")
        elif fault.kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif fault.kind == "hang":
            while True:  # a signal handler may run, but the step never ends
                time.sleep(3600)
