"""The run configuration: TOML in, one typed and validated ``Config`` out.

``load_config("run.toml", ["train.max_steps=50"])`` reads the file with tomllib,
applies ``--set section.key=value`` overrides (each typed like the key it
overrides), checks every section, key, type and value, refuses option
combinations that cannot work, and returns frozen dataclasses. Every refusal is
a ``ConfigError`` whose message names the file (and line, where it can be
found) or the ``--set`` it came from, the key, and what to change.

Relative paths in the config (model folder, data files, output folders) are
used as written, i.e. relative to the current working directory of the
process, not to the config file.

Only the standard library is imported here: the CLI validates a config in
milliseconds, before it pays for torch. ``check_trainer_args`` is the one check
that needs transformers, and it imports it lazily.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import re
import tomllib
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

__all__ = [
    "SECTIONS",
    "TRAINER_ARGS_OWNED",
    "Config",
    "ConfigError",
    "DataConfig",
    "LoraConfig",
    "ModelConfig",
    "MonitorConfig",
    "OutputConfig",
    "TrainConfig",
    "check_trainer_args",
    "fingerprint_settings",
    "load_config",
]

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
Template = Literal["auto", "chat", "plain"]
OnBadRecord = Literal["error", "skip"]
TrainOn = Literal["all", "last"]
SystemTurn = Literal["keep", "merge", "drop"]
TooLong = Literal["error", "skip", "truncate"]
#: data.format: the record forms of syllo_train/data/forms.py (FORMS), or "auto".
RecordForm = Literal[
    "auto", "chat", "prompt_completion", "chat_prompt_completion", "sharegpt", "alpaca"
]
LrScheduler = Literal[
    "linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"
]
Device = Literal["auto", "cpu", "cuda"]
MatchMode = Literal["exact", "normalized", "json"]


class ConfigError(ValueError):
    """A config the trainer refuses to run. The message says where, what and how to fix it.

    ``key`` is the dotted key at fault (``"train.max_steps"``), or None when the
    problem is the file itself (missing, unreadable, bad TOML).
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


# --- the schema ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """``[model]``: which model to fine-tune and how to load it."""

    name_or_path: str  # REQUIRED: a local model folder (relative to the cwd) or a hub id
    dtype: Dtype = "auto"  # weights dtype; "auto" = bfloat16 on a GPU that has it, else float32
    trust_remote_code: bool = False  # run modelling code shipped with the checkpoint (hub models)
    revision: str = "main"  # hub branch, tag or commit to load (ignored for local folders)
    attn_implementation: str = ""  # e.g. "eager", "sdpa"; "" = transformers' default


