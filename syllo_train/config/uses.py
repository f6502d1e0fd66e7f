"""Uses of a loaded config: the trainer arguments' names, and the settings a checkpoint records."""

from __future__ import annotations

import dataclasses
from typing import Any

from syllo_train.config.locate import _did_you_mean
from syllo_train.config.schema import Config, ConfigError


def check_trainer_args(cfg: Config, source: str | None = None) -> None:
    """Refuse ``trainer_args`` keys that ``transformers.TrainingArguments`` does not have.

    Imports transformers (seconds), so it is kept out of ``load_config``; call
    it before loading the model, so a typo fails fast rather than after the
    weights are in memory. ``source`` (the config path) prefixes the message.
    """
    import transformers  # lazy: this module must stay importable without it

    known = [f.name for f in dataclasses.fields(transformers.TrainingArguments) if f.init]
    for key in cfg.trainer_args:
        if key in known:
            continue
        guess = _did_you_mean(key, known)
        fix = f"did you mean 'trainer_args.{guess}'?" if guess else "remove it or fix the spelling"
        prefix = f"{source}: " if source else ""
        raise ConfigError(
            f"{prefix}trainer_args.{key} is not a field of transformers.TrainingArguments "
            f"(transformers {transformers.__version__}) — {fix}",
            key=f"trainer_args.{key}",
        )


def fingerprint_settings(cfg: Config) -> dict[str, Any]:
    """The settings that shape what training computes, for the resume fingerprint.

    A checkpoint records this; resuming with a different value is refused.
    ``train.max_steps`` is left out on purpose (extending a run is allowed), as
    are settings that change only speed, memory or reporting. LoRA details
    count only when LoRA is on. ``trainer_args`` are not included.
    """
    lora: dict[str, Any] = {"lora.enabled": cfg.lora.enabled}
    if cfg.lora.enabled:
        targets = cfg.lora.target_modules
        lora |= {
            "lora.r": cfg.lora.r,
            "lora.alpha": cfg.lora.alpha,
            "lora.dropout": cfg.lora.dropout,
            "lora.target_modules": sorted(targets) if isinstance(targets, list) else targets,
        }
    # With no val file, the split decides which examples are trained on.
    split = (
        None
        if cfg.data.val
        else {"val_fraction": cfg.data.val_fraction, "seed": cfg.data.split_seed}
    )
    return {
        "model.name_or_path": cfg.model.name_or_path,
        "model.revision": cfg.model.revision,
        "model.dtype": cfg.model.dtype,
        **lora,
        "data.max_length": cfg.data.max_length,
        "data.too_long": cfg.data.too_long,
        "data.template": cfg.data.template,
        "data.chat_template": cfg.data.chat_template,
        "data.chat_template_kwargs": cfg.data.chat_template_kwargs,
        "data.train_on": cfg.data.train_on,
        "data.system_turn": cfg.data.system_turn,
        "data.system_prompt": cfg.data.system_prompt,
        "data.split": split,
        # The record-reading keys count only when set: checkpoints from before they existed still resume.
        **{
            f"data.{k}": v
            for k, v in (
                ("format", cfg.data.format),
                ("columns", cfg.data.columns),
                ("roles", cfg.data.roles),
            )
            if v not in ("auto", {})
        },
        "train.batch_size": cfg.train.batch_size,
        "train.gradient_accumulation_steps": cfg.train.gradient_accumulation_steps,
        "train.learning_rate": cfg.train.learning_rate,
        "train.lr_scheduler": cfg.train.lr_scheduler,
        "train.warmup_steps": cfg.train.warmup_steps,
        "train.weight_decay": cfg.train.weight_decay,
        "train.max_grad_norm": cfg.train.max_grad_norm,
        "train.seed": cfg.train.seed,
    }
