"""The config's schema: one frozen dataclass per section, each key with its meaning inline.

docs/config.md documents every key with its default (a test keeps the two
in step). ``Config.from_dict`` builds and checks one from plain data.
Stdlib only.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
BestMetric = Literal["val_loss", "accuracy", "none"]


class ConfigError(ValueError):
    """A config the trainer refuses to run. The message says where, what and how to fix it.

    ``key`` is the dotted key at fault (``"train.max_steps"``), or None when the
    problem is the file itself (missing, unreadable, bad TOML).
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


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
    generation_batch_size: int = (
        8  # eval prompts generated together, left-padded (1 = one at a time)
    )
    generation_timeout_s: float = 60.0  # wall-clock limit of one generation; past it = timeout
    eval_timeout_s: float = 0.0  # budget for a whole eval round; the rest is skipped (0 = none)
    eval_budget_pct: float = (
        0.0  # cap on the evals' share of run time, % (0 = none): fewer prompts past it
    )
    stall_grace_s: float = 5.0  # watchdog: a generation past limit + grace is recorded as a stall
    max_new_tokens: int = 256  # token limit of one generation
    match: MatchMode = "exact"  # how an output is compared to the golden answer
    max_text_chars: int = 4000  # cap for texts (prompt, output, …) in events (0 = no cap)
    example_tokens: int = 512  # the log example's token view: at most this many tokens (0 = off)
    spike_mads: float = (
        8.0  # a step loss this many MADs above the running median is a spike (0 = off)
    )
    stop_after_nonfinite: int = (
        0  # stop the run after this many non-finite steps in a row (0 = never)
    )
    best_metric: BestMetric = (
        "val_loss"  # what makes an eval the best so far (its checkpoint is kept)
    )
    overfit_evals: int = 3  # the gap widening at this many evals in a row is overfitting (0 = off)


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
        from syllo_train.config.build import build
        from syllo_train.config.locate import Ctx

        return build(copy.deepcopy(dict(data)), Ctx(source))


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
    "logging_nan_inf_filter": "syllo records raw losses (a NaN is an anomaly event, not hidden)",
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
