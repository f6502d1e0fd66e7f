"""Throughput of syllo's trainer against a bare HF Trainer, side by side, with the spread.

The stress case of bench/_stress.py: the same model (a fresh copy each run),
the same data in the same order, the same TrainingArguments; the only
difference is syllo's monitor (log tier every ``--log-steps``, eval tier off
unless ``--eval-steps``, events + snapshot + human log written). Runs are
interleaved in pairs (bare, syllo, bare, syllo, …) after a warm-up run, so
machine noise hits both alike.

Each pair gives three ratios of speed (syllo ÷ bare; < 1 = syllo slower):

* by wall time over the whole run (what a user sees; on a shared machine also
  what the other processes did meanwhile);
* by the process's CPU time over the whole run;
* by the **median log window**: the training thread's CPU time from the start
  of one log period to the next (``--log-steps`` steps, exactly one log step
  in each), the median over the run's windows. A burst of interference from
  other processes inflates a few windows and the median leaves them out,
  while every window still carries its share of syllo's log step.

On a shared machine (other processes on the sibling core), a whole run's
speed can move by 10 % from one run to the next, CPU time included, so run
pairs need many repeats. ``--interleave window`` (the default) therefore also
trains the two side by side in one process, taking turns one log window at a
time (two threads passing a baton, never running at once): window k of the
bare Trainer and window k of syllo's run a fraction of a second apart, under
the same machine conditions. The ratio of each such pair of windows (by the
training thread's CPU time) is the finest interleaving there is; its median
over every window of every pair is the headline figure (with 10 pairs, 280
pairs of windows, its 95 % interval was about ±0.6 % wide on the 2-core
development machine).

For each: the median over the pairs, the quartiles, min and max, and a
bootstrap 95 % interval of the median (10,000 resamples of the pairs), which
is the figure's precision.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_throughput.py --pairs 10 --steps 300
    .venv/bin/python bench/bench_throughput.py --device cuda --preset base --dtype bfloat16 --steps 300 --eval-steps 100
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stress import Stress


def spread(values: list[float], resamples: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Median, quartiles, min, max and a bootstrap 95 % interval of the median."""
    rnd = random.Random(seed)
    n = len(values)
    medians = sorted(statistics.median(rnd.choices(values, k=n)) for _ in range(resamples))
    q = statistics.quantiles(values, n=4) if n >= 2 else [values[0]] * 3
    return {
        "median": statistics.median(values),
        "q1": q[0],
        "q3": q[2],
        "min": min(values),
        "max": max(values),
        "ci_low": medians[int(0.025 * resamples)],
        "ci_high": medians[int(0.975 * resamples) - 1],
    }


def log_windows(trainer: Any, every: int) -> list[tuple[float, float, int]]:
    """(thread CPU, wall, global step) at the start of every log period's first step (same hook on both sides).

    The Trainer calls ``training_step`` once per micro-batch; a window runs from
    the start of step k·every + 1 to the start of step (k+1)·every + 1, so it
    holds ``every`` steps and the one log step (and its log) among them.
    """
    marks: list[tuple[float, float, int]] = []
    step = trainer.training_step

    def training_step(*args: Any, **kwargs: Any) -> Any:
        if trainer.state.global_step % every == 0 and (
            not marks or marks[-1][2] != trainer.state.global_step
        ):
            marks.append((time.thread_time(), time.perf_counter(), trainer.state.global_step))
        return step(*args, **kwargs)

    trainer.training_step = training_step
    return marks


def window_cpu_s(marks: list[tuple[float, float, int]]) -> float:
    """The median log window's training-thread CPU seconds (the first window left out: warm-up)."""
    spans = [b[0] - a[0] for a, b in itertools.pairwise(marks)][1:]
    return statistics.median(spans)


