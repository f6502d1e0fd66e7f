"""``syllo-train run``: one training run, top to bottom in the order it happens.

Everything that can be wrong with the user's input (config, data, model
path, resume folder) is checked *before* the first byte of output is
written, so bad input exits with code 2 and loses nothing. From ``run_start``
on, any failure is recorded as an ``error`` event plus ``run_end`` failed and
the exit code is 1. A first SIGINT/SIGTERM finishes the current step, saves a
checkpoint and ends ``stopped`` with exit code 0; a second one exits at once.
Exit code 3: the output folder is in use by another live trainer (lock.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

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
from syllo_train.events import Counters
from syllo_train.humanlog import inert

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


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


def load_tokenizer(cfg: Config) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            cfg.model.name_or_path,
            trust_remote_code=cfg.model.trust_remote_code,
            revision=cfg.model.revision,
        )
    except Exception as exc:  # transformers raises OSError/ValueError/HTTP errors here
        raise InputError(_model_load_message(cfg, "tokenizer", exc)) from None
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
        # Issue #9: say what to do; transformers' own first line only says "contains custom code".
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
        remove_unused_columns=False,  # keeps the collator's host-side idx/n_tokens
        seed=t.seed,
        use_cpu=not use_cuda,
        disable_tqdm=True,
        # transformers 5 renamed gradient_checkpointing; pass it only when asked for.
        **({"activation_checkpointing": True} if t.gradient_checkpointing else {}),
        **cfg.trainer_args,
    )


def _versions() -> dict[str, str]:
    import platform

    import torch
    import transformers

    from syllo_train import __version__

    return {
        "syllo": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def _param_counts(model: Any) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


class _StopSignals:
    """First SIGINT/SIGTERM: stop after this step, saved. Second: exit at once."""

    def __init__(self, on_first: Any, on_second: Any) -> None:
        self.count = 0
        self.on_first, self.on_second = on_first, on_second
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading_main():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.on_first(name)
        else:
            self.on_second(name, signum)


def threading_main() -> bool:
    return threading.current_thread() is threading.main_thread()


def run(cfg: Config, *, echo: TextIO | None = sys.stdout, config_path: str | None = None) -> int:
    """Run training as configured; returns the process exit code."""
    # Issue #8 hook: one trainer per output folder (syllo_train/lock.py), refused before any work;
    # under a supervisor this adopts the lock it lends (SYLLO_LOCK).
    from syllo_train.lock import LockError, RunLock

    try:
        # Before the lock creates them: an unusable folder is refused naming its key.
        check_writable(cfg.output.dir, "output.dir")
        check_writable(cfg.train.output_dir, "train.output_dir")
    except InputError as exc:
        print(f"syllo-train: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        lock = RunLock.for_run(cfg, config_path=config_path)
    except LockError as exc:
        print(f"syllo-train: error: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        return _run_locked(cfg, echo=echo)
    finally:
        lock.release()


def _run_locked(cfg: Config, *, echo: TextIO | None) -> int:
    t_start = time.time()
    try:
        prepared = _prepare(cfg)
    except (InputError, ConfigError, DataError, ResumeError) as exc:
        print(f"syllo-train: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return _train(cfg, prepared, echo=echo, t_start=t_start)


@dataclass
class _Prepared:
    tokenizer: Any
    data: PreparedData
    plan: ResumePlan
    fingerprint: Fingerprint
    settings: dict[str, Any]
    model: Any
    args: Any


def _prepare(cfg: Config) -> _Prepared:
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the human log is the progress display

    check_trainer_args(cfg)  # the output folders were checked before the lock was taken
    use_cuda = cfg.train.device == "cuda" or (
        cfg.train.device == "auto" and torch.cuda.is_available()
    )
    if cfg.train.device == "cuda" and not torch.cuda.is_available():
        raise InputError(
            'train.device = "cuda" but no CUDA device is available; use "auto" or "cpu"'
        )
    tokenizer = load_tokenizer(cfg)
    data = prepare_data(cfg, tokenizer)
    settings = {
        **fingerprint_settings(cfg),
        "template": data.encoder.name,
        "encoding": ENCODING_VERSION,  # the tokenization rule (syllo_train/data/encode.py)
        "chat_template_sha": data.encoder.template_sha,
    }
    fingerprint = Fingerprint(data=data.fingerprint, settings=settings_hash(settings))
    plan = plan_resume(Path(cfg.train.output_dir), cfg.train.resume, fingerprint, settings)
    model = load_model(cfg, use_cuda)
    try:
        args = training_arguments(cfg, use_cuda)
    except (TypeError, ValueError) as exc:
        raise InputError(f"[trainer_args]: TrainingArguments refused them: {exc}") from None
    _check_distributed_budget(cfg, args)
    _check_same_start(cfg, args, plan)  # issue #7
    return _Prepared(tokenizer, data, plan, fingerprint, settings, model, args)


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
    )
    if problem:
        raise InputError(problem)


def _check_same_start(cfg: Config, args: Any, plan: ResumePlan) -> None:
    """Issue #7: every rank must resume from the same step, or the first collective hangs.

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


