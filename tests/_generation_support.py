"""Time and pace for generation tests: a clock the test moves, and a model slowed on it.

Time in generation tests is a FakeClock that the test itself moves: a "slow"
model's forward pass costs TOKEN_S of it, a hang is a jump of the clock.
Verdicts are then facts of the test, never of the machine's load; the
real-clock figures (how far past its limit a generation ends, in ms) are
bench/bench_timeout.py's. Binary fractions keep the sums exact.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from _support import WAIT_S

TOKEN_S = 0.0625


class FakeClock:
    """A monotonic clock that moves only when told to (thread-safe)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def wait_until(predicate: Any, what: str, timeout: float = WAIT_S) -> None:
    """Real time: wait for another thread to do something (a bound against hangs only)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up after {timeout:g} s waiting for {what}"
        time.sleep(0.005)


def no_eos(tok: Any) -> dict[str, Any]:
    """generate kwargs that keep the model from ever ending on its own."""
    return {"suppress_tokens": [tok.eos_token_id, tok.pad_token_id, tok.bos_token_id]}


def slow_down(model: Any, clock: FakeClock, seconds: float = TOKEN_S) -> list[float]:
    """Make every forward pass (= every new token) cost ``seconds`` of ``clock``.

    Returns the list of clock readings at which each forward pass started.
    """
    starts: list[float] = []

    def hook(module: Any, args: Any) -> None:
        starts.append(clock())
        clock.advance(seconds)

    model.register_forward_pre_hook(hook)
    return starts
