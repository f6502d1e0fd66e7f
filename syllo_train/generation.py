"""Bounded generation: the timeout guarantee, one prompt or a batch at a time.

Every eval generation is bounded twice: by ``max_new_tokens`` and by a
wall-clock limit ``timeout_s``. The clock is checked by a transformers
``StoppingCriteria`` after every token, which works from any thread and on
any device (``signal.alarm`` works in neither a worker thread nor a CUDA call,
and is not used). A batch of prompts (left-padded) shares one start and one
deadline, and the criterion keeps each row's own end: a row that reaches
end-of-sequence (or a caller's stopping criterion) in time keeps its output; a
row still running at the deadline is a timeout with its text so far. A
per-token check cannot interrupt one forward pass that itself hangs (a stuck
kernel, a hung collective); for that, a :class:`StallWatchdog` (watchdog.py)
notices the overrun while it is still going on. See ``docs/generation.md``.

Importing this module does not import torch or transformers: they are loaded
the first time a generation runs, so ``syllo-train --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from syllo_train.watchdog import (
    DEFAULT_GRACE_S,
    REPORT_WAIT_S,
    StallInfo,
    StallWatchdog,
    Watch,
)

__all__ = [
    "DEFAULT_GRACE_S",
    "REPORT_WAIT_S",
    "GenerationResult",
    "StallInfo",
    "StallWatchdog",
    "Watch",
    "check_eval_budget",
    "eval_batches",
    "generate_batch_bounded",
    "generate_bounded",
    "run_eval_round",
    "worst_case_round_s",
]


@dataclass
class GenerationResult:
    """The outcome of one bounded generation (one prompt, or one row of a batch)."""

    output: str | None  # decoded new text (special tokens skipped); None when timed out
    partial: str  # the text produced so far, whether or not it timed out
    tokens: int  # new tokens produced
    seconds: float  # wall clock from the start of generate() to this row's end (see docs)
    timed_out: bool  # cut off by the time limit (a stall is also a timeout)
    stalled: bool  # one step (a forward pass) itself ran past limit + grace
    finished_eos: bool  # the last new token is an end-of-sequence token
    limit_s: float = 0.0  # the limit actually applied (a round budget may shorten it)
    skipped: bool = False  # never generated: the round budget was spent before it
    token_ids: tuple[int, ...] = ()  # the new tokens themselves (``tokens`` of them)


def _skipped() -> GenerationResult:
    return GenerationResult(
        output=None,
        partial="",
        tokens=0,
        seconds=0.0,
        timed_out=True,
        stalled=False,
        finished_eos=False,
        limit_s=0.0,
        skipped=True,
    )


@functools.cache
def _rows_criteria_class() -> type:
    """Build the StoppingCriteria subclass on first use (keeps transformers off import)."""
    import torch
    from transformers import StoppingCriteria

    class RowsCriteria(StoppingCriteria):
        """The deadline of a batch, and each row's own end.

        ``generate`` calls it after every new token with the whole batch. Once
        ``clock()`` passes ``deadline`` every row still running is cut off (a
        token that arrives late is late, even end-of-sequence). Before that, a
        row ends at its first end-of-sequence token (``eos_ids``: generate's
        own) or when a caller's ``user`` criteria say so. ``ended[r]`` is how
        many new tokens row r had when it ended (None: it ran to the end), so
        tokens ``generate`` appends to a finished row afterwards (padding, or
        more text when the model has no EOS) never count.

        The last tokens are read back to the host once per step (``generate``
        itself reads a finished-flag back every step, so this adds a copy, not
        a synchronisation). With a watch, the clock is read and the rows are
        updated under its lock, so the watchdog's snapshot of the rows still
        running is exactly the set that will end timed out.
        """

        def __init__(
            self,
            deadline: float,
            prompt_len: int,
            labels: Sequence[object],
            eos_ids: frozenset[int],
            user: Any = None,
            watch: Watch | None = None,
            clock: Callable[[], float] = time.monotonic,
        ) -> None:
            self.deadline = deadline
            self.prompt_len = prompt_len
            self.labels = tuple(labels)
            self.eos_ids = eos_ids
            self.user = user
            self.watch = watch
            self.clock = clock
            n = len(self.labels)
            self.ended: list[int | None] = [None] * n  # new tokens when the row ended
            self.ended_at: list[float | None] = [None] * n  # clock() when it ended in time
            self.cut: list[bool] = [False] * n  # ended by the deadline
            self.tokens = 0
            self.fired = False

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            tokens = int(input_ids.shape[1]) - self.prompt_len
            last = input_ids[:, -1].tolist()
            user_done = self.user(input_ids, scores, **kwargs).tolist() if self.user else None
            lock = self.watch.lock if self.watch is not None else contextlib.nullcontext()
            with lock:
                now = self.clock()
                late = now >= self.deadline
                for r, ended in enumerate(self.ended):
                    if ended is not None:
                        continue
                    if late:
                        self.ended[r], self.cut[r] = tokens, True
                    elif last[r] in self.eos_ids or (user_done is not None and user_done[r]):
                        self.ended[r], self.ended_at[r] = tokens, now
                self.tokens = tokens
                self.fired = self.fired or late
                if self.watch is not None:
                    self.watch.tokens = tokens
                    # Rows cut by the deadline count as still running: if the watchdog
                    # fires before the call returns, they are the ones it reports.
                    self.watch.rows = tuple(
                        label
                        for label, ended, cut in zip(self.labels, self.ended, self.cut, strict=True)
                        if ended is None or cut
                    )
            # transformers 5: one bool per row, shape (batch,).
            return torch.tensor(
                [e is not None for e in self.ended], dtype=torch.bool, device=input_ids.device
            )

    return RowsCriteria


def _ids(source: Any) -> set[int]:
    if isinstance(source, int):
        return {source}
    if isinstance(source, (list, tuple)):
        return {int(i) for i in source}
    return set()


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every id that reads as end-of-sequence (the model's and the tokenizer's), for reporting."""
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    return _ids(gen_eos) | _ids(getattr(tokenizer, "eos_token_id", None))