@dataclass(frozen=True, kw_only=True)
class LoraConfig:
    """``[lora]``: train low-rank adapters instead of every weight (needs ``syllo[lora]``)."""

    enabled: bool = False  # false = full fine-tuning of every weight
    r: int = 16  # adapter rank: capacity (and size) of each adapter
    alpha: int = 32  # adapter scaling numerator; the update is scaled by alpha / r
    dropout: float = 0.05  # dropout on the adapter input, in [0, 1)
    target_modules: list[str] | str = "all-linear"  # module names to adapt, or "all-linear"


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """``[data]``: where the examples come from and how they become token sequences."""

    train: str  # REQUIRED: a data file (JSONL, JSON, Parquet, CSV, Arrow), folder or hub id
    val: str = ""  # validation data, the same kinds; "" = hold out a seeded split of train
    val_fraction: float = 0.05  # share of train held out when val is "" (0 < x < 1)
    val_max_examples: int = 256  # cap on validation-loss examples (0 = all): bounds eval time
    split_seed: int = 42  # seed of the train/val split, so the split is the same every run
    max_length: int = 1024  # tokens per example; what a longer one gets is data.too_long
    too_long: TooLong = "error"  # a record over max_length: refused, skipped, or cut from the left
    on_bad_record: OnBadRecord = "error"  # a malformed or template-refused record: stop, or skip
    template: Template = "auto"  # "chat" = a chat template, "plain" = text; auto picks
    chat_template: str = (
        ""  # replaces the tokenizer's: inline Jinja or a .jinja file ("" = its own)
    )
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)  # to every render
    train_on: TrainOn = "all"  # which assistant turns carry the loss: every one, or the last
    system_turn: SystemTurn = "keep"  # "merge" folds system text into the first user turn
    system_prompt: str = (
        ""  # system message before prompt/completion and Alpaca records ("" = none)
    )
    format: RecordForm = "auto"  # the record form; "auto" recognises each record by its keys
    columns: dict[str, Any] = field(default_factory=dict)  # syllo's key name -> the file's
    roles: dict[str, Any] = field(
        default_factory=dict
    )  # a file's role name -> system/user/assistant
    train_split: str = "train"  # split of data.train, for a hub id or a folder with splits
    val_split: str = "validation"  # split of data.val, for a hub id or a folder with splits
    subset: str = ""  # the hub dataset's configuration (load_dataset's name; "" = its default)
    revision: str = "main"  # the hub dataset's branch, tag or commit


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """``[train]``: the optimisation itself and where checkpoints go."""

    output_dir: str = "runs/demo"  # checkpoints (checkpoint-<step>/) and the final model
    max_steps: int = 2000  # optimizer steps to train for (the run's length; can be extended)
    batch_size: int = 8  # examples per device per forward pass
    gradient_accumulation_steps: int = 1  # forward passes per optimizer step
    learning_rate: float = 2e-4  # peak learning rate (after warmup)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_steps: int = 0  # steps of linear warmup from 0 to learning_rate
    lr_scheduler: LrScheduler = "linear"  # learning-rate shape over max_steps
    max_grad_norm: float = 1.0  # gradient clipping threshold (0 = no clipping)
    save_steps: int = 100  # save a checkpoint every this many steps
    save_total_limit: int = 3  # checkpoints kept, oldest deleted first (0 = keep all)
    resume: str = "auto"  # "auto" = newest valid checkpoint in output_dir, "never", or a path
    seed: int = 42  # seeds torch/numpy/python: weight init of adapters, data order, dropout
    device: Device = "auto"  # "auto" = CUDA if available, else CPU
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, slower


