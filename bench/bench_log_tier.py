"""What syllo adds to a training step, measured directly: µs of host time per step and per log step.

The end-to-end ratio (bench_throughput.py) compares whole runs, and on a
shared machine its noise is larger than the effect. This measures the effect
itself: on the stress case (bench/_stress.py: a ~0.5M-parameter Llama, short
rows, batch 8, one torch thread, log every 10 steps, eval off) it trains with
syllo's trainer and times every piece of code syllo adds to the Trainer's
loop, step by step:

* each of syllo's callbacks, at each event the Trainer calls it for (the
  heartbeat, the faults, the log tier, the eval tier, the stop), dispatch
  included;
* ``SylloTrainer.compute_loss`` less the Trainer's own ``compute_loss`` inside
  it (popping the host-side keys, the log tier's ``on_batch``: on a log step
  the example's loss);
* on log steps, within the log tier's ``on_log``: the example (its loss read,
  its token view), the event written, the snapshot replaced, the human log.

Time is the training thread's CPU time (``time.thread_time_ns``: what this
thread spends, not the machine's other load) and, beside it, wall time; each
timer's own cost is measured and taken off. The bare step is a plain
``transformers.Trainer`` on the same steps (process CPU time per step, and
wall), its runs interleaved with syllo's. Reported: µs per non-log step and per
log step (median and mean), the parts, and the mean per step as a fraction of
the bare step; and the size of a log event (bytes on disk, the token view's
share of it).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_log_tier.py --steps 2000 --runs 3
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stress import Stress


def timer_cost_ns(clock: Callable[[], int], n: int = 20000) -> float:
    """What one reading of ``clock`` adds to an interval measured with two (median of 5)."""
    costs = []
    for _ in range(5):
        t0 = clock()
        for _ in range(n):
            clock()
        costs.append((clock() - t0) / n)
    return statistics.median(costs)


class StepTimes:
    """Host time of the timed code, per training step and per part (CPU ns, wall ns)."""

    def __init__(self, log_steps: int, max_steps: int) -> None:
        self.cpu_cost = timer_cost_ns(time.thread_time_ns)
        self.wall_cost = timer_cost_ns(time.perf_counter_ns)
        self.log_every, self.max_steps = log_steps, max_steps
        self.steps: list[dict[str, list[float]]] = []  # per step: part -> [cpu_ns, wall_ns]
        self.log_steps: set[int] = set()  # positions in self.steps
        self.inner_calls = 0  # timed calls inside the current dispatch (their cost is taken off)

    def new_step(self, step: int) -> None:
        """Step ``step`` (1-based, the one about to be trained) begins."""
        if step % self.log_every == 0 or step == self.max_steps:
            self.log_steps.add(len(self.steps))
        self.steps.append(collections.defaultdict(lambda: [0.0, 0.0]))

    def add(self, part: str, cpu_ns: float, wall_ns: float) -> None:
        if not self.steps:
            return  # before the first step (on_train_begin): not a step's cost
        cell = self.steps[-1][part]
        cell[0] += max(0.0, cpu_ns - self.cpu_cost)
        cell[1] += max(0.0, wall_ns - self.wall_cost)

    def timed(self, part: str, fn: Callable[..., Any], inner: bool = False) -> Callable[..., Any]:
        """``fn`` timed into ``part``; ``inner``: it runs inside a timed dispatch."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(part, time.thread_time_ns() - c0, time.perf_counter_ns() - w0)
                self.inner_calls += inner

        return wrapper


def wrapper_cost_ns(times: StepTimes) -> tuple[float, float]:
    """What one timed() wrapper adds to the interval around it (CPU ns, wall ns; median of 5)."""

    def nothing() -> None:
        return None

    scratch = StepTimes(10**9, 10**9)
    scratch.new_step(1)
    wrapped = scratch.timed("x", nothing)
    out = []
    for clock in (time.thread_time_ns, time.perf_counter_ns):
        costs = []
        for _ in range(5):
            t0 = clock()
            for _ in range(5000):
                wrapped()
            t1 = clock()
            for _ in range(5000):
                nothing()
            costs.append(((t1 - t0) - (clock() - t1)) / 5000)
        out.append(statistics.median(costs))
    return out[0], out[1]