def _model_device(model: Any) -> Any:
    device = getattr(model, "device", None)
    if device is not None:
        return device
    return next(model.parameters()).device


def _check_limits(max_new_tokens: int, timeout_s: float) -> None:
    if max_new_tokens < 1:
        raise ValueError(
            f"generate_bounded: max_new_tokens must be >= 1 (monitor.max_new_tokens), got {max_new_tokens}"
        )
    if timeout_s <= 0:
        raise ValueError(
            f"generate_bounded: timeout_s must be > 0 (monitor.generation_timeout_s), got {timeout_s}"
        )


def generate_batch_bounded(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    timeout_s: float,
    watchdog: StallWatchdog | None = None,
    labels: Sequence[object] | None = None,
    do_sample: bool = False,
    clock: Callable[[], float] = time.monotonic,
    **generate_kwargs: Any,
) -> list[GenerationResult]:
    """Generate a continuation of each prompt in one batch, bounded by tokens and wall-clock time.

    The prompts are left-padded (a decoder-only model continues each from its
    last real token) and start together; ``timeout_s`` runs from that start
    for every row. Each row stops at its own end-of-sequence token (or a
    caller's ``stopping_criteria``), after ``max_new_tokens`` new tokens, or
    at the first token that arrives after the limit, whichever comes first;
    the batch ends when every row has. A row still running at the limit is
    timed out: ``output=None``, its text so far in ``partial``. Rows that
    finished in time keep their output.

    With a ``watchdog``, a single step that blocks past ``timeout_s +
    watchdog.grace_s`` is reported live, naming the rows still running
    (``labels``, default 0…n−1, one per prompt), and those rows come back
    ``stalled``; without one, ``stalled`` is judged afterwards against
    ``DEFAULT_GRACE_S``. ``clock`` measures the limit (a watchdog's own clock
    wins, so the two agree). Safe to call from any thread. Greedy by default;
    ``generate_kwargs`` go to ``model.generate`` (e.g. ``min_new_tokens``,
    ``suppress_tokens``, ``logits_processor``). The model runs in eval mode
    under ``torch.no_grad`` and every submodule's train/eval mode is restored
    afterwards, also on error. Do not train the same model from another
    thread meanwhile: eval mode is module state.
    """
    import torch
    from transformers import StoppingCriteriaList

    _check_limits(max_new_tokens, timeout_s)
    if not prompts:
        raise ValueError("generate_batch_bounded: no prompts; give at least one")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("generate_bounded: the prompt is empty; give at least one token")
    labels = list(range(len(prompts))) if labels is None else list(labels)
    distinct = all(a != b for i, a in enumerate(labels) for b in labels[i + 1 :])
    if len(labels) != len(prompts) or not distinct:
        raise ValueError("generate_batch_bounded: labels must be one distinct label per prompt")

    kwargs: dict[str, Any] = dict(generate_kwargs)
    user_criteria = kwargs.pop("stopping_criteria", None)
    # A tokenizer without a pad token is common (GPT-2, Llama): fall back to
    # EOS, for the left padding and for generate's own use.
    pad_id = getattr(model.generation_config, "pad_token_id", None)
    if pad_id is None:
        pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
    if pad_id is not None:
        kwargs.setdefault("pad_token_id", pad_id)
    if pad_id is None and len({len(p) for p in prompts}) > 1:
        raise ValueError(
            "generate_batch_bounded: prompts of different lengths need padding, and neither "
            "the model nor the tokenizer has a pad or EOS token; set monitor.generation_batch_size = 1"
        )
    # The row-level end-of-sequence test uses generate's own EOS ids (a caller's
    # eos_token_id wins, as in generate), so a row ends where generate would end it alone.
    stop_eos = frozenset(
        _ids(kwargs.get("eos_token_id", getattr(model.generation_config, "eos_token_id", None)))
    )
    width = max(len(p) for p in prompts)
    device = _model_device(model)
    pad = 0 if pad_id is None else int(pad_id)
    input_ids = torch.tensor(
        [[pad] * (width - len(p)) + list(p) for p in prompts], dtype=torch.long, device=device
    )
    attention_mask = torch.tensor(
        [[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long, device=device
    )

    modes = [(m, m.training) for m in model.modules()]
    if watchdog is not None:
        clock = watchdog.clock
    grace = watchdog.grace_s if watchdog is not None else DEFAULT_GRACE_S
    watch_label = labels[0] if len(labels) == 1 else tuple(labels)
    watch_cm = (
        watchdog.watch(watch_label, timeout_s, tuple(labels))
        if watchdog is not None
        else contextlib.nullcontext()
    )
    try:
        model.eval()
        with watch_cm as watch, torch.no_grad():
            start = watch.start if watch is not None else clock()
            user = StoppingCriteriaList(user_criteria) if user_criteria else None
            criterion = _rows_criteria_class()(
                start + timeout_s, width, labels, stop_eos, user, watch, clock
            )
            sequences = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                stopping_criteria=StoppingCriteriaList([criterion]),
                **kwargs,
            )
            generated = sequences[:, width:].tolist()
            texts: list[tuple[list[int], str]] = []
            for row, ended in zip(generated, criterion.ended, strict=True):
                new_ids = row if ended is None else row[:ended]
                texts.append((new_ids, tokenizer.decode(new_ids, skip_special_tokens=True)))
            seconds = clock() - start
            stalled_rows = watch.stalled_rows if watch is not None and watch.stalled else None
    finally:
        for module, was_training in modes:
            module.training = was_training

    eos = _eos_ids(model, tokenizer)
    results = []
    for r, (new_ids, text) in enumerate(texts):
        ended_at = criterion.ended_at[r]
        in_time = ended_at is not None  # ended by EOS or a caller's criterion before the limit
        if stalled_rows is not None:
            stalled = labels[r] in stalled_rows
        else:
            stalled = not in_time and seconds > timeout_s + grace
        timed_out = criterion.cut[r] or stalled
        results.append(
            GenerationResult(
                output=None if timed_out else text,
                partial=text,
                tokens=len(new_ids),
                seconds=ended_at - start if ended_at is not None and not timed_out else seconds,
                timed_out=timed_out,
                stalled=stalled,
                finished_eos=bool(new_ids) and new_ids[-1] in eos,
                limit_s=timeout_s,
                token_ids=tuple(new_ids),
            )
        )
    return results


def generate_bounded(
    model: Any,
    tokenizer: Any,
    prompt_ids: Sequence[int],
    *,
    max_new_tokens: int,
    timeout_s: float,
    watchdog: StallWatchdog | None = None,
    label: object = None,
    do_sample: bool = False,
    clock: Callable[[], float] = time.monotonic,
    **generate_kwargs: Any,
) -> GenerationResult:
    """Generate a continuation of one prompt, bounded by tokens and wall-clock time.

    A batch of one (:func:`generate_batch_bounded`): stops after
    ``max_new_tokens`` new tokens, at an end-of-sequence token, or at the
    first token that arrives after ``timeout_s`` seconds, whichever comes
    first; a timed-out result has ``output=None`` and keeps the text so far in
    ``partial``. ``label`` names it to the watchdog.
    """
    return generate_batch_bounded(
        model,
        tokenizer,
        [prompt_ids],
        max_new_tokens=max_new_tokens,
        timeout_s=timeout_s,
        watchdog=watchdog,
        labels=[label],
        do_sample=do_sample,
        clock=clock,
        **generate_kwargs,
    )[0]


def run_eval_round(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    timeout_s: float,
    round_budget_s: float = 0,
    batch_size: int = 1,
    watchdog: StallWatchdog | None = None,
    on_result: Callable[[int, GenerationResult], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    agree_limit: Callable[[float], float] | None = None,
    **generate_kwargs: Any,
) -> list[GenerationResult]:
    """Generate the prompts in batches of ``batch_size``, each bounded, the round within a budget.

    The batches go in prompt order (prompts 0…b−1, then b…2b−1, …). Each
    batch's limit is ``min(timeout_s, budget left)``; once ``round_budget_s``
    (0 = no budget) is spent, the remaining prompts are returned timed out and
    ``skipped``, with 0 tokens and 0 seconds, without generating.
    ``on_result(index, result)`` is called for each prompt, in order, as soon
    as its batch is done, so the caller can record it at once. The watch
    labels are the prompt indices.

    Sharded weights generate on every rank in lockstep: ``agree_limit`` makes
    each batch's limit the same on all of them (the smallest), so every rank
    takes the same branch (generate or skip), and ``synced_gpus=True`` (a
    generate kwarg) keeps a rank that stopped early joining the others'
    forward passes. Every rank forms the same batches from the same prompts.
    """
    if round_budget_s < 0:
        raise ValueError(
            f"run_eval_round: round_budget_s must be >= 0 (monitor.eval_timeout_s; 0 = none), got {round_budget_s}"
        )
    if batch_size < 1:
        raise ValueError(
            f"run_eval_round: batch_size must be >= 1 (monitor.generation_batch_size), got {batch_size}"
        )
    if watchdog is not None:
        clock = watchdog.clock
    round_start = clock()
    results: list[GenerationResult] = []
    for first in range(0, len(prompts), batch_size):
        indices = list(range(first, min(len(prompts), first + batch_size)))
        limit = timeout_s
        if round_budget_s > 0:
            limit = min(timeout_s, round_budget_s - (clock() - round_start))
        if agree_limit is not None:
            limit = agree_limit(limit)
        if limit <= 0:
            batch = [_skipped() for _ in indices]
        else:
            batch = generate_batch_bounded(
                model,
                tokenizer,
                [prompts[i] for i in indices],
                max_new_tokens=max_new_tokens,
                timeout_s=limit,
                watchdog=watchdog,
                labels=indices,
                clock=clock,
                **generate_kwargs,
            )
        for index, result in zip(indices, batch, strict=True):
            results.append(result)
            if on_result is not None:
                on_result(index, result)
    return results


def eval_batches(eval_samples: int, batch_size: int = 1) -> int:
    """How many generation batches an eval round of ``eval_samples`` prompts has."""
    return -(-max(0, eval_samples) // max(1, batch_size))


def worst_case_round_s(
    eval_samples: int,
    timeout_s: float,
    round_budget_s: float,
    grace_s: float,
    *,
    batch_size: int = 1,
) -> float:
    """The longest an eval round's generation can run (and keep this rank from the next collective).

    The one definition: the distributed budget check (check_eval_budget) and
    the readers' quiet-eval allowance (derived.quiet_eval_s) both use it. Each
    batch (``batch_size`` prompts share one deadline) can run to its limit
    plus the stall grace; a round budget caps the sum (its last batch can
    still overrun by the grace).
    """
    worst = eval_batches(eval_samples, batch_size) * (timeout_s + grace_s)
    if round_budget_s > 0:
        worst = min(worst, round_budget_s + grace_s)
    return worst


def check_eval_budget(
    eval_samples: int,
    timeout_s: float,
    round_budget_s: float,
    pg_timeout_s: float,
    grace_s: float,
    *,
    batch_size: int = 1,
) -> str | None:
    """Refuse an eval round that could outlast the process-group (collective) timeout.

    Under multi-process training the other ranks wait at the next collective
    while the eval round runs; past ``pg_timeout_s`` (``trainer_args.ddp_timeout``)
    they abort the job. Returns an error message naming the keys to change, or
    None when the worst case fits (or ``pg_timeout_s <= 0``: no collective timeout).
    """
    for key, value in (
        ("monitor.eval_samples", eval_samples),
        ("monitor.generation_timeout_s", timeout_s),
        ("monitor.eval_timeout_s", round_budget_s),
        ("monitor.stall_grace_s", grace_s),
    ):
        if value < 0:
            raise ValueError(f"{key} must be >= 0, got {value}")
    if batch_size < 1:
        raise ValueError(f"monitor.generation_batch_size must be >= 1, got {batch_size}")
    if pg_timeout_s <= 0 or eval_samples == 0:
        return None
    worst = worst_case_round_s(
        eval_samples, timeout_s, round_budget_s, grace_s, batch_size=batch_size
    )
    if worst < pg_timeout_s:
        return None
    batches = eval_batches(eval_samples, batch_size)
    how = f"{eval_samples} samples × ({timeout_s:g} s + {grace_s:g} s stall grace)"
    if batch_size > 1:
        how = (
            f"{eval_samples} samples in {batches} batches of up to {batch_size} "
            f"(monitor.generation_batch_size) × ({timeout_s:g} s + {grace_s:g} s stall grace)"
        )
    if round_budget_s > 0 and worst < batches * (timeout_s + grace_s):
        how = f"monitor.eval_timeout_s {round_budget_s:g} s + {grace_s:g} s stall grace"
    # The budget that would fit, leaving the grace for the last batch.
    fit_budget = max(0.0, pg_timeout_s - grace_s)
    return (
        f"an eval round can take up to {worst:g} s ({how}), but other processes wait "
        f"at most {pg_timeout_s:g} s for it at the next collective (trainer_args.ddp_timeout), "
        f"so a slow round would abort the run. Lower monitor.eval_samples or "
        f"monitor.generation_timeout_s, raise monitor.generation_batch_size, set "
        f"monitor.eval_timeout_s below {fit_budget:g}, or raise trainer_args.ddp_timeout "
        f"above {worst:g}."
    )