@dataclass(frozen=True, kw_only=True)
class MonitorConfig:
    """``[monitor]``: the log tier and the eval tier (what a person watches)."""

    log_steps: int = 10  # log tier cadence: loss, lr, throughput and one trained example
    eval_steps: int = 200  # eval tier cadence: val loss + generations (0 = no periodic eval)
    eval_at_end: bool = True  # run one last eval round when training ends
    eval_samples: int = 4  # fixed prompts generated at every eval (0 = val loss only)
    eval_seed: int = 0  # which val examples become the fixed eval prompts
    eval_batch_size: int = 8  # validation-loss batch size
    generation_timeout_s: float = 60.0  # wall-clock limit of one generation; past it = timeout
    eval_timeout_s: float = 0.0  # budget for a whole eval round; the rest is skipped (0 = none)
    stall_grace_s: float = 5.0  # watchdog: a generation past limit + grace is recorded as a stall
    max_new_tokens: int = 256  # token limit of one generation
    match: MatchMode = "exact"  # how an output is compared to the golden answer
    max_text_chars: int = 4000  # cap for texts (prompt, output, …) in events (0 = no cap)


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """``[output]``: where a person (or a script) watches the run."""

    dir: str = "status"  # events.jsonl, training_status.json and train.log go here


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole run configuration. Build it with ``load_config`` or ``Config.from_dict``.

    Building the dataclasses directly skips validation; ``dataclasses.replace``
    is fine for tests that want one value changed.
    """

    model: ModelConfig
    lora: LoraConfig = field(default_factory=LoraConfig)
    data: DataConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    # Free-form extra TrainingArguments; keys syllo owns are refused (TRAINER_ARGS_OWNED).
    trainer_args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved config as plain data (it goes into the ``run_start`` event)."""
        out: dict[str, Any] = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        out["trainer_args"] = copy.deepcopy(self.trainer_args)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> Config:
        """Build and validate a Config from plain data (e.g. ``to_dict()`` output).

        ``source`` names the origin in error messages.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: a config must be a table, got {type(data).__name__}")
        return _build(copy.deepcopy(dict(data)), _Ctx(source))


#: Section name -> its dataclass, in the order they are documented and serialised.
SECTIONS: dict[str, type[Any]] = {
    "model": ModelConfig,
    "lora": LoraConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "monitor": MonitorConfig,
    "output": OutputConfig,
}

#: TrainingArguments that syllo sets itself -> what to use instead. Passing them
#: through would fight syllo's own setting (or silently lose to it).
TRAINER_ARGS_OWNED: dict[str, str] = {
    "output_dir": "use train.output_dir",
    "max_steps": "use train.max_steps",
    "num_train_epochs": "syllo trains for train.max_steps; set that instead",
    "per_device_train_batch_size": "use train.batch_size",
    "per_device_eval_batch_size": "use monitor.eval_batch_size",
    "gradient_accumulation_steps": "use train.gradient_accumulation_steps",
    "learning_rate": "use train.learning_rate",
    "weight_decay": "use train.weight_decay",
    "warmup_steps": "use train.warmup_steps",
    "lr_scheduler_type": "use train.lr_scheduler",
    "max_grad_norm": "use train.max_grad_norm",
    "save_steps": "use train.save_steps",
    "save_total_limit": "use train.save_total_limit",
    "seed": "use train.seed",
    "logging_steps": "use monitor.log_steps",
    "eval_steps": "use monitor.eval_steps",
    "eval_strategy": "syllo drives evaluation; set monitor.eval_steps (0 = none)",
    "evaluation_strategy": "syllo drives evaluation; set monitor.eval_steps (0 = none)",
    "save_strategy": "syllo drives checkpointing; set train.save_steps",
    "logging_strategy": "syllo drives logging; set monitor.log_steps",
    "use_cpu": 'use train.device = "cpu"',
    "no_cuda": 'use train.device = "cpu"',
    "report_to": "syllo is the reporter: it writes output.dir/events.jsonl",
    "remove_unused_columns": "syllo's data pipeline needs its own columns kept",
    "resume_from_checkpoint": "use train.resume",
    "gradient_checkpointing": "use train.gradient_checkpointing",
    "disable_tqdm": "syllo turns the progress bar off; its progress is train.log and the TUI",
    "bf16": 'use model.dtype = "bfloat16"',
    "fp16": 'use model.dtype = "float16"',
}

#: apply_chat_template arguments that syllo sets at every render; a template
#: kwarg of the same name would collide with them.
CHAT_TEMPLATE_KWARGS_OWNED = frozenset(
    {
        "conversation",
        "messages",
        "add_generation_prompt",
        "continue_final_message",
        "tokenize",
        "return_dict",
        "return_assistant_tokens_mask",
        "return_tensors",
        "chat_template",
        "padding",
        "truncation",
        "max_length",
        "tokenizer_kwargs",
    }
)

#: Spellings people reach for, mapped to the accepted choice (used in hints only).
_CHOICE_ALIASES = {
    "bf16": "bfloat16",
    "fp16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float": "float32",
    "no": "never",
    "none": "never",
    "false": "never",
    "off": "never",
    "gpu": "cuda",
}


# --- errors with a location ---------------------------------------------------------------------


class _Ctx:
    """Where values came from: the file (with a key -> line map) or a ``--set``."""

    def __init__(self, source: str, lines: dict[str, int] | None = None) -> None:
        self.source = source
        self.lines = lines or {}
        self.origins: dict[str, str] = {}  # dotted key -> "--set key=value" that set it

    def where(self, key: str | None) -> str:
        if key is None:
            return self.source
        if key in self.origins:
            return self.origins[key]
        parts = key.split(".")
        for n in range(len(parts), 0, -1):  # the key's own line, else its section's
            line = self.lines.get(".".join(parts[:n]))
            if line is not None:
                return f"{self.source}:{line}"
        return self.source

    def error(self, key: str | None, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: {problem} — {fix}", key=key)


_HEADER_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_\-.\s\"']+?)\s*\]\s*(?:#.*)?$")
_KEYLINE_RE = re.compile(r"^\s*([A-Za-z0-9_\-\"'.\s]+?)\s*=")


def _norm_key(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def _locate_keys(text: str) -> dict[str, int]:
    """Best-effort map of dotted key -> 1-based line, for error messages only.

    tomllib reports positions only for syntax errors, so this light scan of
    table headers and ``key =`` lines finds where a bad value was written. A
    key seen twice maps to its second line under ``"<dup>"`` + key.
    """
    found: dict[str, int] = {}
    table = ""
    in_multiline: str | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if line.lstrip().startswith("[["):  # array of tables: not part of syllo's schema
            table = "\0"
            continue
        header = _HEADER_RE.match(line)
        if header:
            table = _norm_key(header.group(1))
            if table in found:
                found.setdefault("<dup>" + table, lineno)
            found.setdefault(table, lineno)
            continue
        keyline = _KEYLINE_RE.match(line)
        if keyline:
            key = _norm_key(keyline.group(1))
            full = f"{table}.{key}" if table else key
            if full in found:
                found.setdefault("<dup>" + full, lineno)
            found.setdefault(full, lineno)
            rest = line[keyline.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
    return found


def _did_you_mean(word: str, options: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return close[0] if close else None


def _all_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


# --- types --------------------------------------------------------------------------------------

_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    """Resolved field types of a section dataclass (annotations are strings here)."""
    if cls not in _HINTS:
        resolved = get_type_hints(cls)
        _HINTS[cls] = {f.name: resolved[f.name] for f in dataclasses.fields(cls)}
    return _HINTS[cls]


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _describe(hint: Any) -> str:
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(c) for c in get_args(hint))
    if get_origin(hint) is list:
        return "a list of strings"
    if get_origin(hint) is dict:
        return "a table (e.g. {key = value})"
    if _is_union(hint):
        return " or ".join(_describe(arm) for arm in get_args(hint))
    return str(hint)


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


class _Mismatch(Exception):
    pass


def _convert(value: Any, hint: Any) -> Any:
    """Return ``value`` as ``hint`` (int -> float is the only conversion) or raise _Mismatch."""
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)  # bool is an int subclass
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            return float(value)
    elif hint is str:
        ok = isinstance(value, str)
    elif get_origin(hint) is Literal:
        ok = isinstance(value, str)  # membership is a value check, with its own message
    elif get_origin(hint) is list:
        (item,) = get_args(hint)
        if not isinstance(value, list):
            raise _Mismatch
        return [_convert(v, item) for v in value]
    elif get_origin(hint) is dict:
        ok = isinstance(value, dict)
    elif _is_union(hint):
        for arm in get_args(hint):
            try:
                return _convert(value, arm)
            except _Mismatch:
                continue
        ok = False
    else:  # pragma: no cover - a schema field with a type this module does not know
        raise TypeError(f"unsupported config type {hint!r}")
    if not ok:
        raise _Mismatch
    return value


def _toml_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _example(key: str, hint: Any, default: Any, ctx: _Ctx) -> str:
    if default is dataclasses.MISSING:
        default = {"model.name_or_path": "runs/tiny-model", "data.train": "data/train.jsonl"}.get(
            key, "..."
        )
    section, name = key.split(".", 1)
    if ctx.origins.get(key, "").startswith("--set"):
        shown = default if isinstance(default, str) else _toml_repr(default)
        return f"e.g. --set {key}={shown}"
    return f"e.g. {name} = {_toml_repr(default)} under [{section}]"


def _coerce(value: Any, hint: Any, key: str, default: Any, ctx: _Ctx) -> Any:
    """Return ``value`` typed as ``hint``, or raise a ConfigError that says how to write it."""
    try:
        return _convert(value, hint)
    except _Mismatch:
        pass
    problem = f"{key} must be {_describe(hint)}, got {value!r} ({_kind(value)})"
    fix = _example(key, hint, default, ctx)
    from_file = not ctx.origins.get(key, "").startswith("--set")
    if key == "train.resume" and isinstance(value, bool):
        fix = 'use resume = "auto" or resume = "never"'
    elif isinstance(value, bool) and hint in (int, float):
        fix = f"true/false is not a number; {fix}"
    elif isinstance(value, float) and hint is int and value.is_integer():
        fix = f"write it without a decimal point ({fix})"
    elif from_file and isinstance(value, str) and hint in (int, float, bool):
        if _quoted_literal(value, hint):  # "2000" or "true": the quotes are the mistake
            fix = f"remove the quotes ({fix})"
    elif from_file and (hint is str or get_origin(hint) is Literal):
        fix = f"put it in quotes ({fix})"
    raise ctx.error(key, problem, fix)


def _quoted_literal(text: str, hint: Any) -> bool:
    try:
        _convert(tomllib.loads(f"x = {text}")["x"], hint)
    except (tomllib.TOMLDecodeError, RecursionError, _Mismatch):  # RecursionError: issue #9 fuzzing
        return False
    return True


# --- building and checking ----------------------------------------------------------------------


def _default(f: dataclasses.Field[Any]) -> Any:
    """A field's default value (MISSING for a required key)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _build(raw: dict[str, Any], ctx: _Ctx) -> Config:
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