class Turns:
    """Two trainers in two threads, taking turns one log window at a time (never both at once)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.go = {"bare": threading.Semaphore(0), "syllo": threading.Semaphore(0)}
        self.done = {"bare": False, "syllo": False}
        self.windows: dict[str, list[float]] = {"bare": [], "syllo": []}  # thread CPU s

    def hook(self, name: str, trainer: Any) -> None:
        other = "syllo" if name == "bare" else "bare"
        step = trainer.training_step
        last = [-1, 0.0]  # the step of the last turn, the thread CPU time it began

        def training_step(*args: Any, **kwargs: Any) -> Any:
            g = trainer.state.global_step
            if g % self.every == 0 and g != last[0]:
                now = time.thread_time()
                if last[0] >= 0:
                    self.windows[name].append(now - last[1])
                if not self.done[other]:
                    self.go[other].release()  # the other trainer's turn: one window
                    self.go[name].acquire()
                last[0], last[1] = g, time.thread_time()
            return step(*args, **kwargs)

        trainer.training_step = training_step

    def run(self, name: str, trainer: Any) -> None:
        other = "syllo" if name == "bare" else "bare"
        self.go[name].acquire()
        try:
            trainer.train()
        finally:
            self.done[name] = True
            self.go[other].release()


def window_pairs(stress: Stress, every: int) -> list[float]:
    """One bare and one syllo run, trained in turns; bare ÷ syllo of each pair of windows."""
    bare = stress.bare()
    syllo, reporter = stress.syllo()
    turns = Turns(every)
    turns.hook("bare", bare)
    turns.hook("syllo", syllo)
    threads = [
        threading.Thread(target=turns.run, args=("bare", bare)),
        threading.Thread(target=turns.run, args=("syllo", syllo)),
    ]
    for t in threads:
        t.start()
    turns.go["bare"].release()
    for t in threads:
        t.join()
    reporter.close()
    pairs = list(zip(turns.windows["bare"], turns.windows["syllo"], strict=False))
    return [b / s for b, s in pairs[1:]]  # the first window of each: warm-up


def fmt(s: dict[str, float]) -> str:
    return (
        f"median {s['median']:.4f} (95 % interval of the median {s['ci_low']:.4f}–{s['ci_high']:.4f}; "
        f"quartiles {s['q1']:.4f}–{s['q3']:.4f}; min {s['min']:.4f}, max {s['max']:.4f})"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--log-steps", type=int, default=10)
    ap.add_argument("--eval-steps", type=int, default=0, help="0 = eval tier off (the stress case)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--preset", default="small", help="small: the ~0.5M stress case; tiny: 0.12M")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--level", default="tiny")
    ap.add_argument(
        "--interleave",
        default="window",
        choices=["window", "run"],
        help="window: also train side by side, one log window each in turn (default); run: run pairs only",
    )
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object too")
    args = ap.parse_args(argv)

    import torch

    if args.device == "cpu":
        torch.set_num_threads(1)
    stress = Stress(
        steps=args.steps,
        log_steps=args.log_steps,
        eval_steps=args.eval_steps,
        batch_size=args.batch_size,
        preset=args.preset,
        device=args.device,
        dtype=args.dtype,
        level=args.level,
    )

    def timed(trainer: Any) -> tuple[float, float, float]:
        """(steps/s by wall, steps/s by process CPU, median log window's CPU seconds)."""
        marks = log_windows(trainer, args.log_steps)
        c0, w0 = time.process_time(), time.perf_counter()
        trainer.train()
        if stress.use_cuda:
            torch.cuda.synchronize()
        wall_rate = args.steps / (time.perf_counter() - w0)
        return wall_rate, args.steps / (time.process_time() - c0), window_cpu_s(marks)

    def run_syllo() -> tuple[float, float, float]:
        trainer, reporter = stress.syllo()
        try:
            return timed(trainer)
        finally:
            reporter.close()

    timed(stress.bare())  # warm-up: first-run allocator and kernel caches are not the subject
    wall, cpu, window, bare_rates = [], [], [], []
    for i in range(args.pairs):
        b_wall, b_cpu, b_win = timed(stress.bare())
        s_wall, s_cpu, s_win = run_syllo()
        wall.append(s_wall / b_wall)
        cpu.append(s_cpu / b_cpu)
        window.append(b_win / s_win)
        bare_rates.append(b_wall)
        print(
            f"pair {i + 1}: bare {b_wall:.2f} steps/s, syllo {s_wall:.2f} steps/s: ratio "
            f"{wall[-1]:.4f} by wall time, {cpu[-1]:.4f} by CPU time, {window[-1]:.4f} by the "
            f"median log window ({b_win * 1e3:.1f} / {s_win * 1e3:.1f} ms)",
            flush=True,
        )
    w, c, m = spread(wall), spread(cpu), spread(window)
    print(
        f"stress case: preset {args.preset} ({stress.params():,} parameters) on {args.device}, "
        f"batch {args.batch_size}, {args.steps} steps, log every {args.log_steps}, eval "
        f"{'off' if not args.eval_steps else f'every {args.eval_steps}'}; {args.pairs} interleaved "
        f"pairs; median bare {statistics.median(bare_rates):.1f} steps/s"
    )
    print(f"ratio syllo/bare by wall time: {fmt(w)}")
    print(f"ratio syllo/bare by CPU time:  {fmt(c)}")
    print(f"ratio syllo/bare by the median log window: {fmt(m)}")
    figures: dict[str, Any] = {"wall": w, "cpu": c, "window": m, "pairs": [wall, cpu, window]}
    if args.interleave == "window":
        ratios: list[float] = []
        per_pair = []
        for i in range(args.pairs):
            r = window_pairs(stress, args.log_steps)
            ratios += r
            per_pair.append(statistics.median(r))
            print(
                f"turns {i + 1}: {len(r)} pairs of log windows, median ratio {per_pair[-1]:.4f} "
                f"(min {min(r):.4f}, max {max(r):.4f})",
                flush=True,
            )
        t = spread(ratios)
        figures["turns"] = t
        figures["turns_per_pair"] = per_pair
        print(
            f"ratio syllo/bare, trained in turns, by each pair of log windows "
            f"({len(ratios)} pairs of windows): {fmt(t)}; per run pair: "
            f"{min(per_pair):.4f}–{max(per_pair):.4f}"
        )
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
