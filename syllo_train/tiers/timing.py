"""Throughput and ETA: host-side clocks and integers only (nothing here touches the device)."""

from __future__ import annotations

import time


class TrainClock:
    """Steps and tokens per second over the window since the last log, eval and save time left out.

    It also keeps this process's totals since training started: seconds in
    eval rounds, and seconds training (the rest, checkpoint saves left out
    too), the two halves of the eval share (derived.eval_share).
    """

    def __init__(self, start_step: int = 0) -> None:
        self.t_start = time.time()  # when this process started training (elapsed_s counts from it)
        self.window_t0 = time.perf_counter()
        self.window_step0 = start_step
        self.window_tokens = 0
        self.excluded_s = 0.0  # eval rounds and checkpoint saves inside the current window
        self.steps_per_s: float | None = None  # the latest known rate
        self.last_eval_s = 0.0  # how long the latest eval round took (for the ETA)
        self.train_t0 = self.window_t0  # when training started (perf_counter)
        self.eval_total_s = 0.0  # every eval round since then
        self.excluded_total_s = 0.0  # every eval round and checkpoint save since then

    def start(self, step: int) -> None:
        """Training (re)starts at ``step``: a fresh window, and fresh totals."""
        self.window_t0 = time.perf_counter()
        self.window_step0 = step
        self.window_tokens = 0
        self.excluded_s = 0.0
        self.train_t0 = self.window_t0
        self.eval_total_s = 0.0
        self.excluded_total_s = 0.0

    def add_tokens(self, n: int) -> None:
        self.window_tokens += n

    def exclude(self, seconds: float) -> None:
        """Time spent outside training steps (an eval round, a checkpoint save)."""
        self.excluded_s += seconds
        self.excluded_total_s += seconds

    def add_eval(self, seconds: float) -> None:
        """An eval round took ``seconds``: left out of the rates, counted in the eval total."""
        self.exclude(seconds)
        self.eval_total_s += seconds
        self.last_eval_s = seconds

    def train_total_s(self) -> float:
        """Seconds spent training since training started (eval rounds and saves left out)."""
        return max(0.0, time.perf_counter() - self.train_t0 - self.excluded_total_s)

    def close_window(self, step: int, tokens: int) -> tuple[float | None, float | None]:
        """(steps/s, tokens/s) of the window ending at ``step``; a new window starts."""
        now = time.perf_counter()
        steps = step - self.window_step0
        train_s = max(1e-9, now - self.window_t0 - self.excluded_s)
        steps_per_s = steps / train_s if steps > 0 else None
        tokens_per_s = tokens / train_s if steps > 0 else None
        if steps_per_s:
            self.steps_per_s = steps_per_s
        self.window_t0, self.window_step0, self.window_tokens, self.excluded_s = now, step, 0, 0.0
        return steps_per_s, tokens_per_s

    def eta(self, step: int, max_steps: int, eval_steps: int) -> float | None:
        """Seconds to ``max_steps`` at the latest rate, with the evals still to come."""
        if not self.steps_per_s:
            return None
        remaining = max(0, max_steps - step)
        evals_left = (max_steps // eval_steps - step // eval_steps) if eval_steps else 0
        return remaining / self.steps_per_s + evals_left * self.last_eval_s

    def elapsed(self) -> float:
        return round(time.time() - self.t_start, 3)
