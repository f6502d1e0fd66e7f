"""Bounded generation: the timeout guarantee.

Every eval generation is bounded twice: by ``max_new_tokens`` and by a
wall-clock limit ``timeout_s``. The clock is checked by a transformers
``StoppingCriteria`` after every token, which works from any thread and on
any device (``signal.alarm`` works in neither a worker thread nor a CUDA call,
and is not used). A per-token check cannot interrupt one forward pass that
itself hangs (a stuck kernel, a hung collective); for that case a
:class:`StallWatchdog` thread notices the overrun while it is still going on
and reports it through a callback, so the caller can record it on disk before
anything else happens. See ``docs/generation.md``.

Importing this module does not import torch or transformers: they are loaded
the first time a generation runs, so ``syllo-train --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from syllo_train.inert import print_inert

#: Default time a forward pass may run past its generation's limit before the
#: watchdog reports a stall (config key ``monitor.stall_grace_s``).
DEFAULT_GRACE_S = 5.0

#: How long a finished watch waits for its ``on_stall`` to return, so that a
#: stalled result is never handed back while the stall is still being recorded
#: (bounded: an ``on_stall`` stuck on a hung disk must not stop training).
REPORT_WAIT_S = 10.0


@dataclass
class GenerationResult:
    """The outcome of one bounded generation."""

    output: str | None  # decoded new text (special tokens skipped); None when timed out
    partial: str  # the text produced so far, whether or not it timed out
    tokens: int  # new tokens produced
    seconds: float  # wall-clock time, start of generate() to decoded text
    timed_out: bool  # cut off by the time limit (a stall is also a timeout)
    stalled: bool  # one step (a forward pass) itself ran past limit + grace
    finished_eos: bool  # the last new token is an end-of-sequence token
    limit_s: float = 0.0  # the limit actually applied (a round budget may shorten it)
    skipped: bool = False  # never generated: the round budget was spent before it


@dataclass(frozen=True)
class StallInfo:
    """What the watchdog knows about a generation that is stuck right now."""

    label: object  # the caller's label for the generation (e.g. the sample index)
    limit_s: float  # the generation's time limit
    elapsed_s: float  # time since the generation started, when the stall was noticed
    tokens_so_far: int  # new tokens produced before the step that is stuck


class Watch:
    """One armed watch: a generation the watchdog keeps an eye on.

    ``tokens`` is updated by the stopping criterion after every token (that is
    how the watchdog knows how far a stuck generation got); ``stalled`` turns
    True, once, when the watchdog reports this generation, and ``reported`` is
    set when its ``on_stall`` has returned.
    """

    def __init__(
        self,
        label: object,
        limit_s: float,
        grace_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.limit_s = limit_s
        self.start = clock()
        self.fire_at = self.start + limit_s + grace_s
        self.tokens = 0
        self.stalled = False
        self.reported = threading.Event()


class StallWatchdog:
    """A daemon thread that reports a generation stuck past ``limit_s + grace_s``.

    Arm it around one generation with ``with watchdog.watch(label, limit_s):``.
    If the block is still running ``grace_s`` after its limit, ``on_stall`` is
    called with a :class:`StallInfo` from the watchdog's own thread, while the
    block is still stuck, exactly once per watch; leaving a stalled block
    waits (up to REPORT_WAIT_S) for ``on_stall`` to return, so the caller sees
    a stalled result only once the stall is recorded. The watchdog cannot stop the
    stuck call (nothing in-process safely can); it makes the stall visible
    live. An exception raised by ``on_stall`` is printed to stderr and the
    thread carries on.

    Use ``start()``/``stop()`` or ``with StallWatchdog(...) as wd:``; ``watch``
    starts the thread if it is not running yet. ``clock`` is the time the
    limits are measured in (``time.monotonic``; tests pass a clock they move
    themselves, so a stall is a fact of the test, not of the machine's load);
    ``poll_s`` is real time.
    """

    def __init__(
        self,
        on_stall: Callable[[StallInfo], None],
        grace_s: float = DEFAULT_GRACE_S,
        poll_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if grace_s < 0:
            raise ValueError(
                f"StallWatchdog: grace_s must be >= 0 (monitor.stall_grace_s), got {grace_s}"
            )
        if poll_s <= 0:
            raise ValueError(f"StallWatchdog: poll_s must be > 0, got {poll_s}")
        self.on_stall = on_stall
        self.grace_s = grace_s
        self.poll_s = poll_s
        self.clock = clock
        self._cond = threading.Condition()
        self._watches: set[Watch] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> StallWatchdog:
        """Start the watchdog thread (no-op if it is running)."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="syllo-stall-watchdog", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and wait up to ``timeout_s`` for it (it is a daemon either way)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        # An on_stall stuck on a hung disk must not hang shutdown too: bounded join.
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    @property
    def running(self) -> bool:
        """True while the watchdog thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> StallWatchdog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def watch(self, label: object, limit_s: float) -> Iterator[Watch]:
        """Arm the watchdog around one generation limited to ``limit_s`` seconds."""
        if not self.running:
            self.start()
        w = Watch(label, limit_s, self.grace_s, self.clock)
        with self._cond:
            self._watches.add(w)
            self._cond.notify_all()
        try:
            yield w
        finally:
            with self._cond:
                self._watches.discard(w)
            if w.stalled:
                w.reported.wait(REPORT_WAIT_S)

    def _run(self) -> None:
        while True:
            due: list[Watch] = []
            with self._cond:
                if self._stopping:
                    return
                now = self.clock()
                pending = [w for w in self._watches if not w.stalled]
                for w in pending:
                    if now >= w.fire_at:
                        # Marked under the lock: fires once, and a watch that has
                        # already been disarmed can never fire.
                        w.stalled = True
                        due.append(w)
                if not due:
                    if pending:
                        next_fire = min(w.fire_at for w in pending)
                        self._cond.wait(min(self.poll_s, max(0.0, next_fire - now)))
                    else:
                        self._cond.wait()  # idle: sleep until a watch is armed
                    continue
            for w in due:  # outside the lock: on_stall may take its time (disk I/O)
                info = StallInfo(w.label, w.limit_s, self.clock() - w.start, w.tokens)
                try:
                    self.on_stall(info)
                except Exception:
                    print_inert(
                        f"syllo: StallWatchdog on_stall failed for {info}:\n{traceback.format_exc()}"
                    )
                finally:
                    w.reported.set()


@functools.cache
def _deadline_criteria_class() -> type:
    """Build the StoppingCriteria subclass on first use (keeps transformers off import)."""
    import torch
    from transformers import StoppingCriteria

    class DeadlineCriteria(StoppingCriteria):
        """Stop every row once ``clock()`` passes ``deadline``.

        Called by ``generate`` after every new token; it also counts the new
        tokens so a watchdog can say how far a stuck generation got.
        """

        def __init__(
            self,
            deadline: float,
            prompt_len: int,
            watch: Watch | None = None,
            clock: Callable[[], float] = time.monotonic,
        ) -> None:
            self.deadline = deadline
            self.prompt_len = prompt_len
            self.watch = watch
            self.clock = clock
            self.tokens = 0
            self.fired = False

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            self.tokens = int(input_ids.shape[1]) - self.prompt_len
            if self.watch is not None:
                self.watch.tokens = self.tokens
            if self.clock() >= self.deadline:
                self.fired = True
            # transformers 5: one bool per row, shape (batch,).
            return torch.full(
                (input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device
            )

    return DeadlineCriteria


def make_deadline_criteria(
    deadline: float,
    prompt_len: int,
    watch: Watch | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """A ``StoppingCriteria`` that stops generation once ``clock() >= deadline``."""
    return _deadline_criteria_class()(deadline, prompt_len, watch, clock)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for source in (gen_eos, getattr(tokenizer, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, (list, tuple)):
            ids.update(int(i) for i in source)
    return ids


def _model_device(model: Any) -> Any:
    device = getattr(model, "device", None)
    if device is not None:
        return device
    return next(model.parameters()).device


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
    """Generate a continuation of ``prompt_ids``, bounded by tokens and wall-clock time.

    Stops after ``max_new_tokens`` new tokens, at an end-of-sequence token, or
    at the first token that arrives after ``timeout_s`` seconds, whichever
    comes first; a timed-out result has ``output=None`` and keeps the text so
    far in ``partial``. With a ``watchdog``, a single step that blocks past
    ``timeout_s + watchdog.grace_s`` is reported live and the result is
    ``stalled``; without one, ``stalled`` is judged afterwards against
    ``DEFAULT_GRACE_S``.

    ``clock`` measures the limit (a watchdog's own clock wins, so the two agree).
    Safe to call from any thread. Greedy by default; ``generate_kwargs`` go to
    ``model.generate`` (e.g. ``min_new_tokens``, ``suppress_tokens``). The
    model runs in eval mode under ``torch.no_grad`` and every submodule's
    train/eval mode is restored afterwards, also on error. Do not train the
    same model from another thread meanwhile: eval mode is module state.
    """
    import torch
    from transformers import StoppingCriteriaList

    if max_new_tokens < 1:
        raise ValueError(
            f"generate_bounded: max_new_tokens must be >= 1 (monitor.max_new_tokens), got {max_new_tokens}"
        )
    if timeout_s <= 0:
        raise ValueError(
            f"generate_bounded: timeout_s must be > 0 (monitor.generation_timeout_s), got {timeout_s}"
        )
    if len(prompt_ids) == 0:
        raise ValueError("generate_bounded: the prompt is empty; give at least one token")

    input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=_model_device(model))
    prompt_len = input_ids.shape[1]
    kwargs: dict[str, Any] = dict(generate_kwargs)
    user_criteria = kwargs.pop("stopping_criteria", None)
    # A tokenizer without a pad token is common (GPT-2, Llama): fall back to
    # EOS so generate neither warns nor fails on batch-of-one padding.
    pad_id = getattr(model.generation_config, "pad_token_id", None)
    if pad_id is None:
        pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
    if pad_id is not None:
        kwargs.setdefault("pad_token_id", pad_id)

    modes = [(m, m.training) for m in model.modules()]
    if watchdog is not None:
        clock = watchdog.clock
    grace = watchdog.grace_s if watchdog is not None else DEFAULT_GRACE_S
    watch_cm = (
        watchdog.watch(label, timeout_s) if watchdog is not None else contextlib.nullcontext()
    )
    try:
        model.eval()
        with watch_cm as watch, torch.no_grad():
            start = watch.start if watch is not None else clock()
            criterion = make_deadline_criteria(start + timeout_s, prompt_len, watch, clock)
            criteria = StoppingCriteriaList([criterion, *(user_criteria or [])])
            sequences = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                stopping_criteria=criteria,
                **kwargs,
            )
            new_ids = sequences[0, prompt_len:].tolist()
            text = tokenizer.decode(new_ids, skip_special_tokens=True)
            seconds = clock() - start
            stalled = watch.stalled if watch is not None else seconds > timeout_s + grace
    finally:
        for module, was_training in modes:
            module.training = was_training

    timed_out = criterion.fired or stalled
    eos = _eos_ids(model, tokenizer)
    return GenerationResult(
        output=None if timed_out else text,
        partial=text,
        tokens=len(new_ids),
        seconds=seconds,
        timed_out=timed_out,
        stalled=stalled,
        finished_eos=bool(new_ids) and new_ids[-1] in eos,
        limit_s=timeout_s,
    )


def run_eval_round(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    timeout_s: float,
    round_budget_s: float = 0,
    watchdog: StallWatchdog | None = None,
    on_result: Callable[[int, GenerationResult], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    agree_limit: Callable[[float], float] | None = None,
    **generate_kwargs: Any,
) -> list[GenerationResult]:
    """Generate each prompt in turn, each bounded, the whole round within a budget.

    Each sample's limit is ``min(timeout_s, budget left)``; once
    ``round_budget_s`` (0 = no budget) is spent, the remaining samples are
    returned timed out and ``skipped``, with 0 tokens and 0 seconds, without
    generating. ``on_result(index, result)`` is called as each result is
    ready, so the caller can record it at once. The watch label is the index.

    Sharded weights generate on every rank in lockstep: ``agree_limit`` makes
    each limit the same on all of them (the smallest), so every rank takes the
    same branch (generate or skip), and ``synced_gpus=True`` (a generate
    kwarg) keeps a rank that stopped early joining the others' forward passes.
    """
    if round_budget_s < 0:
        raise ValueError(
            f"run_eval_round: round_budget_s must be >= 0 (monitor.eval_timeout_s; 0 = none), got {round_budget_s}"
        )
    if watchdog is not None:
        clock = watchdog.clock
    round_start = clock()
    results: list[GenerationResult] = []
    for index, prompt in enumerate(prompts):
        limit = timeout_s
        if round_budget_s > 0:
            limit = min(timeout_s, round_budget_s - (clock() - round_start))
        if agree_limit is not None:
            limit = agree_limit(limit)
        if limit <= 0:
            result = GenerationResult(
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
        else:
            result = generate_bounded(
                model,
                tokenizer,
                prompt,
                max_new_tokens=max_new_tokens,
                timeout_s=limit,
                watchdog=watchdog,
                label=index,
                clock=clock,
                **generate_kwargs,
            )
        results.append(result)
        if on_result is not None:
            on_result(index, result)
    return results


def worst_case_round_s(
    eval_samples: int, timeout_s: float, round_budget_s: float, grace_s: float
) -> float:
    """The longest an eval round can keep this rank away from the next collective.

    Each sample can run to its limit plus the stall grace; a round budget caps
    the sum (its last sample can still overrun by the grace).
    """
    worst = eval_samples * (timeout_s + grace_s)
    if round_budget_s > 0:
        worst = min(worst, round_budget_s + grace_s)
    return worst


def check_eval_budget(
    eval_samples: int,
    timeout_s: float,
    round_budget_s: float,
    pg_timeout_s: float,
    grace_s: float,
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
    if pg_timeout_s <= 0 or eval_samples == 0:
        return None
    worst = worst_case_round_s(eval_samples, timeout_s, round_budget_s, grace_s)
    if worst < pg_timeout_s:
        return None
    how = f"{eval_samples} samples × ({timeout_s:g} s + {grace_s:g} s stall grace)"
    if round_budget_s > 0 and worst < eval_samples * (timeout_s + grace_s):
        how = f"monitor.eval_timeout_s {round_budget_s:g} s + {grace_s:g} s stall grace"
    # The budget that would fit, leaving the grace for the last sample.
    fit_budget = max(0.0, pg_timeout_s - grace_s)
    return (
        f"an eval round can take up to {worst:g} s ({how}), but other processes wait "
        f"at most {pg_timeout_s:g} s for it at the next collective (trainer_args.ddp_timeout), "
        f"so a slow round would abort the run. Lower monitor.eval_samples or "
        f"monitor.generation_timeout_s, set monitor.eval_timeout_s below {fit_budget:g}, "
        f"or raise trainer_args.ddp_timeout above {worst:g}."
    )
