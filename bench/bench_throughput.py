"""Throughput of syllo's trainer against a bare HF Trainer, side by side, with the spread.

The stress case of bench/_stress.py: the same model (a fresh copy each run),
the same data in the same order, the same TrainingArguments; the only
difference is syllo's monitor (log tier every ``--log-steps``, eval tier off
unless ``--eval-steps``, events + snapshot + human log written). Runs are
interleaved in pairs (bare, syllo, bare, syllo, …) after a warm-up run, so
machine noise hits both alike. Each pair gives two ratios of steps per second
(syllo ÷ bare): by wall time, and by the process's CPU time (what the process
itself spent: insensitive to other processes taking the cores, which is most
of a shared machine's noise). Reported for both: the median, the quartiles,
min and max, and a bootstrap 95 % interval of the median (10,000 resamples of
the pairs), which is the figure's precision.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_throughput.py --pairs 20 --steps 300
    .venv/bin/python bench/bench_throughput.py --device cuda --preset base --dtype bfloat16 --steps 300 --eval-steps 100
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
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

    def timed(trainer: Any) -> tuple[float, float]:
        c0, w0 = time.process_time(), time.perf_counter()
        trainer.train()
        if stress.use_cuda:
            torch.cuda.synchronize()
        return args.steps / (time.perf_counter() - w0), args.steps / (time.process_time() - c0)

    def run_syllo() -> tuple[float, float]:
        trainer, reporter = stress.syllo()
        try:
            return timed(trainer)
        finally:
            reporter.close()

    timed(stress.bare())  # warm-up: first-run allocator and kernel caches are not the subject
    wall, cpu, bare_rates = [], [], []
    for i in range(args.pairs):
        b_wall, b_cpu = timed(stress.bare())
        s_wall, s_cpu = run_syllo()
        wall.append(s_wall / b_wall)
        cpu.append(s_cpu / b_cpu)
        bare_rates.append(b_wall)
        print(
            f"pair {i + 1}: bare {b_wall:.2f} steps/s, syllo {s_wall:.2f} steps/s: ratio "
            f"{wall[-1]:.4f} by wall time, {cpu[-1]:.4f} by CPU time",
            flush=True,
        )
    w, c = spread(wall), spread(cpu)
    print(
        f"stress case: preset {args.preset} ({stress.params():,} parameters) on {args.device}, "
        f"batch {args.batch_size}, {args.steps} steps, log every {args.log_steps}, eval "
        f"{'off' if not args.eval_steps else f'every {args.eval_steps}'}; {args.pairs} interleaved "
        f"pairs; median bare {statistics.median(bare_rates):.1f} steps/s"
    )
    print(f"ratio syllo/bare by wall time: {fmt(w)}")
    print(f"ratio syllo/bare by CPU time:  {fmt(c)}")
    if args.json:
        print(json.dumps({"wall": w, "cpu": c, "pairs_wall": wall, "pairs_cpu": cpu}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
