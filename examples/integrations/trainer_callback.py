"""A plain transformers Trainer script, watched by syllo: one callback added.

    syllo-train data syllo data/train.jsonl --n 400 --val-out data/val.jsonl
    syllo-train model tiny --data data/train.jsonl --out runs/tiny-model
    python examples/integrations/trainer_callback.py --model runs/tiny-model \
        --train data/train.jsonl --val data/val.jsonl
    syllo-tui status/events.jsonl

The data are tokenized here, the prompt masked out of the labels (-100), as
many Trainer scripts do; SylloCallback takes its eval prompts from the
Trainer's eval dataset (each row's prompt is what comes before its labels).
Runs the same under ``torchrun --nproc_per_node=2``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Trainer,
    TrainingArguments,
)

from syllo_train import SylloCallback


def prompt_and_answer(record: dict[str, Any]) -> tuple[str, str]:
    """A chat record's user turn and final answer as plain text."""
    turns = record["messages"]
    user = next(t["content"] for t in turns if t["role"] == "user")
    return f"{user}\nAnswer: ", turns[-1]["content"]


def tokenized(path: str, tok: Any, max_length: int = 512) -> list[dict[str, list[int]]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            prompt, answer = prompt_and_answer(json.loads(line))
            p = tok(prompt)["input_ids"]
            a = tok(answer + tok.eos_token, add_special_tokens=False)["input_ids"]
            ids = (p + a)[:max_length]
            rows.append({"input_ids": ids, "labels": ([-100] * len(p) + a)[:max_length]})
    return rows


def main(argv: list[str] | None = None, callbacks: tuple[Any, ...] = ()) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--out", default="runs/trainer-callback")
    ap.add_argument("--status", default="status")
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--log-every", type=int, default=5)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument(
        "--resume", action="store_true", help="resume from the newest checkpoint in --out"
    )
    ap.add_argument("--generation-timeout", type=float, default=30.0)
    a = ap.parse_args(argv)

    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model)
    args = TrainingArguments(
        output_dir=a.out,
        max_steps=a.max_steps,
        per_device_train_batch_size=4,
        learning_rate=a.lr,
        logging_steps=a.log_every,
        eval_strategy="steps",
        eval_steps=a.eval_every,
        save_steps=a.eval_every,
        report_to=[],
        use_cpu=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=tokenized(a.train, tok),
        eval_dataset=tokenized(a.val, tok),
        data_collator=DataCollatorForSeq2Seq(tok, padding=True),
        processing_class=tok,
        callbacks=[
            SylloCallback(a.status, eval_samples=3, generation_timeout_s=a.generation_timeout),
            *callbacks,
        ],
    )
    trainer.train(resume_from_checkpoint=True if a.resume else None)


if __name__ == "__main__":
    main()
