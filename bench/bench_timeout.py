"""How late does a timed-out generation stop? Overshoot of the per-token time limit.

Builds a tiny model locally, slows every forward pass down with a sleeping
hook (a stand-in for a big model on a busy GPU), keeps it from ever emitting
EOS, and runs ``generate_bounded`` with each limit many times. For each run:

    overshoot = seconds - limit         (how long past the limit it stopped)
    token_s   = mean time between forward passes in that run
    last step = time from the last forward pass's start to the return

The guarantee is that a generation stops at the first token after the limit,
so the overshoot should be under one token's time. Reported: min / median /
p90 / max overshoot, and the fraction of runs within max(10% of the limit,
one token's time), one token being the run's mean token time, or the step
that actually straddled the limit (on a busy machine one token can take longer
than the mean; the guarantee is about that token).

    .venv/bin/python bench/bench_timeout.py --runs 20 --limits 0.5 2 --token-s 0.05
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from syllo_train.demo.tiny_model import build_tiny_model
from syllo_train.generation import generate_bounded


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def bench_limit(
    model: Any, tok: Any, limit: float, runs: int, stamps: list[float]
) -> dict[str, Any]:
    prompt = tok("the cat sat on")["input_ids"]
    # 900 new tokens stay inside the tiny model's 1024 positions; at the default
    # per-token sleep the clock stops every run long before that.
    never_end = {"suppress_tokens": [tok.eos_token_id, tok.pad_token_id, tok.bos_token_id]}
    overshoots: list[float] = []
    token_times: list[float] = []
    within = within_last = 0
    timed_out = 0
    for _ in range(runs):
        stamps.clear()
        result = generate_bounded(
            model, tok, prompt, max_new_tokens=900, timeout_s=limit, **never_end
        )
        # The step that straddled the limit: from its forward pass to the return.
        last_step = time.monotonic() - stamps[-1]
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        token_s = statistics.fmean(gaps) if gaps else result.seconds
        overshoot = result.seconds - limit
        overshoots.append(overshoot)
        token_times.append(token_s)
        timed_out += result.timed_out
        within += overshoot <= max(0.1 * limit, token_s)
        within_last += overshoot <= max(0.1 * limit, last_step)
    return {
        "limit_s": limit,
        "runs": runs,
        "timed_out": timed_out,
        "token_s_median": statistics.median(token_times),
        "overshoot_min_s": min(overshoots),
        "overshoot_median_s": statistics.median(overshoots),
        "overshoot_p90_s": percentile(overshoots, 90),
        "overshoot_max_s": max(overshoots),
        "within_frac": within / runs,
        "within_last_frac": within_last / runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="generations per limit")
    parser.add_argument(
        "--limits", type=float, nargs="+", default=[0.5, 2.0], help="time limits (s)"
    )
    parser.add_argument(
        "--token-s", type=float, default=0.05, help="sleep added to every forward pass (s)"
    )
    parser.add_argument("--preset", default="tiny", help="tiny_model size preset")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (1 suits a tiny model)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per limit")
    args = parser.parse_args(argv)
    if args.runs < 1 or any(limit <= 0 for limit in args.limits) or args.token_s < 0:
        parser.error("--runs must be >= 1, --limits > 0, --token-s >= 0")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)

    texts = [f"the cat sat on the mat number {i} and the dog ran after it" for i in range(200)]
    with tempfile.TemporaryDirectory() as tmp:
        out = build_tiny_model(texts, tmp, preset=args.preset)
        model = AutoModelForCausalLM.from_pretrained(out)
        tok = AutoTokenizer.from_pretrained(out)
    stamps: list[float] = []

    def slow(module: Any, inputs: Any) -> None:
        stamps.append(time.monotonic())
        time.sleep(args.token_s)

    model.register_forward_pre_hook(slow)
    generate_bounded(model, tok, tok("warm up")["input_ids"], max_new_tokens=2, timeout_s=30)

    rows = [bench_limit(model, tok, limit, args.runs, stamps) for limit in args.limits]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(
        f"preset={args.preset} added sleep per token={args.token_s * 1000:.0f} ms"
        f" runs={args.runs} torch threads={args.threads} cpus={os.cpu_count()}"
        f" load={os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'limit':>6} {'token':>7} {'timed out':>9} {'min':>7} {'median':>7} {'p90':>7} {'max':>7}"
        "  within max(10%, mean token | last token)"
    )
    for r in rows:
        print(
            f"{r['limit_s']:>5g}s {r['token_s_median'] * 1000:>5.1f}ms {r['timed_out']:>4}/{r['runs']:<4}"
            f" {r['overshoot_min_s'] * 1000:>5.1f}ms {r['overshoot_median_s'] * 1000:>5.1f}ms"
            f" {r['overshoot_p90_s'] * 1000:>5.1f}ms {r['overshoot_max_s'] * 1000:>5.1f}ms"
            f"  {r['within_frac']:>4.0%} | {r['within_last_frac']:.0%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
