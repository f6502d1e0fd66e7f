"""Throughput of syllo's trainer against a bare HF Trainer, side by side.

Same tiny model (fresh copy each run), same data, same TrainingArguments; the
only difference is syllo's monitor (log tier every ``--log-steps``, eval tier
off, events + snapshot + human log written). Runs are interleaved
(bare, syllo, bare, syllo, …) so machine noise hits both alike; the figure is
the median of the per-pair ratios of steps/s (syllo ÷ bare).

    .venv/bin/python bench/bench_throughput.py --pairs 5 --steps 200
    .venv/bin/python bench/bench_throughput.py --device cuda --preset base --dtype bfloat16 --steps 300 --eval-steps 100
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--log-steps", type=int, default=10)
    ap.add_argument(
        "--eval-steps", type=int, default=0, help="0 = eval tier off (the issue's setting)"
    )
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--level", default="tiny")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    from syllo_train.checkpoints import Fingerprint
    from syllo_train.config import load_config
    from syllo_train.data.batches import PadCollator, TokenDataset
    from syllo_train.demo import puzzles
    from syllo_train.demo.tiny_model import build_tiny_model, texts_from_jsonl
    from syllo_train.prepare import prepare_data, training_arguments
    from syllo_train.runner import build_trainer
    from syllo_train.sinks.reporter import Reporter

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    work = Path(tempfile.mkdtemp(prefix="syllo-bench-"))
    data = work / "train.jsonl"
    puzzles.write_jsonl(puzzles.generate(4000, args.level, seed=0), data)
    model_dir = build_tiny_model(texts_from_jsonl([data]), work / "model", preset=args.preset)
    cfg_path = work / "cfg.toml"
    cfg_path.write_text(
        f"""
[model]
name_or_path = "{model_dir}"
dtype = "{args.dtype}"
[data]
train = "{data}"
max_length = 512
[train]
output_dir = "{work / "runs"}"
max_steps = {args.steps}
batch_size = {args.batch_size}
save_steps = {args.steps * 10}
device = "{args.device}"
[monitor]
log_steps = {args.log_steps}
eval_steps = {args.eval_steps}
eval_at_end = false
eval_samples = 2
max_new_tokens = 32
[output]
dir = "{work / "status"}"
"""
    )
    cfg = load_config(cfg_path)
    use_cuda = args.device == "cuda"
    tok = AutoTokenizer.from_pretrained(model_dir)
    prepared = prepare_data(cfg, tok)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]

    def fresh_model() -> Any:
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)

    def targs(tag: str) -> Any:
        ta = training_arguments(cfg, use_cuda)
        return dataclasses.replace(ta, output_dir=str(work / f"runs-{tag}"), save_strategy="no")

    class BareCollator(PadCollator):
        def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
            batch = super().__call__(items)
            batch.pop("idx"), batch.pop("n_tokens")
            return batch

    def run_bare() -> float:
        trainer = Trainer(
            model=fresh_model(),
            args=targs("bare"),
            train_dataset=TokenDataset(prepared.train),
            data_collator=BareCollator(tok.pad_token_id),
            processing_class=tok,
        )
        trainer.remove_callback(PrinterCallback)
        t0 = time.perf_counter()
        trainer.train()
        if use_cuda:
            torch.cuda.synchronize()
        return args.steps / (time.perf_counter() - t0)

    def run_syllo(i: int) -> float:
        reporter = Reporter(work / f"status-{i}", echo=None)
        trainer, _ = build_trainer(
            cfg,
            reporter,
            model=fresh_model(),
            args=targs("syllo"),
            tokenizer=tok,
            data=prepared,
            fingerprint=Fingerprint("bench", "bench"),
            settings={},
        )
        t0 = time.perf_counter()
        trainer.train()
        if use_cuda:
            torch.cuda.synchronize()
        rate = args.steps / (time.perf_counter() - t0)
        reporter.close()
        return rate

    run_bare()  # warm-up: first-run allocator and kernel caches are not the subject
    ratios, bare_rates, syllo_rates = [], [], []
    for i in range(args.pairs):
        b = run_bare()
        s = run_syllo(i)
        bare_rates.append(b)
        syllo_rates.append(s)
        ratios.append(s / b)
        print(
            f"pair {i + 1}: bare {b:.2f} steps/s, syllo {s:.2f} steps/s, ratio {s / b:.3f}",
            flush=True,
        )
    print(
        f"median ratio syllo/bare = {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}; {args.pairs} interleaved pairs, {args.steps} steps, "
        f"log every {args.log_steps}, eval {'off' if not args.eval_steps else f'every {args.eval_steps}'}, "
        f"{args.preset} model on {args.device}; median bare {statistics.median(bare_rates):.1f} steps/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
