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

from syllo_train.config.load import load_config
from syllo_train.config.schema import (
    CHAT_TEMPLATE_KWARGS_OWNED,
    SECTIONS,
    TRAINER_ARGS_OWNED,
    Config,
    ConfigError,
    DataConfig,
    LoraConfig,
    ModelConfig,
    MonitorConfig,
    OutputConfig,
    TrainConfig,
)
from syllo_train.config.uses import check_trainer_args, fingerprint_settings

__all__ = [
    "CHAT_TEMPLATE_KWARGS_OWNED",
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