def _distributed_info(cfg: Config, args: Any) -> dict[str, Any] | None:
    """Issue #7: run_start's optional ``distributed`` object (docs/events.md); None on one process."""
    if args.world_size <= 1:
        return None
    import torch

    env = os.environ
    world = int(args.world_size)
    local = int(env.get("LOCAL_WORLD_SIZE", world))
    if "TORCHELASTIC_RUN_ID" in env:
        # accelerate launch runs torchrun underneath; its own variables tell it apart.
        launcher = "accelerate" if "ACCELERATE_MIXED_PRECISION" in env else "torchrun"
    else:
        launcher = "env"  # MPI, srun, or a hand-set MASTER_ADDR/RANK/WORLD_SIZE
    use_fsdp = bool(args.fsdp) or env.get("ACCELERATE_USE_FSDP", "").lower() == "true"
    use_ds = bool(args.deepspeed) or env.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    return {
        "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "world_size": world,
        "local_world_size": local,
        "nnodes": int(env.get("GROUP_WORLD_SIZE", max(1, world // max(1, local)))),
        "launcher": launcher,
        "master_addr": env.get("MASTER_ADDR"),
        "master_port": int(env["MASTER_PORT"]) if env.get("MASTER_PORT", "").isdigit() else None,
        "restart_count": int(env.get("TORCHELASTIC_RESTART_COUNT", 0)),
        "max_restarts": int(env.get("TORCHELASTIC_MAX_RESTARTS", 0)),
        "ddp_timeout": int(args.ddp_timeout),
        "ddp_find_unused_parameters": args.ddp_find_unused_parameters,
        "sharding": "fsdp" if use_fsdp else "deepspeed" if use_ds else None,
        "global_batch_size": cfg.train.batch_size * cfg.train.gradient_accumulation_steps * world,
    }


def _train(cfg: Config, p: _Prepared, *, echo: TextIO | None, t_start: float) -> int:
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    from syllo_train.data.batches import PadCollator, TokenDataset
    from syllo_train.hf_trainer import SylloTrainer
    from syllo_train.monitor import SylloMonitor
    from syllo_train.reporter import Reporter

    hf_logging.disable_progress_bar()
    args = p.args
    is_main = args.process_index == 0
    reporter = Reporter(
        cfg.output.dir, max_text_chars=cfg.monitor.max_text_chars, echo=echo, enabled=is_main
    )
    for line in p.data.summaries:
        reporter.note(line)
    for line in p.plan.skipped:
        reporter.note(f"⚠️ {line}")
    if p.data.skipped:
        reporter.note(
            f'⚠️ skipped {len(p.data.skipped)} bad records (data.on_bad_record = "skip"); first: '
            + "; ".join(f"{src}: {why}" for src, why in p.data.skipped[:3])
        )
    if p.plan.counters:
        # Continue the run's totals from the checkpoint (events after it were redone).
        reporter.writer.counters = Counters.from_dict(p.plan.counters)
    max_steps = cfg.train.max_steps
    monitor = SylloMonitor(
        reporter,
        cfg,
        tokenizer=p.tokenizer,
        train_set=p.data.train,
        val_set=p.data.val,
        val_loss_ids=p.data.val_loss_ids,
        eval_prompt_ids=p.data.eval_prompt_ids,
        max_steps=max_steps,
        start_step=p.plan.step,
    )
    step_now = p.plan.step

    def request_stop(name: str) -> None:
        # A handler runs on the main thread, which may be inside a log write holding
        # its lock (e.g. blocked on a full stdout pipe): set a flag, take no lock.
        # The monitor announces the stop from the training loop.
        monitor.stop_requested = name

    def exit_now(name: str, signum: int) -> None:
        # Best effort only: the interrupted main thread may hold a writer lock, so
        # the last event is written from another thread, and we exit either way.
        def last_event() -> None:
            reporter.emit(
                "run_end",
                monitor_step(reporter, step_now),
                status="stopped",
                reason=f"second {name}: exited at once",
                elapsed_s=round(time.time() - t_start, 3),
            )

        writer = threading.Thread(target=last_event, daemon=True)
        writer.start()
        writer.join(timeout=2.0)
        os._exit(128 + signum)

    signals = _StopSignals(request_stop, exit_now)
    signals.install()
    status, reason, code = "failed", None, EXIT_FAILED
    try:
        total, trainable = _param_counts(p.model)
        reporter.emit(
            "run_start",
            p.plan.step,
            config=cfg.to_dict(),
            model=cfg.model.name_or_path,
            params_total=total,
            params_trainable=trainable,
            train_examples=len(p.data.train),
            val_examples=len(p.data.val),
            eval_prompts=len(p.data.eval_prompt_ids),
            max_steps=max_steps,
            world_size=int(args.world_size),
            distributed=_distributed_info(cfg, args),  # issue #7: optional, null on one process
            resumed_from=str(p.plan.checkpoint) if p.plan.checkpoint else None,
            device=str(args.device),
            pid=os.getpid(),
            versions=_versions(),
            template=p.data.encoder.name,
            tokenization=p.data.encoder.facts.as_dict(),
            skipped_records=len(p.data.skipped),
            data_sources=p.data.sources,
            fingerprint=p.fingerprint.as_dict(),
        )
        if p.plan.checkpoint is not None:
            reporter.emit(
                "resume",
                p.plan.step,
                from_checkpoint=str(p.plan.checkpoint),
                reason=os.environ.get(
                    "SYLLO_RESUME_REASON", "train.resume = auto: newest complete checkpoint"
                ),
            )
        if p.plan.step >= max_steps:
            status, code = "completed", EXIT_OK
            reason = f"already at step {p.plan.step} of train.max_steps = {max_steps}; raise train.max_steps to train further"
            return code
        trainer = SylloTrainer(
            model=p.model,
            args=args,
            train_dataset=TokenDataset(p.data.train),
            data_collator=PadCollator(p.tokenizer.pad_token_id),
            processing_class=p.tokenizer,
            callbacks=[monitor],
            monitor=monitor,
            fingerprint=p.fingerprint,
            settings=p.settings,
        )
        # syllo's human log replaces the Trainer's printed dicts.
        trainer.remove_callback(PrinterCallback)
        trainer.train(resume_from_checkpoint=str(p.plan.checkpoint) if p.plan.checkpoint else None)
        step_now = trainer.state.global_step
        if monitor.stop_requested:
            status, reason, code = "stopped", f"{monitor.stop_requested} received", EXIT_OK
        else:
            status, code = "completed", EXIT_OK
        return code
    except BaseException as exc:
        step_now = reporter.last_event["step"] if reporter.last_event else step_now
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-12:])
        reporter.emit(
            "error",
            step_now,
            error_type=type(exc).__name__,
            message=str(exc) or type(exc).__name__,
            traceback=tb,
        )
        reason = f"{type(exc).__name__}: {exc}"
        # Exception text can carry terminal escapes (torch's own bold markers, or
        # model output quoted in a message): printed inert, like the human log.
        print(f"syllo-train: training failed: {inert(reason)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signals.restore()
        last_step = max(step_now, monitor_step(reporter, step_now))
        reporter.emit(
            "run_end",
            last_step,
            status=status,
            reason=reason,
            elapsed_s=round(time.time() - t_start, 3),
        )
        reporter.close()


def monitor_step(reporter: Any, fallback: int) -> int:
    """The step of the last event written (the run's last known step)."""
    ev = reporter.last_event
    return int(ev["step"]) if ev and ev.get("step") is not None else fallback
