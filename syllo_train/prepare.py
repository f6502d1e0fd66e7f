"""Everything a run needs before it trains, built by one function that ``run`` and ``validate`` share.

``prepare`` checks and builds, in this order: the trainer arguments' names;
the device; the tokenizer; the data (records, template, tokens, the fixed
validation and eval subsets); the resume plan (a changed dataset or setting
beside old checkpoints is refused); ``TrainingArguments``; the model
weights (``run`` only); and, under several processes, that the eval round
fits the collective timeout and that every rank resumes from the same step.
``validate`` is the same call without the weights: what ``run`` would refuse,
``validate`` refuses with the same message and exit code. What depends on the
machine rather than on the inputs (no CUDA here, a hub model not cached
here) ``run`` refuses and ``validate`` reports, so a GPU config still
validates on a laptop.

Every refusal is an ``InputError``, ``ConfigError``, ``DataError`` or
``ResumeError`` (exit code 2) raised before the first byte of output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syllo_train.checkpoints import Fingerprint, ResumeError, ResumePlan, plan_resume, settings_hash
from syllo_train.config import Config, ConfigError, check_trainer_args, fingerprint_settings
from syllo_train.data import DataError
from syllo_train.data.encode import ENCODING_VERSION, EncodedSet, Encoder, encode_examples
from syllo_train.data.records import (
    data_fingerprint,
    data_specs,
    load_source,
    read_options,
    seeded_subset,
    split_train_val,
)


class InputError(ValueError):
    """Bad user input found before training starts (exit code 2)."""


@dataclass
class PreparedData:
    encoder: Encoder
    train: EncodedSet
    val: EncodedSet
    val_loss_ids: list[int]
    eval_prompt_ids: list[int]
    skipped: list[tuple[str, str]]
    fingerprint: str
    sources: list[dict[str, Any]]  # each source read: type, forms, counts (run_start.data_sources)
    summaries: list[str]  # the same, one line each, for train.log and validate


def check_writable(folder: str | Path, key: str) -> Path:
    """Create ``folder`` and prove it is writable now, not an hour into the run."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".syllo-write-probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            f"{key} = {str(folder)!r}: cannot write there ({exc.strerror}); choose a writable folder"
        ) from None
    return path


class NotHere(InputError):
    """A hub model that is not on this machine (not a folder, not in the cache): a machine fact."""


def load_tokenizer(cfg: Config, *, local_only: bool = False) -> Any:
    """The run's tokenizer; ``local_only``: never reach for the hub (``NotHere`` when not cached)."""
    from transformers import AutoTokenizer

    name = cfg.model.name_or_path
    try:
        tok = AutoTokenizer.from_pretrained(
            name,
            trust_remote_code=cfg.model.trust_remote_code,
            revision=cfg.model.revision,
            local_files_only=local_only,
        )
    except Exception as exc:  # transformers raises OSError/ValueError/HTTP errors here
        message = _model_load_message(cfg, "tokenizer", exc)
        if local_only and not Path(name).exists() and not name.startswith((".", "/", "~")):
            raise NotHere(message) from None
        raise InputError(message) from None
    if tok.pad_token is None:
        # Many causal LMs ship without a pad token; padding is masked anyway.
        tok.pad_token = tok.eos_token
    if tok.eos_token is None:
        raise InputError(
            f"model.name_or_path = {cfg.model.name_or_path!r}: the tokenizer has no EOS token, so generation could not stop"
        )
    return tok


def _model_load_message(cfg: Config, what: str, exc: BaseException) -> str:
    name = cfg.model.name_or_path
    local = Path(name).exists()
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "trust_remote_code" in str(exc) and not cfg.model.trust_remote_code:
        # Say what to do; transformers' own first line only says "contains custom code".
        return (
            f"model.name_or_path = {name!r}: the {what} ships its own Python code, which syllo does not run "
            f"unless told to ({first}). Read that code; if you trust it, set model.trust_remote_code = true"
        )
    if local:
        return f"model.name_or_path = {name!r}: cannot load the {what} from this folder ({first})"
    if os.sep in name and not local and name.startswith((".", "/", "~")):
        return f"model.name_or_path = {name!r}: no such folder; build one with `syllo-train model tiny` or fix the path"
    return (
        f"model.name_or_path = {name!r}: not a local folder, and the {what} could not be fetched from the model hub "
        f"({first}). If this machine is offline, download the model elsewhere and point model.name_or_path at its folder."
    )


