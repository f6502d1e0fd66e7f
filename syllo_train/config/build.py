"""Plain data → a checked ``Config``: sections, keys, types, values, and the combinations that cannot work."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

from syllo_train.config.locate import _CHOICE_ALIASES, Ctx, _all_keys, _did_you_mean
from syllo_train.config.schema import (
    CHAT_TEMPLATE_KWARGS_OWNED,
    SECTIONS,
    TRAINER_ARGS_OWNED,
    Config,
    ConfigError,
    DataConfig,
)
from syllo_train.config.types import _coerce, _example, _hints, _kind


def _default(f: dataclasses.Field[Any]) -> Any:
    """A field's default value (MISSING for a required key)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def build(raw: dict[str, Any], ctx: Ctx) -> Config:
    sections = [*SECTIONS, "trainer_args"]
    for name, value in raw.items():
        if name in sections:
            if not isinstance(value, dict):
                raise ctx.error(
                    name,
                    f"{name} must be a table, got {value!r} ({_kind(value)})",
                    f"write the keys under a [{name}] header",
                )
            continue
        owner = [k for k in _all_keys() if k.split(".", 1)[1] == name]
        if owner:
            fix = f"keys go inside a section: did you mean '{owner[0]}' (under [{owner[0].split('.')[0]}])?"
            raise ctx.error(name, f"top-level key '{name}' is not in any section", fix)
        guess = _did_you_mean(name, sections)
        fix = f"did you mean [{guess}]?" if guess else "the sections are " + ", ".join(sections)
        raise ctx.error(name, f"unknown section [{name}]", fix)

    built: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        table = raw.get(name, {})
        hints = _hints(cls)
        defaults = {f.name: _default(f) for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            full = f"{name}.{key}"
            if key not in hints:
                raise _unknown_key(full, ctx)
            values[key] = _coerce(value, hints[key], full, defaults[key], ctx)
        for f in dataclasses.fields(cls):
            if f.name not in values and _default(f) is dataclasses.MISSING:
                full = f"{name}.{f.name}"
                fix = _example(full, hints[f.name], f.default, ctx)
                raise ctx.error(name, f"missing required key '{full}'", f"add it: {fix}")
        built[name] = cls(**values)
    cfg = Config(**built, trainer_args=dict(raw.get("trainer_args", {})))
    _check_values(cfg, ctx)
    _check_combinations(cfg, ctx)
    return cfg


def _unknown_key(full: str, ctx: Ctx) -> ConfigError:
    section, name = full.split(".", 1)
    elsewhere = [k for k in _all_keys() if k.split(".", 1)[1] == name]
    if elsewhere:
        return ctx.error(
            full,
            f"unknown key '{full}'",
            f"'{name}' belongs elsewhere: did you mean '{elsewhere[0]}'?",
        )
    in_section = [f.name for f in dataclasses.fields(SECTIONS[section])]
    guess = _did_you_mean(name, in_section) or _did_you_mean(full, _all_keys())
    if guess:
        guess = guess if "." in guess else f"{section}.{guess}"
        return ctx.error(full, f"unknown key '{full}'", f"did you mean '{guess}'?")
    return ctx.error(
        full, f"unknown key '{full}'", f"the keys of [{section}] are " + ", ".join(in_section)
    )


def _get(cfg: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def _nonempty(v: Any) -> bool:
    return bool(v.strip()) if isinstance(v, str) else bool(v)


def _seed(v: int) -> bool:
    return 0 <= v < 2**32  # numpy's seed range; torch accepts it too


# (key, value is fine, requirement, what the key is for / what to do)
_RULES: tuple[tuple[str, Callable[[Any], bool], str, str], ...] = (
    ("model.name_or_path", _nonempty, "must not be empty", "a local model folder or a hub id"),
    ("model.revision", _nonempty, "must not be empty", 'use "main" for the default branch'),
    ("lora.r", lambda v: v >= 1, "must be >= 1", "it is the adapter rank; 8-64 is typical"),
    ("lora.alpha", lambda v: v >= 1, "must be >= 1", "adapter scale is alpha / r; 2*r is typical"),
    ("lora.dropout", lambda v: 0 <= v < 1, "must be in [0, 1)", "a probability; 0.05 is typical"),
    ("lora.target_modules", _nonempty, "must not be empty", 'list module names or "all-linear"'),
    ("data.train", _nonempty, "must not be empty", "give the path of a data file, or a hub id"),
    ("data.train_split", _nonempty, "must not be empty", 'e.g. "train"'),
    ("data.val_split", _nonempty, "must not be empty", 'e.g. "validation" or "test"'),
    ("data.revision", _nonempty, "must not be empty", 'use "main" for the default branch'),
    ("data.val_fraction", lambda v: 0 < v < 1, "must be between 0 and 1 (exclusive)", "e.g. 0.05"),
    ("data.val_max_examples", lambda v: v >= 0, "must be >= 0", "0 = use every val example"),
    ("data.split_seed", _seed, "must be in [0, 2**32)", "any non-negative integer"),
    ("data.max_length", lambda v: v >= 8, "must be >= 8", "tokens per example, e.g. 1024"),
    ("train.output_dir", _nonempty, "must not be empty", "checkpoints need a folder"),
    ("train.max_steps", lambda v: v >= 1, "must be >= 1", "the number of optimizer steps"),
    ("train.batch_size", lambda v: v >= 1, "must be >= 1", "examples per device per step"),
    ("train.gradient_accumulation_steps", lambda v: v >= 1, "must be >= 1", "1 = no accumulation"),
    ("train.learning_rate", lambda v: v >= 0, "must be >= 0", "e.g. 2e-4"),
    ("train.learning_rate", lambda v: v <= 1, "must be <= 1", "check the exponent's sign: 2e-4"),
    ("train.weight_decay", lambda v: v >= 0, "must be >= 0", "0.0 = no weight decay"),
    ("train.warmup_steps", lambda v: v >= 0, "must be >= 0", "0 = no warmup"),
    ("train.max_grad_norm", lambda v: v >= 0, "must be >= 0", "0 = no gradient clipping"),
    ("train.save_steps", lambda v: v >= 1, "must be >= 1", "steps between checkpoints"),
    ("train.save_total_limit", lambda v: v >= 0, "must be >= 0", "0 = keep every checkpoint"),
    ("train.resume", _nonempty, "must not be empty", 'use "auto", "never" or a checkpoint path'),
    ("train.seed", _seed, "must be in [0, 2**32)", "any non-negative integer"),
    ("monitor.log_steps", lambda v: v >= 1, "must be >= 1", "steps between log events, e.g. 10"),
    ("monitor.eval_steps", lambda v: v >= 0, "must be >= 0", "0 = no periodic eval"),
    ("monitor.eval_samples", lambda v: v >= 0, "must be >= 0", "0 = no generation at eval"),
    ("monitor.eval_seed", _seed, "must be in [0, 2**32)", "any non-negative integer"),
    ("monitor.eval_batch_size", lambda v: v >= 1, "must be >= 1", "validation-loss batch size"),
    (
        "monitor.generation_batch_size",
        lambda v: v >= 1,
        "must be >= 1",
        "eval prompts generated together, e.g. 8; 1 = one at a time",
    ),
    ("monitor.generation_timeout_s", lambda v: v > 0, "must be > 0", "seconds, e.g. 60"),
    ("monitor.eval_timeout_s", lambda v: v >= 0, "must be >= 0", "0 = no budget for the round"),
    (
        "monitor.eval_budget_pct",
        lambda v: 0 <= v < 100,
        "must be in [0, 100)",
        "a percentage of run time, e.g. 10; 0 = no eval budget",
    ),
    ("monitor.stall_grace_s", lambda v: v >= 0, "must be >= 0", "seconds, e.g. 5"),
    ("monitor.max_new_tokens", lambda v: v >= 1, "must be >= 1", "tokens per generation"),
    (
        "monitor.spike_mads",
        lambda v: v >= 0,
        "must be >= 0",
        "0 = no spike detection; 8 is typical",
    ),
    ("monitor.stop_after_nonfinite", lambda v: v >= 0, "must be >= 0", "0 = never stop for it"),
    (
        "monitor.overfit_evals",
        lambda v: v >= 0,
        "must be >= 0",
        "0 = no overfitting rule; 3 is typical",
    ),
    (
        "monitor.example_tokens",
        lambda v: v == 0 or v >= 16,
        "must be 0 or >= 16",
        "0 = no token view; fewer than 16 tokens shows too little to read",
    ),
    (
        "monitor.max_text_chars",
        lambda v: v == 0 or v >= 16,
        "must be 0 or >= 16",
        "0 = no cap; a cap below 16 leaves nothing but the cut marker",
    ),
    ("output.dir", _nonempty, "must not be empty", 'e.g. "status"'),
)


def _check_values(cfg: Config, ctx: Ctx) -> None:
    for name, cls in SECTIONS.items():
        for key, hint in _hints(cls).items():
            value = getattr(getattr(cfg, name), key)
            full = f"{name}.{key}"
            if hint is float and not math.isfinite(value):
                raise ctx.error(
                    full,
                    f"{full} must be a finite number, got {value!r}",
                    "inf and nan are not allowed; where a key allows 'no limit', that is 0",
                )
            if get_origin(hint) is Literal and value not in get_args(hint):
                raise _bad_choice(full, value, get_args(hint), ctx)
    for key, ok, requirement, fix in _RULES:
        value = _get(cfg, key)
        if not ok(value):
            raise ctx.error(key, f"{key} {requirement}, got {value!r}", fix)
    targets = cfg.lora.target_modules
    if isinstance(targets, list) and not all(t.strip() for t in targets):
        raise ctx.error("lora.target_modules", "lora.target_modules has an empty name", "remove it")
    resume = cfg.train.resume
    if resume not in ("auto", "never"):
        alias = "auto" if resume.strip().lower() == "auto" else None
        alias = alias or _CHOICE_ALIASES.get(resume.strip().lower())
        if alias in ("auto", "never"):
            raise ctx.error(
                "train.resume",
                f"train.resume = {resume!r} would be read as a checkpoint path",
                f'did you mean "{alias}"?',
            )


def _bad_choice(key: str, value: str, choices: tuple[str, ...], ctx: Ctx) -> ConfigError:
    listed = ", ".join(repr(c) for c in choices)
    guess = _CHOICE_ALIASES.get(value.lower()) or value.lower()
    if guess not in choices:
        guess = _did_you_mean(value, choices) or ""
    fix = f"did you mean {guess!r}?" if guess else f"choose one of {listed}"
    return ctx.error(key, f"{key} must be one of {listed}, got {value!r}", fix)


def _other_splits(d: DataConfig) -> bool:
    """data.train and data.val name different splits of one hub dataset or folder."""
    from syllo_train.data.sources import SUFFIXES

    a_file = os.path.isfile(d.train) or os.path.splitext(d.train)[1].lower() in SUFFIXES
    return d.train_split != d.val_split and not a_file


def _check_columns_and_roles(d: DataConfig, ctx: Ctx) -> None:
    """data.columns: syllo's key names -> the file's; data.roles: a file's role names -> syllo's."""
    from syllo_train.data.forms import COLUMN_KEYS, ROLES

    for name, value in d.columns.items():
        key = f"data.columns.{name}"
        if name not in COLUMN_KEYS:
            guess = _did_you_mean(name, COLUMN_KEYS)
            fix = f"did you mean {guess!r}?" if guess else "the names are " + ", ".join(COLUMN_KEYS)
            raise ctx.error(
                key, f"{key}: {name!r} is not a key syllo reads (map syllo's name to yours)", fix
            )
        if not isinstance(value, str) or not value.strip():
            raise ctx.error(
                key,
                f"{key} must be the (non-empty) name of the key in your file, got {value!r}",
                f'e.g. columns = {{{name} = "your_{name}"}} under [data]',
            )
    for name, value in d.roles.items():
        key = f"data.roles.{name}"
        if value not in ROLES:
            raise ctx.error(
                key,
                f"{key} must be one of {', '.join(repr(r) for r in ROLES)}, got {value!r}",
                f'map your role name to one of syllo\'s, e.g. roles = {{{name} = "assistant"}}',
            )


def _check_combinations(cfg: Config, ctx: Ctx) -> None:
    """Refuse combinations of individually valid values that cannot work together."""
    m, d, t = cfg.monitor, cfg.data, cfg.train
    if m.eval_samples > 0 and d.val_max_examples > 0 and m.eval_samples > d.val_max_examples:
        raise ctx.error(
            "monitor.eval_samples",
            f"monitor.eval_samples ({m.eval_samples}) is more than data.val_max_examples "
            f"({d.val_max_examples}); the eval prompts are drawn from those examples",
            "lower monitor.eval_samples or raise data.val_max_examples (0 = all)",
        )
    if t.warmup_steps > t.max_steps:
        raise ctx.error(
            "train.warmup_steps",
            f"train.warmup_steps ({t.warmup_steps}) is longer than train.max_steps "
            f"({t.max_steps}): the learning rate would never reach train.learning_rate",
            "lower train.warmup_steps or raise train.max_steps",
        )
    if t.device == "cpu" and cfg.model.dtype == "float16":
        raise ctx.error(
            "model.dtype",
            'model.dtype = "float16" with train.device = "cpu": float16 training needs a GPU',
            'use "bfloat16" or "float32" on CPU, or train.device = "cuda"',
        )
    _check_columns_and_roles(d, ctx)
    if d.val and os.path.normpath(d.val) == os.path.normpath(d.train) and not _other_splits(d):
        raise ctx.error(
            "data.val",
            f"data.val is the same file as data.train ({d.train!r}): the validation loss "
            "would measure memorisation",
            'give a separate file, or set val = "" to hold out a seeded split of train',
        )
    for key in d.chat_template_kwargs:
        if key in CHAT_TEMPLATE_KWARGS_OWNED:
            raise ctx.error(
                f"data.chat_template_kwargs.{key}",
                f"data.chat_template_kwargs.{key} is set by syllo itself at each render",
                "remove it (syllo renders the prompt with add_generation_prompt, the full "
                "conversation without, and tokenizes them itself)",
            )
    if d.template == "plain" and (d.chat_template or d.chat_template_kwargs):
        raise ctx.error(
            "data.chat_template",
            'data.chat_template / data.chat_template_kwargs are set but data.template = "plain"',
            'use data.template = "auto" or "chat", or remove them',
        )
    args = cfg.trainer_args
    for key in args:
        if key in TRAINER_ARGS_OWNED:
            raise ctx.error(
                f"trainer_args.{key}",
                f"trainer_args.{key} is set by syllo itself",
                f"{TRAINER_ARGS_OWNED[key]} (and remove it from [trainer_args])",
            )
    if args.get("bf16_full_eval") is True and args.get("fp16_full_eval") is True:
        raise ctx.error(
            "trainer_args.fp16_full_eval",
            "trainer_args.bf16_full_eval and trainer_args.fp16_full_eval are both true",
            "keep at most one of them",
        )
    if "gradient_checkpointing_kwargs" in args and not t.gradient_checkpointing:
        raise ctx.error(
            "trainer_args.gradient_checkpointing_kwargs",
            "trainer_args.gradient_checkpointing_kwargs has no effect: "
            "train.gradient_checkpointing is false",
            "set train.gradient_checkpointing = true, or remove the kwargs",
        )


def build_monitor(settings: dict[str, Any], *, source: str) -> Any:
    """A checked ``[monitor]`` section from keyword settings (SylloCallback, Run): the file's rules."""
    from syllo_train.config.locate import Ctx

    raw = {
        # Placeholders for the required sections; nothing here reads them.
        "model": {"name_or_path": "-"},
        "data": {"train": "-", "val_max_examples": 0},
        "monitor": dict(settings),
    }
    return build(raw, Ctx(source)).monitor
