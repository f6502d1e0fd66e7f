"""Write realistic event files through the real ``syllo_train.events.EventWriter``.

Until a trainer run is cheap enough for every TUI test, the TUI is tested
against files written here: same writer, same capping, same counters, and
every event checked with ``validate_event`` before it is written, so the files
follow the contract. Timestamps come from a fake clock (``RunWriter.now``) so
that screens built from these files are the same on every run.

Scenarios (each returns the RunWriter so a test can keep appending):

* ``mid_run``       training at step 1200 of 2000, evals every 200, checkpoints every 400
* ``with_timeouts`` mid-run whose last eval had a timeout and a stall
* ``finished``      a completed run
* ``resumed``       a crash after step 650, resumed from the step-600 checkpoint
* ``runs_folder``   a folder of three runs (finished, resumed, with timeouts)
* ``huge``          many events quickly, for cold-open and memory benchmarks
* ``with_tokens``   a log example token by token, its mask right or wrong on purpose
* ``prompt_rounds`` one eval prompt whose output changes every round until it matches
* ``with_health``   anomalies (a spike, a NaN loss), a best eval and its checkpoint, overfitting
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syllo_train.events import EventWriter, validate_event

#: Fixed start time of generated runs (2023-11-14 22:13:20 UTC).
T0 = 1_700_000_000.0
RUN_ID = "20231114-221320-5eed01"
MODEL = "runs/tiny-model"

_WORDS = [
    "banana",
    "caterpillar",
    "umbrella",
    "syllable",
    "information",
    "helicopter",
    "watermelon",
    "dictionary",
    "kangaroo",
    "avocado",
    "photograph",
    "mississippi",
]


def _syllables(word: str) -> str:
    # Good enough for fake goldens: split after each vowel group.
    out, cur = [], ""
    for i, ch in enumerate(word):
        cur += ch
        nxt = word[i + 1] if i + 1 < len(word) else ""
        if ch in "aeiouy" and nxt and nxt not in "aeiouy" and len(word) - i > 2:
            out.append(cur)
            cur = ""
    out.append(cur)
    return "-".join(out)


class ClockedWriter(EventWriter):
    """The real EventWriter, with ``ts`` from a settable clock and every event validated."""

    def __init__(self, path: str | Path, run_id: str, *, t0: float = T0, **kwargs: Any) -> None:
        super().__init__(path, run_id, **kwargs)
        self.now = t0
        self.schema_version: int | None = None  # set to write events of a newer schema

    def build(self, etype: str, step: int, **fields_: Any) -> dict[str, Any]:
        event = super().build(etype, step, **fields_)
        event["ts"] = round(self.now, 3)
        if self.schema_version is not None:
            event["v"] = self.schema_version
        problems = validate_event(event)
        if problems:
            raise ValueError(f"eventgen built an invalid {etype} event: {problems}")
        return event


class RunWriter:
    """Writes one run's events with plausible numbers; keeps the counters the trainer would."""

    def __init__(
        self,
        path: str | Path,
        *,
        run_id: str = RUN_ID,
        t0: float = T0,
        max_steps: int = 2000,
        steps_per_s: float = 4.0,
        eval_samples: int = 4,
        seed: int = 0,
        max_text_chars: int = 4000,
    ) -> None:
        self.path = Path(path)
        self.w = ClockedWriter(path, run_id, t0=t0, max_text_chars=max_text_chars)
        self.t0 = t0
        self.max_steps = max_steps
        self.steps_per_s = steps_per_s
        self.eval_samples = eval_samples
        self.rng = random.Random(seed)
        self.step = 0
        self.elapsed = 0.0

    @property
    def counters(self) -> Any:
        return self.w.counters

    def close(self) -> None:
        self.w.close()

    def advance(self, seconds: float) -> None:
        """Move the fake clock (and the run's elapsed time) on."""
        self.w.now += seconds
        self.elapsed += seconds

    def emit(self, etype: str, step: int, **fields_: Any) -> dict[str, Any]:
        return self.w.emit(etype, step, **fields_)

    # -- losses ---------------------------------------------------------------

    def train_loss(self, step: int) -> float:
        return round(2.2 * math.exp(-step / 400) + 0.35 + self.rng.uniform(-0.03, 0.03), 4)

    def val_loss(self, step: int) -> float:
        # Overfits late: the gap widens after step 1000.
        return round(
            2.2 * math.exp(-step / 400)
            + 0.42
            + max(0, step - 1000) / 4000
            + self.rng.uniform(0, 0.01),
            4,
        )

    # -- events -----------------------------------------------------------------

    def run_start(
        self,
        *,
        resumed_from: str | None = None,
        step: int = 0,
        monitor: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.emit(
            "run_start",
            step,
            config={
                "train": {"max_steps": self.max_steps},
                "monitor": monitor or {"log_steps": 10},
            },
            model=MODEL,
            params_total=1_234_567,
            params_trainable=1_234_567,
            train_examples=5000,
            val_examples=200,
            eval_prompts=self.eval_samples,
            max_steps=self.max_steps,
            world_size=1,
            resumed_from=resumed_from,
            device="cpu",
            pid=4242,
            versions={"torch": "2.13.0", "transformers": "5.0.0"},
        )

    def log(
        self, step: int, *, example: dict[str, Any] | bool | None = True, **over: Any
    ) -> dict[str, Any]:
        """A log-tier event at ``step`` (the clock moves on by the time those steps took)."""
        if step > self.step:
            self.advance((step - self.step) / self.steps_per_s)
        self.step = step
        if example is True:
            word = self.rng.choice(_WORDS)
            example = {
                "index": self.rng.randrange(5000),
                "prompt": f"Split the word '{word}' into syllables.",
                "golden": _syllables(word),
                "prompt_tokens": 12,
                "golden_tokens": 5,
                "loss": round(self.train_loss(step) * self.rng.uniform(0.8, 1.2), 4),
            }
        fields_ = dict(
            total_steps=self.max_steps,
            epoch=round(step / 625, 4),
            loss=self.train_loss(step),
            lr=2e-4 * (1 - step / self.max_steps),
            grad_norm=round(self.rng.uniform(0.5, 1.5), 3),
            steps_per_s=self.steps_per_s,
            tokens_per_s=round(self.steps_per_s * 2048, 1),
            eta_s=round((self.max_steps - step) / self.steps_per_s, 1),
            elapsed_s=round(self.elapsed, 3),
            peak_mem_bytes=1_288_490_189,
            mem_kind="cpu_rss",
            example=example or None,
        )
        fields_.update(over)
        return self.emit("log", step, **fields_)

    def sample(
        self, sample: int, outcome: str, *, output: str | None = None, prompt: str | None = None
    ) -> dict[str, Any]:
        """One eval sample; ``outcome`` is match, miss or timeout."""
        word = _WORDS[sample % len(_WORDS)]
        golden = _syllables(word)
        if outcome == "timeout":
            out = None
        elif output is not None:
            out = output
        elif outcome == "match":
            out = f"<think>The word {word} has vowel groups; split after each.</think>{golden}"
        else:
            out = f"<think>Count the vowels in {word}.</think>{word[:3]}-{word[3:]}"
        return {
            "sample": sample,
            "index": sample * 7,
            "prompt": prompt if prompt is not None else f"Split the word '{word}' into syllables.",
            "golden": golden,
            "output": out,
            "match": None if out is None else outcome == "match",
            "prompt_tokens": 12,
            "golden_tokens": 5,
            "output_tokens": 0 if out is None else 20,
            "seconds": 60.0 if outcome == "timeout" else round(self.rng.uniform(0.5, 2.0), 2),
            "timed_out": outcome == "timeout",
        }

    def eval(self, step: int, outcomes: Sequence[str] | None = None, **over: Any) -> dict[str, Any]:
        """An eval round: timeout events for timed-out samples first, then the eval event."""
        outcomes = list(outcomes or ["match", "miss", "match", "match"][: self.eval_samples])
        samples = []
        for i, outcome in enumerate(outcomes):
            if outcome in ("timeout", "stall"):
                self.timeout(step, i, stall=outcome == "stall")
                samples.append(self.sample(i, "timeout"))
                continue
            self.counters.generations += 1
            self.counters.matches += outcome == "match"
            self.advance(1.0)
            samples.append(self.sample(i, outcome))
        self.counters.evals += 1
        val = self.val_loss(step)
        train = self.train_loss(step)
        matched = sum(s["match"] is True for s in samples)
        fields_ = dict(
            total_steps=self.max_steps,
            epoch=round(step / 625, 4),
            val_loss=val,
            train_loss=train,
            gap=round(val - train, 4),
            accuracy=round(matched / len(samples), 4) if samples else None,
            samples=samples,
            seconds=12.5,
        )
        fields_.update(over)
        return self.emit("eval", step, **fields_)

    def timeout(self, step: int, sample: int, *, stall: bool = False) -> dict[str, Any]:
        self.counters.generations += 1
        self.counters.timeouts += 1
        self.counters.stalls += stall
        self.advance(60.0)
        return self.emit(
            "timeout",
            step,
            sample=sample,
            limit_s=60.0,
            elapsed_s=60.0 if not stall else 75.2,
            tokens=143 if not stall else 3,
            partial="<think>Let me think about this very carefully, step by step"
            if not stall
            else None,
            stall=stall,
        )

    def checkpoint(self, step: int, **over: Any) -> dict[str, Any]:
        self.counters.checkpoints += 1
        self.advance(2.0)
        path = f"runs/demo/checkpoint-{step}"
        return self.emit("checkpoint", step, path=path, seconds=1.8, **over)

    def anomaly(
        self,
        step: int,
        kind: str = "loss_spike",
        *,
        value: float | None = 9.5,
        threshold: float | None = 3.25,
        examples: Sequence[dict[str, Any]] | None = None,
        batch_examples: int = 8,
    ) -> dict[str, Any]:
        """An ``anomaly`` event for ``step`` (the trainer writes it at the next log step)."""
        self.counters.anomalies += 1
        if examples is None:
            examples = [
                {
                    "index": 100 + i,
                    "prompt": f"Split the word '{_WORDS[i]}' into syllables.",
                    "golden": _syllables(_WORDS[i]),
                    "loss": 9.5 if i == 0 else None,
                }
                for i in range(3)
            ]
        return self.emit(
            "anomaly",
            step,
            kind=kind,
            value=value,
            threshold=threshold,
            examples=list(examples),
            batch_examples=batch_examples,
        )

    def resume(
        self, step: int, reason: str = "restarted by supervisor after a crash"
    ) -> dict[str, Any]:
        self.step = step
        return self.emit(
            "resume", step, from_checkpoint=f"runs/demo/checkpoint-{step}", reason=reason
        )

    def run_end(self, status: str = "completed", reason: str | None = None) -> dict[str, Any]:
        return self.emit(
            "run_end", self.step, status=status, reason=reason, elapsed_s=round(self.elapsed, 3)
        )

    def error(self, message: str, error_type: str = "RuntimeError") -> dict[str, Any]:
        return self.emit("error", self.step, error_type=error_type, message=message, traceback=None)

    def train(
        self,
        start: int,
        stop: int,
        *,
        log_every: int = 10,
        eval_every: int = 200,
        save_every: int = 400,
        eval_outcomes: Sequence[str] | None = None,
    ) -> None:
        """Log steps (start, stop], with evals and checkpoints at their cadence, in trainer order."""
        first = (start // log_every + 1) * log_every
        for step in range(first, stop + 1, log_every):
            self.log(step)
            if step % eval_every == 0:
                self.eval(step, eval_outcomes)
            if step % save_every == 0:
                self.checkpoint(step)


def token_example(
    tokens: Sequence[tuple[str, bool, float | None, bool]],
    *,
    prompt_tokens: int,
    golden_tokens: int,
    prompt: str = "Split the word 'pocket' into syllables.",
    golden: str = "po-cket",
    index: int | None = 7,
    cut: dict[str, int] | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    """A log example with its ``tokens`` (text, trained, loss, special), as the log tier writes it."""
    losses = [loss if trained else None for _, trained, loss, _ in tokens]
    known = [x for x in losses if x is not None]
    return {
        "index": index,
        "prompt": prompt,
        "golden": golden,
        "prompt_tokens": prompt_tokens,
        "golden_tokens": golden_tokens,
        "loss": round(sum(known) / len(known), 4) if known else None,
        "tokens": {
            "text": [t[0] for t in tokens],
            "trained": [t[1] for t in tokens],
            "loss": losses,
            "special": [t[3] for t in tokens],
            "count": count if count is not None else len(tokens),
            "cut": cut,
        },
    }


#: A ChatML example, masked right: the answer ``po-cket`` and its ``<|im_end|>`` train.
_CHATML_PROMPT = [
    "<|im_start|>", "user", "\n", "Split", " the", " word", " '", "pocket", "'", " into",
    " syllables", ".", "<|im_end|>", "\n", "<|im_start|>", "assistant", "\n",
]  # fmt: skip
_CHATML_ANSWER = [("po", 0.21), ("-", 0.05), ("cket", 4.73), ("<|im_end|>", 0.02)]


def chatml_tokens(mask: str = "right") -> dict[str, Any]:
    """The ChatML example's log ``example``: ``mask`` right, or wrong in one way on purpose.

    ``answer_masked``: ``cket`` (an answer token) carries no label;
    ``prompt_trained``: ``pocket`` in the prompt is trained; ``double_bos``:
    two ``<s>`` before the template (a tokenizer BOS and the template's);
    ``eot_masked``: the answer's ``<|im_end|>`` is not trained.
    """
    special = {"<|im_start|>", "<|im_end|>", "<s>"}
    toks: list[tuple[str, bool, float | None, bool]] = [
        (t, False, None, t in special) for t in _CHATML_PROMPT
    ]
    toks += [(t, True, loss, t in special) for t, loss in _CHATML_ANSWER]
    toks.append(("\n", False, None, False))
    answer_start = len(_CHATML_PROMPT)
    if mask == "answer_masked":
        toks[answer_start + 2] = ("cket", False, None, False)
    elif mask == "prompt_trained":
        toks[7] = ("pocket", True, 2.5, False)
    elif mask == "double_bos":
        toks = [("<s>", False, None, True), ("<s>", False, None, True), *toks]
        answer_start += 2
    elif mask == "eot_masked":
        toks[answer_start + 3] = ("<|im_end|>", False, None, True)
    elif mask != "right":
        raise ValueError(f"unknown mask {mask!r}")
    golden_tokens = 4 if mask not in ("eot_masked",) else 3
    return token_example(toks, prompt_tokens=answer_start, golden_tokens=golden_tokens)


def with_tokens(path: str | Path, mask: str = "right", **kwargs: Any) -> RunWriter:
    """Mid-run (step 400) whose newest log example carries its tokens (``chatml_tokens(mask)``)."""
    run = mid_run(path, step=400, **kwargs)
    run.log(410, example=chatml_tokens(mask))
    return run


#: Sample 0's output at each round of ``prompt_rounds``: it gets closer, matches at 800, slips.
ROUND_OUTPUTS = ("pock-et", "po-ket", "po-cket", "po-cket", "po-ckett")


def prompt_rounds(path: str | Path, **kwargs: Any) -> RunWriter:
    """Evals at 200 … 1000 whose prompt 0 (``pocket``) reads ROUND_OUTPUTS; first match at 600."""
    run = RunWriter(path, **kwargs)
    run.run_start()
    for k, output in enumerate(ROUND_OUTPUTS):
        step = 200 * (k + 1)
        run.train(step - 200, step - 10, eval_every=10**9, save_every=10**9)
        run.log(step)
        samples = [
            {
                **run.sample(0, "match" if output == "po-cket" else "miss", output=output),
                "prompt": "Split the word 'pocket' into syllables.",
                "golden": "po-cket",
            },
            run.sample(1, "miss"),
        ]
        run.counters.generations += 2
        run.counters.matches += output == "po-cket"
        run.counters.evals += 1
        run.emit(
            "eval",
            step,
            total_steps=run.max_steps,
            epoch=round(step / 625, 4),
            val_loss=0.8,
            train_loss=0.7,
            gap=0.1,
            accuracy=0.5 if output == "po-cket" else 0.0,
            samples=samples,
            seconds=3.0,
        )
    return run


def with_health(path: str | Path, **kwargs: Any) -> RunWriter:
    """Best eval at 400 (its checkpoint kept), spikes at 455 and a NaN loss at 690; overfitting at 800.

    The gaps (0.05, 0.02, 0.04, 0.07, 0.11 at 200 … 1000) widen three evals in a row at 1000.
    """
    run = RunWriter(path, **kwargs)
    run.run_start(monitor={"log_steps": 10, "overfit_evals": 3})
    gaps = {200: 0.05, 400: 0.02, 600: 0.04, 800: 0.07, 1000: 0.11}
    vals = {200: 0.9, 400: 0.7, 600: 0.72, 800: 0.75, 1000: 0.8}
    best = {"metric": "val_loss", "value": 0.9, "step": 200, "checkpoint": None}
    for step in range(10, 1010, 10):
        run.log(step)
        if step == 460:
            run.anomaly(455, value=9.5, threshold=3.25)
        if step == 690:
            run.anomaly(690, "nonfinite_loss", value=None, threshold=None, batch_examples=4)
        if step in gaps:
            is_best = vals[step] < (best["value"] or 0) or step == 200
            if is_best:
                best = {"metric": "val_loss", "value": vals[step], "step": step, "checkpoint": None}
            run.eval(
                step,
                val_loss=vals[step],
                train_loss=round(vals[step] - gaps[step], 4),
                gap=gaps[step],
                best=dict(best),
                is_best=is_best,
            )
            if is_best:
                run.checkpoint(step, best=True)
                best["checkpoint"] = f"runs/demo/checkpoint-{step}"
    return run


def append_raw(path: str | Path, data: bytes) -> None:
    """Append bytes that are not an event (garbage, half lines): what a disk or a bug can leave."""
    with open(path, "ab") as fh:
        fh.write(data)


# -- scenarios ------------------------------------------------------------------


def mid_run(path: str | Path, *, step: int = 1200, **kwargs: Any) -> RunWriter:
    """A run in training at ``step`` of 2000 (evals every 200, checkpoints every 400)."""
    run = RunWriter(path, **kwargs)
    run.run_start()
    run.train(0, step)
    return run


def with_timeouts(path: str | Path, **kwargs: Any) -> RunWriter:
    """A run whose latest eval (step 1000) had a timeout (sample 1) and a stall (sample 3)."""
    run = RunWriter(path, **kwargs)
    run.run_start()
    run.train(0, 990)
    run.log(1000)
    run.eval(1000, ["match", "timeout", "miss", "stall"])
    return run


def finished(path: str | Path, **kwargs: Any) -> RunWriter:
    """A completed run of 2000 steps."""
    run = RunWriter(path, **kwargs)
    run.run_start()
    run.train(0, 2000)
    run.run_end("completed")
    return run


def resumed(path: str | Path, **kwargs: Any) -> RunWriter:
    """Crash after step 650 (checkpoint at 600), resumed at 600, trained on to 800.

    The file holds log events for steps 610..650 twice: before the crash and
    again after the seam. A reader must count each step once.
    """
    run = RunWriter(path, **kwargs)
    run.run_start()
    run.train(0, 600, save_every=200)
    for step in range(610, 660, 10):  # lost work: done again after the resume
        run.log(step, loss=9.0)
    run.error("CUDA error: an illegal memory access was encountered")
    run.advance(30.0)
    run.w.counters.checkpoints = 3  # counters as restored from the step-600 checkpoint
    run.resume(600)
    run.run_start(resumed_from="runs/demo/checkpoint-600", step=600)
    run.train(600, 800, save_every=200)
    return run


def runs_folder(root: str | Path) -> dict[str, RunWriter]:
    """A folder of three runs (``root/<name>/status/events.jsonl``), each writer kept open.

    a: finished; b: resumed, at step 800; c: a timeout at its last eval (step 1000).
    """
    root = Path(root)
    for name in ("a", "b", "c"):
        (root / name / "status").mkdir(parents=True, exist_ok=True)
    return {
        "a": finished(root / "a/status/events.jsonl"),
        "b": resumed(root / "b/status/events.jsonl", run_id="20231114-221320-bbbbbb"),
        "c": with_timeouts(root / "c/status/events.jsonl", run_id="20231114-221320-cccccc"),
    }


def huge(path: str | Path, events: int, *, example_chars: int = 700, seed: int = 1) -> int:
    """Write about ``events`` events (a long run); returns the number written.

    Uses the real writer and validates each event like every scenario, so it
    takes a while for millions of events; benchmarks cache the file.
    """
    run = RunWriter(path, max_steps=10 * events, seed=seed)
    run.run_start()
    written = 1
    filler = ("lorem ipsum dolor sit amet " * (example_chars // 27 + 1))[:example_chars]
    step = 0
    while written < events:
        step += 10
        run.log(
            step,
            example={
                "index": step % 5000,
                "prompt": f"Split the word '{_WORDS[step % 12]}' into syllables. {filler}",
                "golden": _syllables(_WORDS[step % 12]),
                "prompt_tokens": 200,
                "golden_tokens": 5,
                "loss": 0.5,
            },
        )
        written += 1
        if step % 2000 == 0 and written < events:
            run.eval(step)
            written += 1
        if step % 5000 == 0 and written < events:
            run.checkpoint(step)
            written += 1
    run.close()
    return written


#: Model output that tries to talk to the terminal and to Textual's markup.
INJECTION = "\x1b]52;c;SGVsbG8=\x07 clipboard \x1b[2J clear [bold red]x[/] [@click=app.quit]boom[/]"


def inject(run: RunWriter, step: int) -> dict[str, Any]:
    """An eval whose sample 0 output (and prompt) carry escape sequences and markup."""
    run.log(step)
    run.counters.generations += 1
    sample = run.sample(0, "miss", output=INJECTION, prompt="prompt \x1b[31mred\x1b[0m [b]bold[/b]")
    run.counters.evals += 1
    return run.emit(
        "eval",
        step,
        total_steps=run.max_steps,
        epoch=1.0,
        val_loss=0.6,
        train_loss=0.5,
        gap=0.1,
        accuracy=0.0,
        samples=[sample],
        seconds=1.0,
    )


def injected_tokens() -> dict[str, Any]:
    """The ChatML example with an answer token masked and INJECTION in a trained token."""
    example = chatml_tokens("answer_masked")
    example["tokens"]["text"][18] = INJECTION[:18]  # the "-" of "po-cket": an OSC 52
    example["tokens"]["text"][3] = "[bold]Split\u202e"  # markup and a bidi override
    return example


def near_miss(run: RunWriter, step: int) -> dict[str, Any]:
    """An eval round whose prompt 0 (golden ``POCKET``) was answered ``POKET``, then INJECTION."""
    run.log(step)
    samples = [
        {**run.sample(0, "miss", output="POKET"), "golden": "POCKET", "prompt": "pocket?"},
        {**run.sample(1, "miss", output=INJECTION), "golden": "[b]x[/b]"},
    ]
    run.counters.generations += 2
    run.counters.evals += 1
    return run.emit(
        "eval",
        step,
        total_steps=run.max_steps,
        epoch=1.0,
        val_loss=0.6,
        train_loss=0.5,
        gap=0.1,
        accuracy=0.0,
        samples=samples,
        seconds=1.0,
    )


def _serve(path: str) -> None:
    """A writer process for end-to-end tests: one command a line on stdin, "ok <time>" after each.

    Commands: ``mid_run`` (write the mid-run scenario), ``log STEP``, ``inject STEP``,
    ``eval STEP`` (an eval round), ``tokens STEP`` (a token-by-token example, its mask
    wrong, untrusted text in its tokens), ``near_miss STEP`` (POKET for POCKET), ``quit``.
    """
    import sys
    import time

    run: RunWriter | None = None
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "quit":
            break
        if cmd == "mid_run":
            run = mid_run(path)
        elif run is None:
            raise SystemExit(f"eventgen serve: {cmd!r} before mid_run")
        elif cmd == "log":
            run.log(int(rest[0]))
        elif cmd == "inject":
            inject(run, int(rest[0]))
        elif cmd == "eval":
            run.eval(int(rest[0]))
        elif cmd == "tokens":  # a log step whose example is token by token, mask wrong on purpose
            run.log(int(rest[0]), example=injected_tokens())
        elif cmd == "near_miss":  # an eval round, prompt 0 answered POKET for POCKET
            near_miss(run, int(rest[0]))
        else:
            raise SystemExit(f"eventgen serve: unknown command {cmd!r}")
        print(f"ok {time.time():.6f}", flush=True)
    if run is not None:
        run.close()


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        raise SystemExit("usage: python tests/eventgen.py serve EVENTS_FILE")
    _serve(sys.argv[2])