def prepare_data(cfg: Config, tokenizer: Any) -> PreparedData:
    """Load, validate, split and tokenize; everything the run needs from the data files."""
    d = cfg.data
    on_bad = d.on_bad_record
    options = read_options(d)
    reports = [load_source(spec, options) for spec in data_specs(d)]
    skipped = [bad for rep in reports for bad in rep.skipped]
    if d.val:
        train_ex, val_ex = reports[0].examples, reports[1].examples
    else:
        train_ex, val_ex = split_train_val(reports[0].examples, d.val_fraction, d.split_seed)
    encoder = Encoder(
        tokenizer,
        template=d.template,
        chat_template=d.chat_template,
        chat_template_kwargs=d.chat_template_kwargs,
        train_on=d.train_on,
        system_turn=d.system_turn,
        too_long=d.too_long,
        max_length=d.max_length,
    )
    # Train first: the facts' first example is the first training one; their counts cover both.
    train, skipped_train = encode_examples(train_ex, encoder, on_bad=on_bad)
    val, skipped_val = encode_examples(val_ex, encoder, on_bad=on_bad)
    skipped += skipped_train + skipped_val
    val_loss_ids = seeded_subset(len(val), d.val_max_examples, d.split_seed)
    eval_prompt_ids = (
        seeded_subset(len(val), cfg.monitor.eval_samples, cfg.monitor.eval_seed)
        if cfg.monitor.eval_samples
        else []
    )
    return PreparedData(
        encoder,
        train,
        val,
        val_loss_ids,
        eval_prompt_ids,
        skipped,
        data_fingerprint([rep.source for rep in reports if rep.source]),
        [rep.describe() for rep in reports],
        [rep.summary() for rep in reports],
    )


