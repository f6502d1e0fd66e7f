"""Eval round time: batched generation against one prompt at a time, side by side.

Builds the tiny model and SYLLO puzzle data locally, encodes the eval prompts
the way the trainer does (syllo's own encoder), and times
``generation.run_eval_round`` over the first N prompts with
``batch_size=1`` (one at a time) and with each batch size asked for, on the
same model, interleaved (one at a time, batched, one at a time, …) so machine
noise hits both alike. Per round it reports the median seconds and the median
of the per-repetition ratios (one at a time ÷ batched, > 1 = batching is
faster) with their min and max, and checks every prompt's tokens are the same
both ways.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_eval.py --prompts 4 16 64 --batch 8 64 --reps 5
    .venv/bin/python bench/bench_eval.py --device cuda --preset base --dtype bfloat16 --prompts 64 --batch 8 64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This checkout's syllo_train, whichever checkout the venv was installed from.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def prepare(work: Path, preset: str, n: int) -> tuple[Path, list[list[int]]]:
    """A local model and the eval prompts of ``n`` validation puzzles, encoded like the trainer's."""
    from transformers import AutoTokenizer

    from syllo_train.config import Config
    from syllo_train.demo import puzzles
    from syllo_train.demo.tiny_model import build_tiny_model, texts_from_jsonl
    from syllo_train.prepare import prepare_data

    train, val = work / "train.jsonl", work / "val.jsonl"
    puzzles.write_jsonl(puzzles.generate(2000, "easy", seed=0), train)
    puzzles.write_jsonl(puzzles.generate(n, "easy", seed=1), val)
    model_dir = build_tiny_model(texts_from_jsonl([train, val]), work / "model", preset=preset)
    cfg = Config.from_dict(
        {
            "model": {"name_or_path": str(model_dir)},
            "data": {"train": str(train), "val": str(val), "val_max_examples": 0},
            "monitor": {"eval_samples": n},
        }
    )
    data = prepare_data(cfg, AutoTokenizer.from_pretrained(model_dir))
    return model_dir, [data.val.items[i].prompt_ids for i in range(len(data.val))][:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, nargs="+", default=[4, 16, 64])
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 64], help="batch sizes to compare")
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions per round size")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads on a CPU")
    ap.add_argument("--json", action="store_true", help="one JSON object per line as well")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from syllo_train.generation import run_eval_round

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="syllo-bench-eval-") as tmp:
        model_dir, all_prompts = prepare(Path(tmp), args.preset, max(args.prompts))
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(args.device)
        tok = AutoTokenizer.from_pretrained(model_dir)

    def round_s(prompts: list[list[int]], batch: int) -> tuple[float, list[tuple[int, ...]]]:
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        results = run_eval_round(
            model,
            tok,
            prompts,
            max_new_tokens=args.max_new_tokens,
            timeout_s=600,
            batch_size=batch,
        )
        # run_eval_round reads every token back to the host: the round is over here.
        return time.perf_counter() - t0, [r.token_ids for r in results]

    round_s(all_prompts[:2], 2)  # warm-up: generate's one-off set-up is not the subject
    print(
        f"preset={args.preset} device={args.device} dtype={args.dtype} threads={torch.get_num_threads()}"
        f" max_new_tokens={args.max_new_tokens} reps={args.reps} cpus={os.cpu_count()}"
        f" load={os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows = []
    for n in args.prompts:
        prompts = all_prompts[:n]
        batches = sorted({min(b, n) for b in args.batch})
        seq_s: list[float] = []
        bat_s: dict[int, list[float]] = {b: [] for b in batches}
        ratios: dict[int, list[float]] = {b: [] for b in batches}
        identical = True
        for _ in range(args.reps):
            s, seq_ids = round_s(prompts, 1)
            seq_s.append(s)
            for b in batches:
                t, ids = round_s(prompts, b)
                bat_s[b].append(t)
                ratios[b].append(s / t)
                identical = identical and ids == seq_ids
        for b in batches:
            r = ratios[b]
            row = {
                "prompts": n,
                "batch": b,
                "sequential_s": statistics.median(seq_s),
                "batched_s": statistics.median(bat_s[b]),
                "speedup_median": statistics.median(r),
                "speedup_min": min(r),
                "speedup_max": max(r),
                "identical_tokens": identical,
            }
            rows.append(row)
            print(
                f"{n:>3} prompts, batch {b:>3}: one at a time {row['sequential_s']:7.3f} s, "
                f"batched {row['batched_s']:7.3f} s, speed-up ×{row['speedup_median']:.2f} "
                f"(min {row['speedup_min']:.2f}, max {row['speedup_max']:.2f}); "
                f"identical tokens: {'yes' if identical else 'NO'}",
                flush=True,
            )
    if args.json:
        for row in rows:
            print(json.dumps(row))
    return 0 if all(r["identical_tokens"] for r in rows) or args.dtype != "float32" else 1


if __name__ == "__main__":
    sys.exit(main())
