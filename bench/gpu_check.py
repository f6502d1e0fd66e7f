"""GPU readiness, one script: syllo against a bare Trainer on a ~100M-parameter model in bf16.

Needs only an installed syllo (``pip install -e .``) and one CUDA GPU; no
download: the model (preset ``base``, ~86M parameters with the local 512-token
vocabulary) and its data are built locally, as the demo's are. In well under 8
minutes on one GPU it reports:

1. **throughput**: 300 steps, ``log_steps=10``, ``eval_steps=100``, syllo's
   trainer against a bare ``transformers.Trainer`` on the same weights,
   arguments and data order, interleaved pairs after a warm-up; the ratio of
   steps/s (syllo ÷ bare), end to end (syllo's evals included) and with syllo's
   eval rounds left out;
2. **the eval share**: syllo's own figure (the last ``eval`` event's
   ``eval_s_total`` and ``train_s_total``);
3. **synchronisation**: ``torch.cuda.set_sync_debug_mode("warn")`` switched
   on around syllo's own code only (its callbacks' handlers, and
   ``SylloTrainer.compute_loss`` less the Trainer's compute_loss inside it), on
   every non-log step: the number of synchronising calls there (expected 0);
   and, for context, how many of the bare Trainer's own non-log steps
   synchronise (its loss NaN check, ``logging_nan_inf_filter``, does);
4. **generation**: an eval round of 16 and of 64 prompts, batched
   (``generation_batch_size`` 8, and all at once) against one at a time, on
   the trained model: the speed-up, and how many prompts got identical tokens
   (bf16: not promised, see docs/generation.md).

    python bench/gpu_check.py                 # on the GPU machine; writes gpu_check.json
    python bench/gpu_check.py --device cpu --dtype float32 --preset tiny --steps 30 --eval-steps 15 --gen-prompts 4  # a dry run

Results print as they come (a run cut short still shows what it got) and go
to ``--out`` as JSON at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stress import Stress


def say(text: str) -> None:
    print(text, flush=True)


class SyncCounter:
    """Counts CUDA synchronisations inside the code it wraps (sync debug mode "warn")."""

    def __init__(self, torch: Any, enabled: bool) -> None:
        self.torch = torch
        self.enabled = enabled
        self.syncs = 0
        self.where: dict[str, int] = {}
        self.armed = False  # set on non-log steps only

    def around(self, name: str, fn: Any) -> Any:
        counter = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not (counter.enabled and counter.armed):
                return fn(*args, **kwargs)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                counter.torch.cuda.set_sync_debug_mode("warn")
                try:
                    return fn(*args, **kwargs)
                finally:
                    counter.torch.cuda.set_sync_debug_mode(0)
                    hits = sum("synchroniz" in str(w.message) for w in caught)
                    if hits:
                        counter.syncs += hits
                        counter.where[name] = counter.where.get(name, 0) + hits

        return wrapper


def sync_check(stress: Stress, torch: Any) -> dict[str, Any]:
    """Syncs inside syllo's code on non-log steps, and inside the bare Trainer's non-log steps."""
    from transformers import Trainer, TrainerCallback

    cuda = stress.use_cuda
    counter = SyncCounter(torch, cuda)
    trainer, reporter = stress.syllo()
    log_tier = trainer.log_tier

    class Arm(TrainerCallback):
        """Arms the counter for the steps that are not log steps (first in the list)."""

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            counter.armed = not log_tier.is_log_step(state.global_step + 1)

    for cb in trainer.callback_handler.callbacks:
        if type(cb).__module__.startswith("syllo_train"):
            for event in [e for e in dir(TrainerCallback) if e.startswith("on_")]:
                if getattr(type(cb), event) is not getattr(TrainerCallback, event):
                    setattr(
                        cb,
                        event,
                        counter.around(f"{type(cb).__name__}.{event}", getattr(cb, event)),
                    )
    trainer.add_callback(Arm())  # syllo's callbacks handle no on_step_begin: order is free
    # SylloTrainer.compute_loss with the Trainer's own compute_loss inside it disarmed.
    inner = Trainer.compute_loss

    def trainer_compute_loss(self: Any, *args: Any, **kwargs: Any) -> Any:
        was = counter.armed
        if cuda and was:
            torch.cuda.set_sync_debug_mode(0)
        try:
            return inner(self, *args, **kwargs)
        finally:
            if cuda and was:
                torch.cuda.set_sync_debug_mode("warn")

    Trainer.compute_loss = trainer_compute_loss  # type: ignore[method-assign]
    trainer.compute_loss = counter.around("SylloTrainer.compute_loss", trainer.compute_loss)
    try:
        trainer.train()
    finally:
        Trainer.compute_loss = inner  # type: ignore[method-assign]
        reporter.close()

    # The bare Trainer's own non-log steps, for context (the whole step armed).
    bare = stress.bare()
    steps = {"synced": 0, "of": 0}

    class WholeStep(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.log = log_tier.is_log_step(state.global_step + 1)
            if cuda and not self.log:
                self.caught = warnings.catch_warnings(record=True)
                self.records = self.caught.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if cuda and not self.log:
                torch.cuda.set_sync_debug_mode(0)
                self.caught.__exit__(None, None, None)
                steps["of"] += 1
                steps["synced"] += any("synchroniz" in str(w.message) for w in self.records)

    bare.add_callback(WholeStep())
    bare.train()
    return {
        "checked": cuda,
        "syllo_syncs_on_non_log_steps": counter.syncs if cuda else None,
        "syllo_syncs_where": counter.where,
        "bare_non_log_steps_that_synced": steps["synced"] if cuda else None,
        "bare_non_log_steps": steps["of"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--preset", default="base")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--log-steps", type=int, default=10)
    ap.add_argument("--eval-steps", type=int, default=100)
    ap.add_argument("--eval-samples", type=int, default=16)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--gen-prompts", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--out", default="gpu_check.json")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()

    import torch
    import transformers

    import syllo_train

    if args.device == "cuda" and not torch.cuda.is_available():
        say("gpu_check: no CUDA device visible (torch.cuda.is_available() is False)")
        return 2
    report: dict[str, Any] = {
        "versions": {
            "syllo": syllo_train.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
        "device": (
            torch.cuda.get_device_name(0)
            if args.device == "cuda"
            else f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
        ),
    }
    say(f"gpu_check: {report['device']}; {report['versions']}")

    stress = Stress(
        steps=args.steps,
        log_steps=args.log_steps,
        eval_steps=args.eval_steps,
        preset=args.preset,
        device=args.device,
        dtype=args.dtype,
        eval_samples=args.eval_samples,
        max_new_tokens=args.max_new_tokens,
    )
    report["params"] = stress.params()
    say(
        f"model: preset {args.preset}, {report['params']:,} parameters, {args.dtype}; {args.steps} steps, "
        f"batch {stress.batch_size}, log every {args.log_steps}, eval every {args.eval_steps} "
        f"({args.eval_samples} prompts, generation_batch_size {stress.cfg.monitor.generation_batch_size})"
    )

    # 1-2. Throughput and the eval share.
    def timed(trainer: Any) -> float:
        if stress.use_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        trainer.train()
        if stress.use_cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    timed(stress.bare())  # warm-up: allocator, kernels, cuBLAS handles
    pairs = []
    trained = None
    for i in range(args.pairs):
        bare_s = timed(stress.bare())
        trainer, reporter = stress.syllo()
        syllo_s = timed(trainer)
        reporter.close()
        trained = trainer.model
        events = [json.loads(line) for line in reporter.writer.path.read_text().splitlines()]
        evals = [e for e in events if e["type"] == "eval"]
        if evals:  # syllo's own accounting, from its last eval event
            eval_s = evals[-1]["eval_s_total"]
            share = eval_s / (eval_s + evals[-1]["train_s_total"])
        else:  # no eval round in the run (eval_steps > steps)
            eval_s, share = 0.0, 0.0
        # Both sides timed the same way (the whole train() call), syllo's eval rounds taken off.
        train_s = syllo_s - eval_s
        pairs.append(
            {
                "bare_steps_per_s": args.steps / bare_s,
                "syllo_steps_per_s": args.steps / syllo_s,
                "ratio": bare_s / syllo_s,
                "ratio_evals_left_out": bare_s / train_s,
                "eval_share": share,
            }
        )
        p = pairs[-1]
        say(
            f"pair {i + 1}: bare {p['bare_steps_per_s']:.2f} steps/s, syllo {p['syllo_steps_per_s']:.2f} "
            f"steps/s: ratio {p['ratio']:.4f} end to end, {p['ratio_evals_left_out']:.4f} with syllo's "
            f"eval rounds left out; eval share {100 * share:.1f} %"
        )
    med = {k: statistics.median(p[k] for p in pairs) for k in pairs[0]}
    report["throughput"] = {"pairs": pairs, "median": med}
    say(
        f"THROUGHPUT: ratio syllo/bare {med['ratio']:.4f} end to end (min {min(p['ratio'] for p in pairs):.4f}, "
        f"max {max(p['ratio'] for p in pairs):.4f}), {med['ratio_evals_left_out']:.4f} with evals left out; "
        f"EVAL SHARE {100 * med['eval_share']:.1f} % (median of {args.pairs} runs)"
    )

    # 3. Synchronisation on non-log steps.
    sync = sync_check(stress, torch)
    report["sync"] = sync
    if sync["checked"]:
        say(
            f"SYNC: syllo's code synchronised {sync['syllo_syncs_on_non_log_steps']} times on non-log "
            f"steps {sync['syllo_syncs_where'] or ''}; the bare Trainer's own code synchronised in "
            f"{sync['bare_non_log_steps_that_synced']} of its {sync['bare_non_log_steps']} non-log steps"
        )
    else:
        say("SYNC: not checked (no CUDA device)")

    # 4. Batched against sequential generation, on the model syllo just trained.
    from syllo_train.generation import run_eval_round

    model = trained if trained is not None else stress.fresh_model().to(args.device)
    prompts_all = [enc.prompt_ids for enc in [*stress.data.val.items, *stress.data.train.items]]
    gen = []
    for n in args.gen_prompts:
        prompts = prompts_all[:n]
        for batch in sorted({min(8, n), n}):
            times: dict[str, list[float]] = {"one at a time": [], "batched": []}
            same = 0
            for _ in range(2):
                outs = {}
                for name, size in (("one at a time", 1), ("batched", batch)):
                    if stress.use_cuda:
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    res = run_eval_round(
                        model,
                        stress.tok,
                        prompts,
                        max_new_tokens=args.max_new_tokens,
                        timeout_s=600,
                        batch_size=size,
                    )
                    times[name].append(time.perf_counter() - t0)
                    outs[name] = [r.token_ids for r in res]
                same = sum(
                    a == b for a, b in zip(outs["one at a time"], outs["batched"], strict=True)
                )
            seq, bat = (
                statistics.median(times["one at a time"]),
                statistics.median(times["batched"]),
            )
            gen.append(
                {
                    "prompts": n,
                    "batch": batch,
                    "sequential_s": seq,
                    "batched_s": bat,
                    "speedup": seq / bat,
                    "identical": same,
                }
            )
            say(
                f"GENERATION: {n} prompts, batch {batch}: one at a time {seq:.2f} s, batched {bat:.2f} s, "
                f"speed-up ×{seq / bat:.1f}; identical tokens for {same} of {n} prompts"
            )
    report["generation"] = gen
    report["seconds"] = time.perf_counter() - t_start
    Path(args.out).write_text(json.dumps(report, indent=2))
    say(f"done in {report['seconds']:.0f} s; figures in {os.path.abspath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
