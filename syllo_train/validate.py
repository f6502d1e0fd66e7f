"""``syllo-train validate``: check a config and its data without loading model weights.

Loads the tokenizer when it is available locally (a folder, or the hub cache)
to check token lengths; a hub model that is not cached is reported and its
lengths are left unchecked, so a config written for a GPU box can be
validated on a laptop.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from syllo_train.config import Config, ConfigError, check_trainer_args
from syllo_train.humanlog import describe_tokenization

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _local_tokenizer(cfg: Config) -> Any | None:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            cfg.model.name_or_path,
            trust_remote_code=cfg.model.trust_remote_code,
            revision=cfg.model.revision,
            local_files_only=True,
        )
    except Exception:
        return None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def validate(cfg: Config, *, check_data: bool = True, out: Any = None) -> int:
    """Print what was checked (to ``out``, default stdout); return 0 when the run would start, 2 otherwise."""
    # Looked up now, not at import: stdout may have been replaced since (redirects, capture).
    out = sys.stdout if out is None else out
    from syllo_train.data import DataError
    from syllo_train.data.records import data_specs, load_source, read_options
    from syllo_train.runner import InputError, check_writable

    try:
        check_trainer_args(cfg)
        print(
            f"config: ok ({cfg.train.max_steps} steps, batch {cfg.train.batch_size}, model {cfg.model.name_or_path})",
            file=out,
        )
        if Path(cfg.model.name_or_path).exists() is False and cfg.model.name_or_path.startswith(
            (".", "/")
        ):
            raise InputError(f"model.name_or_path = {cfg.model.name_or_path!r}: no such folder")
        if not check_data:
            return EXIT_OK
        check_writable(cfg.output.dir, "output.dir")
        if Path(cfg.model.name_or_path).exists():
            from syllo_train.runner import load_tokenizer

            # A local folder must load, as `run` will insist; the error names the key and why.
            tok = load_tokenizer(cfg)
        else:
            tok = _local_tokenizer(cfg)
        if tok is None:
            print(
                f"tokenizer: {cfg.model.name_or_path} is not available locally; token lengths not checked",
                file=out,
            )
            options = read_options(cfg.data)
            for spec in data_specs(cfg.data):
                print(load_source(spec, options).summary(), file=out)
            return EXIT_OK
        from syllo_train.runner import prepare_data

        data = prepare_data(cfg, tok)
        for line in data.summaries:
            print(line, file=out)
        print(
            f"data: {len(data.train)} train / {len(data.val)} val examples ok "
            f"({len(data.skipped)} skipped), template {data.encoder.name}, "
            f"{len(data.eval_prompt_ids)} eval prompts",
            file=out,
        )
        print(f"tokenization: {describe_tokenization(data.encoder.facts.as_dict())}", file=out)
        longest = max(len(item.input_ids) for item in data.train.items)
        print(
            f"tokens: longest train example {longest} of data.max_length = {cfg.data.max_length}",
            file=out,
        )
    except (ConfigError, DataError, InputError) as exc:
        print(f"syllo-train: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK
