"""Config loading: bad configs are refused with a located, actionable message; good ones load typed."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from syllo_train.config import (
    SECTIONS,
    TRAINER_ARGS_OWNED,
    Config,
    ConfigError,
    TrainConfig,
    check_trainer_args,
    fingerprint_settings,
    load_config,
)

ROOT = Path(__file__).resolve().parent.parent

# Four lines: a section added after it starts on line 5, its first key is line 6.
BASE = '[model]\nname_or_path = "m"\n[data]\ntrain = "t.jsonl"\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> Config:
    # Load by relative name so messages read "cfg.toml:6", as a user would see them.
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        _write(tmp_path, text)
        return load_config("cfg.toml", overrides)
    finally:
        os.chdir(old)


# (id, file text, --set overrides, substrings the message must contain, ConfigError.key)
BAD: list[tuple[str, str, tuple[str, ...], list[str], str | None]] = [
    # unknown names, with a did-you-mean
    (
        "unknown-key",
        BASE + "[train]\nmax_step = 5\n",
        (),
        ["cfg.toml:6", "unknown key 'train.max_step'", "did you mean 'train.max_steps'?"],
        "train.max_step",
    ),
    (
        "key-in-wrong-section",
        BASE + "[train]\nlog_steps = 5\n",
        (),
        ["cfg.toml:6", "'train.log_steps'", "did you mean 'monitor.log_steps'?"],
        "train.log_steps",
    ),
    (
        "unknown-section",
        BASE + "[trian]\nmax_steps = 5\n",
        (),
        ["cfg.toml:5", "unknown section [trian]", "did you mean [train]?"],
        "trian",
    ),
    (
        "top-level-key",
        "max_steps = 5\n" + BASE,
        (),
        ["cfg.toml:1", "'max_steps' is not in any section", "'train.max_steps'"],
        "max_steps",
    ),
    (
        "section-not-table",
        "train = 5\n" + BASE,
        (),
        ["cfg.toml:1", "train must be a table", "[train] header"],
        "train",
    ),
    # wrong types
    (
        "quoted-int",
        BASE + '[train]\nmax_steps = "50"\n',
        (),
        ["cfg.toml:6", "train.max_steps must be an integer", "remove the quotes"],
        "train.max_steps",
    ),
    (
        "bool-as-int",
        BASE + "[train]\nbatch_size = true\n",
        (),
        ["cfg.toml:6", "train.batch_size must be an integer", "true/false is not a number"],
        "train.batch_size",
    ),
    (
        "float-as-int",
        BASE + "[train]\nmax_steps = 5.0\n",
        (),
        ["train.max_steps must be an integer", "without a decimal point"],
        "train.max_steps",
    ),
    (
        "bool-as-float",
        BASE + "[monitor]\ngeneration_timeout_s = false\n",
        (),
        ["monitor.generation_timeout_s must be a number", "not a number"],
        "monitor.generation_timeout_s",
    ),
    (
        "string-for-bool",
        BASE + '[lora]\nenabled = "yes"\n',
        (),
        ["cfg.toml:6", "lora.enabled must be true or false", "enabled = false"],
        "lora.enabled",
    ),
    (
        "number-for-str",
        BASE + "[output]\ndir = 5\n",
        (),
        ["output.dir must be a string", "put it in quotes"],
        "output.dir",
    ),
    (
        "list-of-ints",
        BASE + "[lora]\ntarget_modules = [1, 2]\n",
        (),
        ["lora.target_modules must be a list of strings or a string", "all-linear"],
        "lora.target_modules",
    ),
    (
        "bad-choice",
        BASE.replace('"m"\n', '"m"\ndtype = "bf16"\n'),
        (),
        [
            "cfg.toml:3",
            "model.dtype must be one of 'auto', 'float32', 'bfloat16', 'float16'",
            "did you mean 'bfloat16'?",
        ],
        "model.dtype",
    ),
    (
        "bad-scheduler",
        BASE + '[train]\nlr_scheduler = "cosin"\n',
        (),
        ["train.lr_scheduler must be one of", "did you mean 'cosine'?"],
        "train.lr_scheduler",
    ),
    # impossible values
    (
        "max-steps-zero",
        BASE + "[train]\nmax_steps = 0\n",
        (),
        ["cfg.toml:6", "train.max_steps must be >= 1, got 0", "optimizer steps"],
        "train.max_steps",
    ),
    (
        "batch-size-zero",
        BASE + "[train]\nbatch_size = 0\n",
        (),
        ["train.batch_size must be >= 1"],
        "train.batch_size",
    ),
    (
        "negative-lr",
        BASE + "[train]\nlearning_rate = -1e-4\n",
        (),
        ["train.learning_rate must be >= 0", "2e-4"],
        "train.learning_rate",
    ),
    (
        "lr-exponent-sign",
        BASE + "[train]\nlearning_rate = 2e4\n",
        (),
        ["train.learning_rate must be <= 1", "exponent"],
        "train.learning_rate",
    ),
    (
        "log-steps-zero",
        BASE + "[monitor]\nlog_steps = 0\n",
        (),
        ["monitor.log_steps must be >= 1"],
        "monitor.log_steps",
    ),
    (
        "negative-eval-samples",
        BASE + "[monitor]\neval_samples = -1\n",
        (),
        ["monitor.eval_samples must be >= 0"],
        "monitor.eval_samples",
    ),
    (
        "zero-timeout",
        BASE + "[monitor]\ngeneration_timeout_s = 0\n",
        (),
        ["monitor.generation_timeout_s must be > 0", "seconds"],
        "monitor.generation_timeout_s",
    ),
    (
        "infinite-timeout",
        BASE + "[monitor]\ngeneration_timeout_s = inf\n",
        (),
        ["monitor.generation_timeout_s must be a finite number", "inf and nan"],
        "monitor.generation_timeout_s",
    ),
    (
        "negative-round-budget",
        BASE + "[monitor]\neval_timeout_s = -1\n",
        (),
        ["monitor.eval_timeout_s must be >= 0", "0 = no budget"],
        "monitor.eval_timeout_s",
    ),
    (
        "zero-generation-batch",
        BASE + "[monitor]\ngeneration_batch_size = 0\n",
        (),
        ["cfg.toml:6", "monitor.generation_batch_size must be >= 1", "1 = one at a time"],
        "monitor.generation_batch_size",
    ),
    (
        "eval-budget-of-everything",
        BASE + "[monitor]\neval_budget_pct = 100\n",
        (),
        ["cfg.toml:6", "monitor.eval_budget_pct must be in [0, 100)", "0 = no eval budget"],
        "monitor.eval_budget_pct",
    ),
    (
        "negative-eval-budget",
        BASE,
        ("monitor.eval_budget_pct=-5",),
        ["--set monitor.eval_budget_pct=-5", "must be in [0, 100)"],
        "monitor.eval_budget_pct",
    ),
    (
        "short-max-length",
        BASE.replace('"t.jsonl"\n', '"t.jsonl"\nmax_length = 4\n'),
        (),
        ["cfg.toml:5", "data.max_length must be >= 8", "1024"],
        "data.max_length",
    ),
    (
        "val-fraction-one",
        BASE + "val_fraction = 1.0\n",
        (),
        ["data.val_fraction must be between 0 and 1"],
        "data.val_fraction",
    ),
    (
        "val-fraction-zero",
        BASE + "val_fraction = 0\n",
        (),
        ["data.val_fraction must be between 0 and 1", "0.05"],
        "data.val_fraction",
    ),
    (
        "negative-save-limit",
        BASE + "[train]\nsave_total_limit = -1\n",
        (),
        ["train.save_total_limit must be >= 0", "0 = keep every"],
        "train.save_total_limit",
    ),
    (
        "negative-seed",
        BASE + "[train]\nseed = -3\n",
        (),
        ["train.seed must be in [0, 2**32)"],
        "train.seed",
    ),
    (
        "tiny-text-cap",
        BASE + "[monitor]\nmax_text_chars = 5\n",
        (),
        ["monitor.max_text_chars must be 0 or >= 16", "0 = no cap"],
        "monitor.max_text_chars",
    ),
    (
        "empty-name",
        BASE.replace('"m"', '""'),
        (),
        ["cfg.toml:2", "model.name_or_path must not be empty", "hub id"],
        "model.name_or_path",
    ),
    # missing required keys
    (
        "missing-model",
        '[data]\ntrain = "t.jsonl"\n',
        (),
        [
            "missing required key 'model.name_or_path'",
            'name_or_path = "runs/tiny-model" under [model]',
        ],
        "model",
    ),
    (
        "missing-train-data",
        '[model]\nname_or_path = "m"\n[data]\nval = "v.jsonl"\n',
        (),
        ["cfg.toml:3", "missing required key 'data.train'", "train ="],
        "data",
    ),
    # TOML syntax
    (
        "toml-unquoted-string",
        BASE + "[train]\noutput_dir = runs/x\n",
        (),
        ["cfg.toml:6:14", "invalid TOML", "output_dir = runs/x", "strings need quotes"],
        None,
    ),
    (
        "toml-duplicate-key",
        BASE + "[train]\nmax_steps = 5\nmax_steps = 6\n",
        (),
        ["cfg.toml:7", "invalid TOML", "defined twice"],
        None,
    ),
    (
        "toml-unclosed-string",
        BASE + '[train]\noutput_dir = "runs/x\n',
        (),
        ["cfg.toml:6", "invalid TOML"],
        None,
    ),
    # combinations
    (
        "eval-samples-over-cap",
        BASE + "val_max_examples = 3\n[monitor]\neval_samples = 4\n",
        (),
        [
            "cfg.toml:7",
            "monitor.eval_samples (4) is more than data.val_max_examples (3)",
            "lower monitor.eval_samples",
        ],
        "monitor.eval_samples",
    ),
    (
        "lora-rank-zero",
        BASE + "[lora]\nenabled = true\nr = 0\n",
        (),
        ["cfg.toml:7", "lora.r must be >= 1", "rank"],
        "lora.r",
    ),
    (
        "warmup-past-end",
        BASE + "[train]\nmax_steps = 10\nwarmup_steps = 20\n",
        (),
        ["train.warmup_steps (20) is longer than train.max_steps (10)", "lower train.warmup_steps"],
        "train.warmup_steps",
    ),
    (
        "fp16-on-cpu",
        BASE.replace('"m"\n', '"m"\ndtype = "float16"\n') + '[train]\ndevice = "cpu"\n',
        (),
        ["cfg.toml:3", "float16 training needs a GPU", '"bfloat16"'],
        "model.dtype",
    ),
    (
        "val-is-train",
        BASE + 'val = "./t.jsonl"\n',
        (),
        ["data.val is the same file as data.train", 'val = ""'],
        "data.val",
    ),
    (
        "resume-none",
        BASE + '[train]\nresume = "none"\n',
        (),
        ["read as a checkpoint path", 'did you mean "never"?'],
        "train.resume",
    ),
    (
        "resume-bool",
        BASE + "[train]\nresume = false\n",
        (),
        ["train.resume must be a string", 'resume = "never"'],
        "train.resume",
    ),
    (
        "both-half-evals",
        BASE + "[trainer_args]\nbf16_full_eval = true\nfp16_full_eval = true\n",
        (),
        ["bf16_full_eval and trainer_args.fp16_full_eval are both true", "keep at most one"],
        "trainer_args.fp16_full_eval",
    ),
    (
        "ckpt-kwargs-without-ckpt",
        BASE + "[trainer_args]\ngradient_checkpointing_kwargs = { use_reentrant = false }\n",
        (),
        ["has no effect", "train.gradient_checkpointing = true"],
        "trainer_args.gradient_checkpointing_kwargs",
    ),
    # [trainer_args] keys syllo owns
    (
        "owned-learning-rate",
        BASE + "[trainer_args]\nlearning_rate = 0.1\n",
        (),
        ["cfg.toml:6", "trainer_args.learning_rate is set by syllo", "use train.learning_rate"],
        "trainer_args.learning_rate",
    ),
    (
        "owned-report-to",
        BASE + '[trainer_args]\nreport_to = "wandb"\n',
        (),
        ["trainer_args.report_to", "syllo is the reporter"],
        "trainer_args.report_to",
    ),
    (
        "owned-bf16",
        BASE + "[trainer_args]\nbf16 = true\n",
        (),
        ["trainer_args.bf16", 'model.dtype = "bfloat16"'],
        "trainer_args.bf16",
    ),
    (
        "owned-eval-strategy",
        BASE + '[trainer_args]\neval_strategy = "steps"\n',
        (),
        ["syllo drives evaluation", "monitor.eval_steps"],
        "trainer_args.eval_strategy",
    ),
    # --set
    (
        "set-unknown-key",
        BASE,
        ("train.max_step=5",),
        [
            "--set train.max_step=5",
            "unknown key 'train.max_step'",
            "did you mean 'train.max_steps'?",
        ],
        "train.max_step",
    ),
    (
        "set-unknown-section",
        BASE,
        ("trian.max_steps=5",),
        ["--set trian.max_steps=5", "did you mean 'train'?"],
        "trian.max_steps",
    ),
    (
        "set-wrong-type",
        BASE,
        ("train.max_steps=abc",),
        [
            "--set train.max_steps=abc",
            "train.max_steps must be an integer, got 'abc'",
            "e.g. --set train.max_steps=2000",
        ],
        "train.max_steps",
    ),
    (
        "set-bool-as-int",
        BASE,
        ("train.max_steps=true",),
        ["--set train.max_steps=true", "true/false is not a number"],
        "train.max_steps",
    ),
    (
        "set-bad-bool",
        BASE,
        ("lora.enabled=yes",),
        ["--set lora.enabled=yes", "true or false", "--set lora.enabled=false"],
        "lora.enabled",
    ),
    (
        "set-bad-value",
        BASE,
        ("train.batch_size=0",),
        ["--set train.batch_size=0", "train.batch_size must be >= 1"],
        "train.batch_size",
    ),
    (
        "set-no-equals",
        BASE,
        ("train.max_steps",),
        ["--set train.max_steps", "no '='", "section.key=value"],
        None,
    ),
    (
        "set-no-section",
        BASE,
        ("max_steps=5",),
        ["--set max_steps=5", "needs a section", "--set train.max_steps=5"],
        "max_steps",
    ),
    ("set-empty-key", BASE, ("=5",), ["--set =5", "needs a section"], ""),
    (
        "set-bad-list",
        BASE,
        ("lora.target_modules=[q_proj,v_proj]",),
        ["not valid TOML", '["q_proj","v_proj"]'],
        "lora.target_modules",
    ),
    (
        "set-bad-choice",
        BASE,
        ("model.dtype=fp16",),
        ["--set model.dtype=fp16", "did you mean 'float16'?"],
        "model.dtype",
    ),
    (
        "set-owned-trainer-arg",
        BASE,
        ("trainer_args.seed=3",),
        ["--set trainer_args.seed=3", "use train.seed"],
        "trainer_args.seed",
    ),
    (
        "set-combination",
        BASE,
        ("train.device=cpu", "model.dtype=float16"),
        ["--set model.dtype=float16", "needs a GPU"],
        "model.dtype",
    ),
]


@pytest.mark.parametrize(
    ("text", "overrides", "needles", "key"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_config_is_refused_with_location_and_fix(
    tmp_path: Path, text: str, overrides: tuple[str, ...], needles: list[str], key: str | None
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text, overrides)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    # Every message is "<where>: <problem> — <what to do>".
    assert re.match(r"^(cfg\.toml|--set )", message), message
    problem, sep, fix = message.partition(" — ")
    assert sep and problem and fix.strip(), message
    assert info.value.key == key
    assert isinstance(info.value, ValueError)


def test_missing_file_names_path_and_cwd(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_config(missing)
    assert str(missing) in str(info.value)
    assert os.getcwd() in str(info.value)  # relative paths resolve from here: say so


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "cfg.toml"
    path.write_bytes(BASE.encode() + b'[data]\nsystem_prompt = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE)
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match="cannot read"):
            load_config(path)
    finally:
        path.chmod(0o644)


def test_defaults_are_filled(tmp_path: Path) -> None:
    cfg = _load(tmp_path, BASE)
    assert cfg.model.name_or_path == "m"
    assert cfg.data.train == "t.jsonl"
    for name, cls in SECTIONS.items():
        section = getattr(cfg, name)
        assert isinstance(section, cls)
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                assert getattr(section, f.name) == f.default, f"{name}.{f.name}"
    assert cfg.trainer_args == {}
    # The defaults DESIGN.md promises.
    assert (cfg.train.max_steps, cfg.train.batch_size, cfg.train.resume) == (2000, 8, "auto")
    assert (cfg.monitor.log_steps, cfg.monitor.eval_steps, cfg.monitor.eval_samples) == (10, 200, 4)
    assert cfg.monitor.generation_timeout_s == 60.0 and isinstance(
        cfg.monitor.generation_timeout_s, float
    )
    assert (cfg.monitor.match, cfg.output.dir) == ("exact", "status")


def test_example_config_loads() -> None:
    cfg = load_config(ROOT / "examples" / "minimal.toml")
    assert cfg.model.name_or_path and cfg.data.train


def test_file_values_are_typed(tmp_path: Path) -> None:
    text = BASE + (
        "[train]\nlearning_rate = 1\nmax_steps = 7\n"
        '[lora]\nenabled = true\ntarget_modules = ["q_proj", "v_proj"]\n'
        '[trainer_args]\noptim = "adamw_torch"\nlr_scheduler_kwargs = { power = 2.0 }\n'
    )
    cfg = _load(tmp_path, text)
    assert cfg.train.learning_rate == 1.0 and isinstance(cfg.train.learning_rate, float)
    assert cfg.train.max_steps == 7
    assert cfg.lora.enabled is True and cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.trainer_args == {"optim": "adamw_torch", "lr_scheduler_kwargs": {"power": 2.0}}


def test_dotted_and_inline_tables(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        'model = { name_or_path = "m", dtype = "bfloat16" }\ndata.train = "t.jsonl"\ntrain.max_steps = 3\n',
    )
    assert (cfg.model.dtype, cfg.data.train, cfg.train.max_steps) == ("bfloat16", "t.jsonl", 3)
    with pytest.raises(ConfigError, match=r"^cfg\.toml:3: train\.max_steps must be >= 1"):
        _load(tmp_path, 'model.name_or_path = "m"\ndata.train = "t.jsonl"\ntrain.max_steps = 0\n')


SETS = [
    ("train.max_steps=50", "train.max_steps", 50),
    ("train.learning_rate=1e-4", "train.learning_rate", 1e-4),
    ("monitor.generation_timeout_s=5", "monitor.generation_timeout_s", 5.0),  # int for a float key
    ("monitor.stall_grace_s=.5", "monitor.stall_grace_s", 0.5),  # not TOML, still a number
    ("lora.enabled=true", "lora.enabled", True),
    ("monitor.eval_at_end=false", "monitor.eval_at_end", False),
    ("train.output_dir=runs/x", "train.output_dir", "runs/x"),  # bare string
    ("model.revision=2024", "model.revision", "2024"),  # a str key keeps the text
    ('data.system_prompt="Be terse. = ok"', "data.system_prompt", "Be terse. = ok"),
    ("data.val=", "data.val", ""),
    ("model.dtype=bfloat16", "model.dtype", "bfloat16"),
    ('lora.target_modules=["q_proj","v_proj"]', "lora.target_modules", ["q_proj", "v_proj"]),
    ("lora.target_modules=q_proj", "lora.target_modules", "q_proj"),
    ("trainer_args.dataloader_num_workers=2", "trainer_args.dataloader_num_workers", 2),
    ("trainer_args.optim=adamw_torch", "trainer_args.optim", "adamw_torch"),
    ("trainer_args.torch_compile=true", "trainer_args.torch_compile", True),
]


@pytest.mark.parametrize(("override", "key", "expected"), SETS, ids=[s[0] for s in SETS])
def test_set_is_typed_like_its_key(tmp_path: Path, override: str, key: str, expected: Any) -> None:
    cfg = _load(tmp_path, BASE, (override,))
    section, name = key.split(".")
    value = (
        cfg.trainer_args[name]
        if section == "trainer_args"
        else getattr(getattr(cfg, section), name)
    )
    assert value == expected
    assert type(value) is type(expected)


def test_set_beats_file_and_last_set_wins(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path, BASE + "[train]\nmax_steps = 5\n", ("train.max_steps=6", "train.max_steps=7")
    )
    assert cfg.train.max_steps == 7
    # A --set can fix a bad file value: validation runs on the result.
    cfg = _load(tmp_path, BASE + "[train]\nmax_steps = 0\n", ("train.max_steps=1",))
    assert cfg.train.max_steps == 1


def test_to_dict_from_dict_round_trip(tmp_path: Path) -> None:
    text = BASE + (
        '[lora]\nenabled = true\ntarget_modules = ["q_proj"]\n'
        '[monitor]\neval_steps = 0\nmatch = "json"\n'
        "[trainer_args]\ndataloader_num_workers = 1\nlr_scheduler_kwargs = { power = 2.0 }\n"
    )
    cfg = _load(tmp_path, text, ("train.max_steps=9",))
    d = cfg.to_dict()
    assert list(d) == [*SECTIONS, "trainer_args"]
    for name, cls in SECTIONS.items():
        assert set(d[name]) == {f.name for f in dataclasses.fields(cls)}
    assert d["train"]["max_steps"] == 9 and d["lora"]["target_modules"] == ["q_proj"]
    assert json.loads(json.dumps(d)) == d  # plain data: goes into run_start as is
    again = Config.from_dict(d)
    assert again == cfg
    assert again.to_dict() == d
    # to_dict hands out a copy: editing it leaves the config alone.
    d["trainer_args"]["lr_scheduler_kwargs"]["power"] = 3.0
    d["lora"]["target_modules"].append("v_proj")
    assert cfg.trainer_args["lr_scheduler_kwargs"]["power"] == 2.0
    assert cfg.lora.target_modules == ["q_proj"]


def test_from_dict_validates() -> None:
    good = {"model": {"name_or_path": "m"}, "data": {"train": "t.jsonl"}}
    assert Config.from_dict(good).train == TrainConfig()
    with pytest.raises(ConfigError, match=r"^<dict>: train\.max_steps must be >= 1") as info:
        Config.from_dict({**good, "train": {"max_steps": 0}})
    assert info.value.key == "train.max_steps"
    with pytest.raises(ConfigError, match=r"did you mean 'train\.max_steps'"):
        Config.from_dict({**good, "train": {"max_step": 5}})


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = _load(tmp_path, BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.max_steps = 5  # type: ignore[misc]
    assert dataclasses.replace(cfg.train, max_steps=5).max_steps == 5


def test_fingerprint_settings(tmp_path: Path) -> None:
    base = fingerprint_settings(_load(tmp_path, BASE))
    json.dumps(base)  # stored in the checkpoint marker
    assert "train.max_steps" not in base
    # Extending a run, or changing only what is watched, keeps the fingerprint.
    for same in (
        "train.max_steps=9000",
        "monitor.eval_steps=5",
        "output.dir=elsewhere",
        "lora.r=4",
    ):
        assert fingerprint_settings(_load(tmp_path, BASE, (same,))) == base, same
    # Settings that change what is computed change it.
    for different in (
        "train.learning_rate=1e-3",
        "train.seed=1",
        "train.batch_size=2",
        "model.dtype=float32",
        "data.max_length=64",
        "data.split_seed=7",
        "lora.enabled=true",
    ):
        assert fingerprint_settings(_load(tmp_path, BASE, (different,))) != base, different
    lora = fingerprint_settings(_load(tmp_path, BASE, ("lora.enabled=true",)))
    assert fingerprint_settings(_load(tmp_path, BASE, ("lora.enabled=true", "lora.r=4"))) != lora
    # With an explicit val file, the split settings do not matter.
    with_val = fingerprint_settings(_load(tmp_path, BASE, ("data.val=v.jsonl",)))
    assert (
        fingerprint_settings(_load(tmp_path, BASE, ("data.val=v.jsonl", "data.split_seed=7")))
        == with_val
    )


def test_check_trainer_args_against_real_transformers(tmp_path: Path) -> None:
    check_trainer_args(_load(tmp_path, BASE + "[trainer_args]\ndataloader_num_workers = 2\n"))
    check_trainer_args(_load(tmp_path, BASE))
    cfg = _load(tmp_path, BASE + "[trainer_args]\ndataloader_num_worker = 2\n")
    with pytest.raises(ConfigError) as info:
        check_trainer_args(cfg, "cfg.toml")
    message = str(info.value)
    assert message.startswith("cfg.toml: trainer_args.dataloader_num_worker is not a field")
    assert "did you mean 'trainer_args.dataloader_num_workers'?" in message
    assert info.value.key == "trainer_args.dataloader_num_worker"


def test_owned_trainer_args_are_real_training_arguments() -> None:
    # Guards the refusal list against typos: each entry names a real field
    # (or a field older transformers had and users still write).
    import transformers

    real = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
    legacy = {"evaluation_strategy", "no_cuda"}
    assert set(TRAINER_ARGS_OWNED) - legacy <= real


def test_import_does_not_pull_in_torch_or_transformers() -> None:
    code = (
        "import sys, syllo_train.config\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == ""


def _doc_tables() -> dict[str, dict[str, list[str]]]:
    """Parse docs/config.md: section -> key -> [type, default, purpose] cells."""
    tables: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in (ROOT / "docs" / "config.md").read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## `\[(\w+)\]`", line)
        if heading:
            section = heading.group(1)
            tables[section] = {}
        elif line.startswith("## "):
            section = None
        elif section and line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            tables[section][cells[0].strip("`")] = cells[1:]
    return tables


def test_docs_cover_every_field_with_its_default() -> None:
    tables = _doc_tables()
    for name, cls in SECTIONS.items():
        assert name in tables, f"docs/config.md has no table for [{name}]"
        documented = tables[name]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        assert set(documented) == set(fields), f"[{name}] docs and code differ"
        for key, f in fields.items():
            _type, default_cell, purpose = documented[key]
            assert purpose, f"{name}.{key} has no description"
            factory = f.default_factory
            default = factory() if factory is not dataclasses.MISSING else f.default
            if default is dataclasses.MISSING:
                assert default_cell == "**required**", f"{name}.{key} is required"
            else:
                shown = tomllib.loads("x = " + default_cell.strip("`"))["x"]
                assert shown == default, f"{name}.{key}: docs say {default_cell}, code {default!r}"


def test_docs_list_every_owned_trainer_arg() -> None:
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    section = text.split("## `[trainer_args]`", 1)[1].split("\n## ", 1)[0]
    for key in TRAINER_ARGS_OWNED:
        assert f"`{key}`" in section, key


def test_data_columns_and_roles_are_checked_with_their_key(tmp_path: Path) -> None:
    ok = _load(
        tmp_path,
        BASE + 'columns = {instruction = "question"}\nroles = {bot = "assistant"}\n',
    )
    assert ok.data.columns == {"instruction": "question"} and ok.data.roles == {"bot": "assistant"}
    for text, needles in (
        (
            'columns = {instrution = "q"}',
            ["data.columns.instrution", "did you mean 'instruction'?"],
        ),
        ("columns = {output = 3}", ["data.columns.output must be the (non-empty) name"]),
        (
            'roles = {bot = "robot"}',
            ["data.roles.bot must be one of 'system', 'user', 'assistant'"],
        ),
        ('format = "sharegtp"', ["data.format must be one of", "did you mean 'sharegpt'?"]),
    ):
        with pytest.raises(ConfigError) as err:
            _load(tmp_path, BASE + text + "\n")
        for needle in needles:
            assert needle in str(err.value), (text, str(err.value))


def test_val_may_be_another_split_of_the_same_hub_id_not_of_the_same_file(tmp_path: Path) -> None:
    hub = '[model]\nname_or_path = "m"\n[data]\ntrain = "org/ds"\nval = "org/ds"\n'
    assert _load(tmp_path, hub + 'val_split = "test"\n').data.val_split == "test"
    with pytest.raises(ConfigError, match=r"data\.val is the same file as data\.train"):
        _load(tmp_path, hub + 'val_split = "train"\n')
    with pytest.raises(ConfigError, match=r"data\.val is the same file as data\.train"):
        _load(tmp_path, BASE + 'val = "t.jsonl"\nval_split = "test"\n')


def test_record_keys_join_the_fingerprint_only_when_set(tmp_path: Path) -> None:
    base = fingerprint_settings(_load(tmp_path, BASE))
    assert not any(k in base for k in ("data.format", "data.columns", "data.roles"))
    changed = fingerprint_settings(_load(tmp_path, BASE + 'format = "alpaca"\n'))
    assert changed["data.format"] == "alpaca" and changed != base


def test_a_bad_eval_key_exits_2_naming_its_line(tmp_path: Path) -> None:
    """The real CLI: a new monitor key's bad value is refused before anything runs."""
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(BASE + "[monitor]\ngeneration_batch_size = 0\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "syllo_train", "validate", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's syllo_train
    )
    assert proc.returncode == 2, proc.stderr
    assert "cfg.toml:6" in proc.stderr and "monitor.generation_batch_size" in proc.stderr