def _unknown_key(full: str, ctx: _Ctx) -> ConfigError:
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
    ("monitor.generation_timeout_s", lambda v: v > 0, "must be > 0", "seconds, e.g. 60"),
    ("monitor.eval_timeout_s", lambda v: v >= 0, "must be >= 0", "0 = no budget for the round"),
    ("monitor.stall_grace_s", lambda v: v >= 0, "must be >= 0", "seconds, e.g. 5"),
    ("monitor.max_new_tokens", lambda v: v >= 1, "must be >= 1", "tokens per generation"),
    (
        "monitor.max_text_chars",
        lambda v: v == 0 or v >= 16,
        "must be 0 or >= 16",
        "0 = no cap; a cap below 16 leaves nothing but the cut marker",
    ),
    ("output.dir", _nonempty, "must not be empty", 'e.g. "status"'),
)


def _check_values(cfg: Config, ctx: _Ctx) -> None:
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


def _other_splits(d: DataConfig) -> bool:
    """data.train and data.val name different splits of one hub dataset or folder."""
    from syllo_train.data.sources import SUFFIXES

    a_file = os.path.isfile(d.train) or os.path.splitext(d.train)[1].lower() in SUFFIXES
    return d.train_split != d.val_split and not a_file


def _check_columns_and_roles(d: DataConfig, ctx: _Ctx) -> None:
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


