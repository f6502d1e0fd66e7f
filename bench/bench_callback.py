"""SylloCallback's overhead: a plain Trainer with it against the same Trainer without it.

The stress case of bench/_stress.py (the same model, data order, arguments
and collator on both sides); the only difference is ``callbacks=[SylloCallback(...)]``:
the forward hook on every step, the log tier at the Trainer's logging steps
(the example read back from the batch row, its token view, the event, the
snapshot, the human log), run health. Generation is off (no eval dataset, as
in the stress case), so this is the per-step and per-log-step cost. Runs are
interleaved in pairs after a warm-up; the ratio of steps per second (with ÷
without) is reported by wall time and by process CPU time, as a median with
its spread (bench_throughput.spread).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_callback.py --pairs 12 --steps 300
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stress import Stress
from bench_throughput import fmt, spread


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--log-steps", type=int, default=10)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args(argv)

    import torch

    from syllo_train import SylloCallback

    torch.set_num_threads(1)
    stress = Stress(
        steps=args.steps, log_steps=args.log_steps, batch_size=args.batch_size, preset=args.preset
    )

    def timed(trainer: Any) -> tuple[float, float]:
        c0, w0 = time.process_time(), time.perf_counter()
        trainer.train()
        return args.steps / (time.perf_counter() - w0), args.steps / (time.process_time() - c0)

    def with_callback() -> Any:
        return stress.bare(callbacks=(SylloCallback(stress.status_dir(), handle_signals=False),))

    timed(stress.bare())  # warm-up
    wall, cpu, bare_rates = [], [], []
    for i in range(args.pairs):
        b_wall, b_cpu = timed(stress.bare())
        s_wall, s_cpu = timed(with_callback())
        wall.append(s_wall / b_wall)
        cpu.append(s_cpu / b_cpu)
        bare_rates.append(b_wall)
        print(
            f"pair {i + 1}: without {b_wall:.2f} steps/s, with SylloCallback {s_wall:.2f} steps/s: "
            f"ratio {wall[-1]:.4f} by wall time, {cpu[-1]:.4f} by CPU time",
            flush=True,
        )
    print(
        f"stress case: preset {args.preset} ({stress.params():,} parameters) on cpu, batch "
        f"{args.batch_size}, {args.steps} steps, logging every {args.log_steps}, no eval; "
        f"{args.pairs} interleaved pairs; median without {statistics.median(bare_rates):.1f} steps/s"
    )
    print(f"ratio with/without SylloCallback by wall time: {fmt(spread(wall))}")
    print(f"ratio with/without SylloCallback by CPU time:  {fmt(spread(cpu))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
