"""``syllo-train validate``: everything ``run`` checks before it trains, without the weights.

It calls the very preparation ``run`` calls (prepare.py), minus loading the
model's weights: a config ``run`` would refuse, ``validate`` refuses with the
same message and exit code, resume plan and ``TrainingArguments`` included.
What depends on this machine rather than on the inputs is reported instead:
no CUDA here, or a hub model that is not in this machine's cache (then the
records are checked without their token lengths).
"""

from __future__ import annotations

import sys
from typing import Any

from syllo_train import exitcodes
from syllo_train.config import Config
from syllo_train.inert import print_inert
from syllo_train.sinks.humanlog import describe_tokenization


def validate(cfg: Config, *, check_data: bool = True, out: Any = None) -> int:
    """Print what was checked (to ``out``, default stdout); return 0 when ``run`` would start, else 2."""
    # Looked up now, not at import: stdout may have been replaced since (redirects, capture).
    out = sys.stdout if out is None else out
    say = print_inert  # paths and records quoted in these lines are shown inert
    from syllo_train.config import check_trainer_args
    from syllo_train.prepare import REFUSALS, NotHere, check_folders, check_records, prepare

    try:
        check_trainer_args(cfg)
        say(
            f"config: ok ({cfg.train.max_steps} steps, batch {cfg.train.batch_size}, model {cfg.model.name_or_path})",
            out,
        )
        if not check_data:
            return exitcodes.OK
        check_folders(cfg)
        try:
            p = prepare(cfg, load_weights=False)
        except NotHere:
            say(
                f"tokenizer: {cfg.model.name_or_path} is not on this machine; "
                "records checked without their token lengths, resume plan not checked",
                out,
            )
            for line in check_records(cfg):
                say(line, out)
            return exitcodes.OK
        for note in p.notes:
            say(note, out)
        data = p.data
        for line in data.summaries:
            say(line, out)
        say(
            f"data: {len(data.train)} train / {len(data.val)} val examples ok "
            f"({len(data.skipped)} skipped), template {data.encoder.name}, "
            f"{len(data.eval_prompt_ids)} eval prompts",
            out,
        )
        say(f"tokenization: {describe_tokenization(data.encoder.facts.as_dict())}", out)
        longest = max(len(item.input_ids) for item in data.train.items)
        say(
            f"tokens: longest train example {longest} of data.max_length = {cfg.data.max_length}",
            out,
        )
        resume = (
            f"resumes from {p.plan.checkpoint} (step {p.plan.step})"
            if p.plan.checkpoint
            else "starts fresh"
        )
        say(f"resume: {resume}", out)
    except REFUSALS as exc:
        print_inert(f"syllo-train: error: {exc}")
        return exitcodes.BAD_INPUT
    return exitcodes.OK