def pick_dtype(cfg: Config, use_cuda: bool) -> Any:
    import torch

    name = cfg.model.dtype
    if name == "auto":
        return torch.bfloat16 if use_cuda and torch.cuda.is_bf16_supported() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def load_model(cfg: Config, use_cuda: bool) -> Any:
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {
        "dtype": pick_dtype(cfg, use_cuda),
        "trust_remote_code": cfg.model.trust_remote_code,
        "revision": cfg.model.revision,
    }
    if cfg.model.attn_implementation:
        kwargs["attn_implementation"] = cfg.model.attn_implementation
    try:
        model = AutoModelForCausalLM.from_pretrained(cfg.model.name_or_path, **kwargs)
    except Exception as exc:
        raise InputError(_model_load_message(cfg, "model", exc)) from None
    if cfg.lora.enabled:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:
            raise InputError("lora.enabled = true needs peft: pip install 'syllo[lora]'") from None
        lora = LoraConfig(
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    return model


def training_arguments(cfg: Config, use_cuda: bool) -> Any:
    from transformers import TrainingArguments

    t, m = cfg.train, cfg.monitor
    return TrainingArguments(
        output_dir=t.output_dir,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_steps,
        lr_scheduler_type=t.lr_scheduler,
        max_grad_norm=t.max_grad_norm,
        logging_strategy="steps",
        logging_steps=m.log_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit or None,
        eval_strategy="no",  # syllo's monitor decides when the eval tier runs
        report_to="none",  # syllo is the reporter
        # Raw losses: the filter replaced a NaN/inf loss with the running mean, hiding it
        # (run health reports it instead), and its check synced the device every step.
        logging_nan_inf_filter=False,
        remove_unused_columns=False,  # keeps the collator's host-side idx/n_tokens
        seed=t.seed,
        use_cpu=not use_cuda,
        disable_tqdm=True,
        # transformers 5 renamed gradient_checkpointing; pass it only when asked for.
        **({"activation_checkpointing": True} if t.gradient_checkpointing else {}),
        **cfg.trainer_args,
    )


@dataclass
class Prepared:
    """What ``prepare`` built; ``model`` is None for ``validate``."""

    tokenizer: Any
    data: PreparedData
    plan: ResumePlan
    fingerprint: Fingerprint
    settings: dict[str, Any]
    args: Any  # TrainingArguments
    model: Any = None
    use_cuda: bool = False
    notes: list[str] = field(default_factory=list)  # machine facts validate reports


def check_folders(cfg: Config) -> None:
    """The output folders exist and are writable (before the lock: it lives in them)."""
    check_writable(cfg.output.dir, "output.dir")
    check_writable(cfg.train.output_dir, "train.output_dir")


def run_settings(cfg: Config, encoder: Encoder) -> dict[str, Any]:
    """The settings a checkpoint's fingerprint records: the config's, and the tokenization's."""
    return {
        **fingerprint_settings(cfg),
        "template": encoder.name,
        "encoding": ENCODING_VERSION,  # the tokenization rule (syllo_train/data/encode.py)
        "chat_template_sha": encoder.template_sha,
    }


def prepare(cfg: Config, *, load_weights: bool = True) -> Prepared:
    """Check and build everything a run needs (module docstring); ``load_weights=False`` for validate.

    Without the weights the hub is not reached either: a hub model that is not
    on this machine raises ``NotHere`` (validate reports it and checks the records).
    """
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the human log is the progress display
    notes: list[str] = []
    check_trainer_args(cfg)
    has_cuda = torch.cuda.is_available()
    use_cuda = cfg.train.device == "cuda" or (cfg.train.device == "auto" and has_cuda)
    if cfg.train.device == "cuda" and not has_cuda:
        problem = 'train.device = "cuda" but no CUDA device is available; use "auto" or "cpu"'
        if load_weights:
            raise InputError(problem)
        notes.append(f"device: {problem} (run refuses it on this machine)")
        use_cuda = False
    tokenizer = load_tokenizer(cfg, local_only=not load_weights)
    data = prepare_data(cfg, tokenizer)
    settings = run_settings(cfg, data.encoder)
    fingerprint = Fingerprint(data=data.fingerprint, settings=settings_hash(settings))
    plan = plan_resume(Path(cfg.train.output_dir), cfg.train.resume, fingerprint, settings)
    try:
        args = training_arguments(cfg, use_cuda)
    except (TypeError, ValueError) as exc:
        raise InputError(f"[trainer_args]: TrainingArguments refused them: {exc}") from None
    _check_distributed_budget(cfg, args)
    _check_same_start(cfg, args, plan)
    model = load_model(cfg, use_cuda) if load_weights else None
    return Prepared(tokenizer, data, plan, fingerprint, settings, args, model, use_cuda, notes)


def _check_distributed_budget(cfg: Config, args: Any) -> None:
    if args.world_size <= 1:
        return
    from syllo_train.generation import check_eval_budget

    m = cfg.monitor
    problem = check_eval_budget(
        m.eval_samples,
        m.generation_timeout_s,
        m.eval_timeout_s,
        float(args.ddp_timeout),
        m.stall_grace_s,
        batch_size=m.generation_batch_size,
    )
    if problem:
        raise InputError(problem)


def _check_same_start(cfg: Config, args: Any, plan: ResumePlan) -> None:
    """Every rank must resume from the same step, or the first collective hangs.

    Ranks on other nodes see another ``train.output_dir`` when it is not on
    shared storage; one tiny all-reduce (before training) turns that hang into
    the same clear error on every rank.
    """
    if args.world_size <= 1:
        return
    import torch

    t = torch.tensor([plan.step, -plan.step], dtype=torch.int64, device=args.device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    newest, oldest = int(t[0]), -int(t[1])
    if newest != oldest:
        raise InputError(
            f"train.output_dir = {cfg.train.output_dir!r}: the processes disagree on where to resume "
            f"(step {oldest} on some, step {newest} on others). Every node must see the same folder: "
            "put train.output_dir on storage shared by all nodes."
        )


#: The refusals ``prepare`` raises: each is bad input (exit code 2), nothing written.
REFUSALS: tuple[type[Exception], ...] = (InputError, ConfigError, DataError, ResumeError)


def check_records(cfg: Config) -> list[str]:
    """Without a tokenizer: read every source's records; one summary line each."""
    options = read_options(cfg.data)
    return [load_source(spec, options).summary() for spec in data_specs(cfg.data)]