def _bad_choice(key: str, value: str, choices: tuple[str, ...], ctx: _Ctx) -> ConfigError:
    listed = ", ".join(repr(c) for c in choices)
    guess = _CHOICE_ALIASES.get(value.lower()) or value.lower()
    if guess not in choices:
        guess = _did_you_mean(value, choices) or ""
    fix = f"did you mean {guess!r}?" if guess else f"choose one of {listed}"
    return ctx.error(key, f"{key} must be one of {listed}, got {value!r}", fix)


def _check_combinations(cfg: Config, ctx: _Ctx) -> None:
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


# --- loading ------------------------------------------------------------------------------------


def _parse_override_value(text: str, hint: Any | None) -> Any:
    """Type one ``--set`` value: a TOML value, else a bare string where strings are allowed.

    A value that fits neither is returned as text, and the type check that
    follows reports it against the key's type.
    """
    text = text.strip()
    try:
        parsed = tomllib.loads(f"x = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):  # tomllib recurses per [ or { (issue #9)
        parsed = {}
    ok = list(parsed) == ["x"]  # "1\ny = 2" parses, but is not one value
    value = parsed.get("x")
    if hint is None:  # trainer_args: whatever TOML makes of it, else the text itself
        return value if ok else text
    arms = get_args(hint) if _is_union(hint) else (hint,)
    takes_str = any(arm is str or get_origin(arm) is Literal for arm in arms)
    if takes_str:
        # A TOML string (quoted) or list is taken as such; anything else
        # (runs/x, 2024, true) is the text itself: the key wants a string.
        takes_list = any(get_origin(arm) is list for arm in arms)
        if ok and (isinstance(value, str) or (isinstance(value, list) and takes_list)):
            return value
        return text
    if ok:
        return value
    if hint is float:
        try:  # be kind to spellings TOML does not take, such as ".5"
            return float(text)
        except ValueError:
            pass
    return text


def _apply_overrides(raw: dict[str, Any], overrides: Sequence[str], ctx: _Ctx) -> None:
    for item in overrides:
        where = f"--set {item}"
        if "=" not in item:
            raise ConfigError(
                f"{where}: no '=' in the override — write --set section.key=value, "
                "e.g. --set train.max_steps=50"
            )
        dotted, _, text = item.partition("=")
        dotted = dotted.strip()
        section, dot, key = dotted.partition(".")
        if not dot or not section or not key:
            owner = [k for k in _all_keys() if k.split(".", 1)[1] == dotted]
            hint = f" (did you mean --set {owner[0]}={text}?)" if owner else ""
            raise ConfigError(
                f"{where}: the key needs a section — write section.key=value{hint}", key=dotted
            )
        if section == "trainer_args":
            table = raw.setdefault("trainer_args", {})
            if not isinstance(table, dict):
                raise ctx.error("trainer_args", "trainer_args must be a table", "fix the file")
            table[key] = _parse_override_value(text, None)
            ctx.origins[dotted] = where
            continue
        if section not in SECTIONS:
            sections = [*SECTIONS, "trainer_args"]
            guess = _did_you_mean(section, sections)
            fix = f"did you mean '{guess}'?" if guess else "sections are " + ", ".join(sections)
            raise ConfigError(f"{where}: unknown section '{section}' — {fix}", key=dotted)
        hints = _hints(SECTIONS[section])
        if key not in hints:
            ctx.origins[dotted] = where
            raise _unknown_key(dotted, ctx)
        hint = hints[key]
        if get_origin(hint) is list or _is_union(hint):
            stripped = text.strip()
            if stripped.startswith("[") and not isinstance(
                _parse_override_value(stripped, None), list
            ):
                raise ConfigError(
                    f"{where}: {dotted} looks like a list but is not valid TOML — quote each "
                    f'item, e.g. --set {dotted}=\'["q_proj","v_proj"]\'',
                    key=dotted,
                )
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            raise ctx.error(section, f"{section} must be a table", f"write a [{section}] header")
        table[key] = _parse_override_value(text, hint)
        ctx.origins[dotted] = where


def _toml_error(source: str, text: str, err: tomllib.TOMLDecodeError) -> ConfigError:
    message = str(err)
    pos = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    what = message[: pos.start()] if pos else re.sub(r"\s*\(at end of document\)$", "", message)
    if pos:
        line, col = int(pos.group(1)), int(pos.group(2))
        lines = text.splitlines()
        shown = f" in `{lines[line - 1].strip()}`" if 0 < line <= len(lines) else ""
        if "overwrite" in what:
            fix = "a key or table is defined twice: keep one of them"
        elif what.startswith("Invalid value"):
            fix = 'fix the value: strings need quotes (name = "value"), booleans are true/false'
        else:
            fix = "fix the syntax there"
        return ConfigError(f"{source}:{line}:{col}: invalid TOML: {what}{shown} — {fix}")
    dups = {k[5:]: n for k, n in _locate_keys(text).items() if k.startswith("<dup>")}
    if "overwrite" in what and dups:
        key, line = min(dups.items(), key=lambda kv: kv[1])
        return ConfigError(
            f"{source}:{line}: invalid TOML: '{key}' is defined twice — keep one of them", key=key
        )
    return ConfigError(
        f"{source}: invalid TOML: {what} (at the end of the file) — "
        "look for an unclosed string, bracket or table"
    )


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a TOML config.

    ``overrides`` are ``"section.key=value"`` strings (the CLI's ``--set``),
    applied in order (the last one for a key wins). Each value is typed like
    the key it overrides: a TOML value (``50``, ``1e-4``, ``true``,
    ``["q_proj","v_proj"]``), or a bare string for string keys
    (``train.output_dir=runs/x``). ``trainer_args.<name>=value`` takes any
    TOML value, or a bare string.

    Raises ConfigError naming the file/line or ``--set``, the key, and the fix.
    """
    source = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(
            f"{source}: config file not found (relative paths are resolved from the current "
            f"directory, {os.getcwd()}) — check the path, or start from examples/minimal.toml"
        ) from e
    except IsADirectoryError as e:
        raise ConfigError(f"{source}: is a folder — pass the path of the TOML file itself") from e
    except OSError as e:
        raise ConfigError(
            f"{source}: cannot read the config file ({e.strerror}) — check its permissions"
        ) from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{source}: not UTF-8 text (bad byte at offset {e.start}) — save it as UTF-8"
        ) from e
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _toml_error(source, text, e) from e
    except RecursionError:
        # Issue #9 (found by fuzzing): tomllib recurses once per nested [ or {, so a
        # value nested a thousand deep escaped as a RecursionError.
        raise ConfigError(
            f"{source}: invalid TOML: a value is nested too deeply (arrays or inline tables "
            "inside each other, hundreds of levels) — flatten it"
        ) from None
    ctx = _Ctx(source, _locate_keys(text))
    _apply_overrides(raw, overrides, ctx)
    return _build(raw, ctx)


# --- uses of a loaded config --------------------------------------------------------------------


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
