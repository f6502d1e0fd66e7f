"""TRL's SFTTrainer, watched by syllo: one callback added.

    syllo-train data syllo data/train.jsonl --n 400 --val-out data/val.jsonl
    syllo-train model tiny --data data/train.jsonl --out runs/tiny-chat --chat-template
    python examples/integrations/trl_sft.py --model runs/tiny-chat \
        --train data/train.jsonl --val data/val.jsonl --form conversational
    syllo-tui status/events.jsonl

``--form prompt_completion``: {"prompt", "completion"} strings, the loss on the
completion only (TRL's ``completion_only_loss``, its default for this form);
``--form conversational``: the chat records as they are, the loss on what the
assistant writes (``assistant_only_loss``: the chat template must mark it with
``{% generation %}``); ``--packing``: sequences packed into rows without padding.
The eval prompts come from the Trainer's eval dataset, or with
``--raw-eval-rows`` from the raw records given to SylloCallback.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from syllo_train import SylloCallback


def records(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def as_form(recs: list[dict[str, Any]], form: str) -> list[dict[str, Any]]:
    if form == "conversational":
        return [{"messages": r["messages"]} for r in recs]
    rows = []
    for r in recs:
        user = next(t["content"] for t in r["messages"] if t["role"] == "user")
        rows.append({"prompt": f"{user}\nAnswer: ", "completion": r["messages"][-1]["content"]})
    return rows


def main(argv: list[str] | None = None, callbacks: tuple[Any, ...] = ()) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument(
        "--form", choices=["prompt_completion", "conversational"], default="prompt_completion"
    )
    ap.add_argument("--packing", action="store_true")
    ap.add_argument("--raw-eval-rows", action="store_true")
    ap.add_argument("--given-prompts", action="store_true", help="pass 3 eval prompts explicitly")
    ap.add_argument("--out", default="runs/trl-sft")
    ap.add_argument("--status", default="status")
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--log-every", type=int, default=5)
    ap.add_argument("--eval-every", type=int, default=50)
    a = ap.parse_args(argv)

    train = as_form(records(a.train), a.form)
    val = as_form(records(a.val), a.form)
    config = SFTConfig(
        output_dir=a.out,
        max_steps=a.max_steps,
        per_device_train_batch_size=4,
        learning_rate=a.lr,
        logging_steps=a.log_every,
        eval_strategy="steps",
        eval_steps=a.eval_every,
        save_steps=a.eval_every,
        max_length=512,
        assistant_only_loss=a.form == "conversational",
        packing=a.packing,
        report_to=[],
        use_cpu=True,
    )
    given: dict[str, Any] = {}
    if a.given_prompts:  # a prompt as messages goes through the chat template; a string as written
        rows = val[:3]
        given["eval_prompts"] = [
            r["messages"][:-1] if "messages" in r else r["prompt"] for r in rows
        ]
        given["goldens"] = [
            r["messages"][-1]["content"] if "messages" in r else r["completion"] for r in rows
        ]
    syllo = SylloCallback(
        a.status,
        eval_samples=3,
        generation_timeout_s=30,
        eval_dataset=val if a.raw_eval_rows else None,
        **given,
    )
    trainer = SFTTrainer(
        model=a.model,
        args=config,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(val),
        callbacks=[syllo, *callbacks],
    )
    trainer.train()


if __name__ == "__main__":
    main()
