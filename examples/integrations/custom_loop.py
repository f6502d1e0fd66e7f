"""A training loop of your own (no Trainer), watched by syllo through its Run API.

    syllo-train data syllo data/train.jsonl --n 400 --val-out data/val.jsonl
    syllo-train model tiny --data data/train.jsonl --out runs/tiny-model
    python examples/integrations/custom_loop.py --model runs/tiny-model \
        --train data/train.jsonl --val data/val.jsonl
    syllo-tui status/events.jsonl

The loop hands ``run.log`` the batch it trained on and the model's outputs:
syllo reads the example (prompt, golden, its own loss, token by token) from
them, with no extra forward pass. ``run.eval`` generates on the fixed prompts
with syllo's time limits and records the validation loss the loop computed.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import syllo_train


def load(path: str) -> list[tuple[str, str]]:
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            turns = json.loads(line)["messages"]
            user = next(t["content"] for t in turns if t["role"] == "user")
            pairs.append((f"{user}\nAnswer: ", turns[-1]["content"]))
    return pairs


def batch_of(pairs: list[tuple[str, str]], tok: Any) -> dict[str, torch.Tensor]:
    rows = []
    for prompt, answer in pairs:
        p = tok(prompt)["input_ids"]
        a = tok(answer + tok.eos_token, add_special_tokens=False)["input_ids"]
        rows.append((p + a, [-100] * len(p) + a))
    width = max(len(ids) for ids, _ in rows)
    pad = tok.pad_token_id
    return {
        "input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows]),
        "labels": torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows]),
        "attention_mask": torch.tensor(
            [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]
        ),
    }


def main(
    argv: list[str] | None = None, on_batch: Callable[[int, dict[str, Any]], None] | None = None
) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--status", default="status")
    ap.add_argument("--out", default="runs/custom-loop")
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--log-every", type=int, default=5)
    ap.add_argument("--eval-every", type=int, default=50)
    a = ap.parse_args(argv)

    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model)
    train, val = load(a.train), load(a.val)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr)
    rng = random.Random(0)
    prompts, goldens = [p for p, _ in val[:3]], [g for _, g in val[:3]]

    with syllo_train.Run(
        a.status,
        model=model,
        tokenizer=tok,
        max_steps=a.max_steps,
        config={"lr": a.lr, "batch_size": 4},
        eval_prompts=prompts,
        goldens=goldens,
        train_examples=len(train),
        generation_timeout_s=30,
    ) as run:
        seen = 0  # tokens trained since the last log (for tokens/s)
        for step in range(1, a.max_steps + 1):
            model.train()
            batch = batch_of(rng.sample(train, 4), tok)
            if on_batch is not None:
                on_batch(step, batch)
            out = model(**batch)
            out.loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
            seen += int(batch["attention_mask"].sum())
            if step % a.log_every == 0:
                run.log(
                    step,
                    loss=out.loss.item(),
                    lr=a.lr,
                    grad_norm=norm.item(),
                    tokens=seen,
                    batch=batch,
                    outputs=out,
                )
                seen = 0
            if step % a.eval_every == 0 or step == a.max_steps:
                model.eval()
                with torch.no_grad():
                    vb = batch_of(val[:16], tok)
                    val_loss = model(**vb).loss.item()
                run.eval(step, val_loss=val_loss, model=model)
                folder = f"{a.out}/checkpoint-{step}"
                model.save_pretrained(folder)
                run.checkpoint(folder, step)  # marks it complete, with the run's counters
            if run.should_stop:  # run health: the loss went non-finite
                break


if __name__ == "__main__":
    main()