def time_dispatch(trainer: Any, times: StepTimes) -> None:
    """Time the Trainer's callback dispatch, event by event (bare and syllo runs alike)."""
    handler = trainer.callback_handler
    real = handler.call_event  # the handler's own (syllo's: callbacks that handle the event only)
    inner_cpu, inner_wall = wrapper_cost_ns(times)

    def call_event(event: str, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if event == "on_step_begin":
            times.new_step(state.global_step + 1)
        times.inner_calls = 0
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        try:
            return real(event, args, state, control, **kwargs)
        finally:
            cpu = time.thread_time_ns() - c0 - times.inner_calls * inner_cpu
            wall = time.perf_counter_ns() - w0 - times.inner_calls * inner_wall
            times.add("callbacks (all, dispatch included)", cpu, wall)

    handler.call_event = call_event


def instrument_syllo(trainer: Any, reporter: Any, times: StepTimes) -> Callable[[], None]:
    """Time syllo's own code in its trainer; returns the function that undoes the class patch."""
    from transformers import Trainer, TrainerCallback

    time_dispatch(trainer, times)
    # Which of syllo's callbacks take which part (their handled events only, so the
    # dispatch stays the real one).
    for cb in trainer.callback_handler.callbacks:
        if not type(cb).__module__.startswith("syllo_train"):
            continue
        for event in [e for e in dir(TrainerCallback) if e.startswith("on_")]:
            if getattr(type(cb), event) is not getattr(TrainerCallback, event):
                name = f"detail:  callbacks → {type(cb).__name__}.{event}"
                setattr(cb, event, times.timed(name, getattr(cb, event), inner=True))

    # SylloTrainer.compute_loss less the Trainer's compute_loss inside it.
    inner = Trainer.compute_loss
    inside = [0.0, 0.0]

    def trainer_compute_loss(self: Any, *args: Any, **kwargs: Any) -> Any:
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        try:
            return inner(self, *args, **kwargs)
        finally:
            inside[0] += time.thread_time_ns() - c0 + times.cpu_cost
            inside[1] += time.perf_counter_ns() - w0 + times.wall_cost

    outer = trainer.compute_loss

    def syllo_compute_loss(*args: Any, **kwargs: Any) -> Any:
        inside[0] = inside[1] = 0.0
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        try:
            return outer(*args, **kwargs)
        finally:
            cpu = time.thread_time_ns() - c0 - inside[0]
            wall = time.perf_counter_ns() - w0 - inside[1]
            times.add("SylloTrainer.compute_loss (its own part)", cpu, wall)

    Trainer.compute_loss = trainer_compute_loss  # type: ignore[method-assign]
    trainer.compute_loss = syllo_compute_loss

    # The parts of a log step (already inside the lines above: kept apart).
    log_tier = trainer.log_tier
    log_tier._example = times.timed(
        "detail:    LogTier.on_log → example (loss read, token view)", log_tier._example
    )
    reporter.writer.emit = times.timed(
        "detail:    LogTier.on_log → event built and written", reporter.writer.emit
    )
    reporter.snapshot.apply = times.timed(
        "detail:    LogTier.on_log → snapshot replaced", reporter.snapshot.apply
    )
    reporter.human.apply = times.timed(
        "detail:    LogTier.on_log → human log written", reporter.human.apply
    )
    log_tier.on_batch = times.timed(
        "detail:  compute_loss → LogTier.on_batch (example loss)", log_tier.on_batch
    )

    def undo() -> None:
        Trainer.compute_loss = inner  # type: ignore[method-assign]

    return undo


def per_kind(times: StepTimes, skip: int) -> dict[str, dict[str, Any]]:
    """Mean and median µs per step of each part, for non-log and log steps (first ``skip`` left out)."""
    out: dict[str, dict[str, Any]] = {}
    for kind in ("non-log", "log"):
        idx = [
            i for i in range(skip, len(times.steps)) if (i in times.log_steps) == (kind == "log")
        ]
        parts = sorted({p for i in idx for p in times.steps[i]})
        out[kind] = {"steps": len(idx)}
        for p in parts:
            cpu = [times.steps[i][p][0] / 1e3 if p in times.steps[i] else 0.0 for i in idx]
            wall = [times.steps[i][p][1] / 1e3 if p in times.steps[i] else 0.0 for i in idx]
            out[kind][p] = {
                "cpu_mean": statistics.fmean(cpu),
                "cpu_median": statistics.median(cpu),
                "wall_mean": statistics.fmean(wall),
            }
    return out


def event_sizes(path: Path) -> list[tuple[int, int]]:
    """Each ``log`` event of an events file: (its line's bytes, newline included; its token view's)."""
    out = []
    for line in path.read_bytes().splitlines():
        event = json.loads(line)
        if event.get("type") == "log":
            view = (event.get("example") or {}).get("tokens")
            view_bytes = len(json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode())
            out.append((len(line) + 1, view_bytes if view is not None else 0))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3, help="pairs of runs: bare, then syllo")
    ap.add_argument("--skip", type=int, default=20, help="first steps of a run left out (warm-up)")
    ap.add_argument("--log-steps", type=int, default=10)
    ap.add_argument("--preset", default="small", help="small: the ~0.5M stress case; tiny: 0.12M")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    stress = Stress(steps=args.steps, log_steps=args.log_steps, preset=args.preset)
    dispatch = "callbacks (all, dispatch included)"
    own = "SylloTrainer.compute_loss (its own part)"

    def bare_run() -> tuple[float, float, dict[str, dict[str, Any]]]:
        trainer = stress.bare()
        times = StepTimes(args.log_steps, args.steps)
        time_dispatch(trainer, times)
        c0, w0 = time.process_time(), time.perf_counter()
        trainer.train()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        return cpu / args.steps, wall / args.steps, per_kind(times, args.skip)

    sizes: list[tuple[int, int]] = []  # per log event: (its line's bytes, its token view's bytes)

    def syllo_run() -> dict[str, dict[str, Any]]:
        trainer, reporter = stress.syllo()
        times = StepTimes(args.log_steps, args.steps)
        undo = instrument_syllo(trainer, reporter, times)
        try:
            trainer.train()
        finally:
            undo()
            reporter.close()
        sizes.extend(event_sizes(reporter.writer.path))
        return per_kind(times, args.skip)

    bare_run()  # warm-up: first-run allocator and kernel caches are not the subject
    pairs = []
    for _ in range(args.runs):
        pairs.append((bare_run(), syllo_run()))

    step_cpu_us = statistics.median(b[0] for b, _ in pairs) * 1e6
    step_wall_us = statistics.median(b[1] for b, _ in pairs) * 1e6
    every = args.log_steps
    print(
        f"stress case: preset {args.preset} ({stress.params():,} parameters), batch {stress.batch_size}, "
        f"log every {every}, eval off, torch threads {torch.get_num_threads()}, {args.steps} steps, "
        f"{args.runs} bare/syllo pairs, cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"bare step: {step_cpu_us:,.0f} µs process CPU, {step_wall_us:,.0f} µs wall (median of runs; "
        f"CPU: {', '.join(f'{b[0] * 1e6:,.0f}' for b, _ in pairs)})"
    )
    added_runs = []
    for r, ((_, _, bare), syl) in enumerate(pairs, 1):
        added = {}
        for kind in ("non-log", "log"):
            syllo_cb = syl[kind][dispatch]["cpu_mean"]
            bare_cb = bare[kind][dispatch]["cpu_mean"]
            added[kind] = syllo_cb - bare_cb + syl[kind][own]["cpu_mean"]
        mean_step = ((every - 1) * added["non-log"] + added["log"]) / every
        added_runs.append((added["non-log"], added["log"], mean_step))
        print(
            f"pair {r}: syllo adds {added['non-log']:.1f} µs to a non-log step, "
            f"{added['log']:.0f} µs to a log step: {mean_step:.1f} µs a step on average "
            f"= {100 * mean_step / step_cpu_us:.2f} % of the bare step "
            f"(callbacks: bare {bare['non-log'][dispatch]['cpu_mean']:.1f} / {bare['log'][dispatch]['cpu_mean']:.0f} µs, "
            f"syllo {syl['non-log'][dispatch]['cpu_mean']:.1f} / {syl['log'][dispatch]['cpu_mean']:.0f} µs)"
        )
    _, last = pairs[-1]
    for kind in ("non-log", "log"):
        print(
            f"the parts of a {kind} step, syllo's trainer, last pair (CPU µs, mean; a → b: b is part of a):"
        )
        for part, v in last[kind].items():
            if part == "steps":
                continue
            print(f"  {part.removeprefix('detail:'):<54} {v['cpu_mean']:9.1f}")
    med = [statistics.median(x[k] for x in added_runs) for k in range(3)]
    print(
        f"RESULT: syllo adds {med[0]:.1f} µs to a non-log step and {med[1]:.0f} µs to a log step, "
        f"{med[2]:.1f} µs a step on average (median of {args.runs} pairs; "
        f"{min(x[2] for x in added_runs):.1f}–{max(x[2] for x in added_runs):.1f}) "
        f"= {100 * med[2] / step_cpu_us:.2f} % of the bare step's {step_cpu_us:,.0f} µs "
        f"→ expected ratio {step_cpu_us / (step_cpu_us + med[2]):.4f}"
    )
    lines, views = [x[0] for x in sizes], [x[1] for x in sizes]
    print(
        f"EVENT SIZE: a log event is {statistics.median(lines):,.0f} bytes (median of {len(lines)}; "
        f"{min(lines):,}–{max(lines):,}), of which the token view {statistics.median(views):,.0f} bytes "
        f"(example_tokens {stress.cfg.monitor.example_tokens}); "
        f"{statistics.median(lines) / every:,.0f} bytes of log events a step"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "bare_cpu_us": step_cpu_us,
                    "pairs": [[b[2], s] for b, s in pairs],
                    "log_event_bytes": lines,
                    "token_view_bytes": views,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
