"""Bounded generation, one prompt at a time: real tiny models, hangs on a clock the test moves.

Batches are test_generation_batches.py's; the watchdog alone is test_watchdog.py's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _generation_support import TOKEN_S, FakeClock, no_eos, slow_down, wait_until
from _support import WAIT_S

from syllo_train.generation import (
    GenerationResult,
    StallInfo,
    StallWatchdog,
    check_eval_budget,
    generate_bounded,
    run_eval_round,
)

TEXTS = [f"the cat sat on the mat number {i} and then the dog ran after it" for i in range(200)]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from syllo_train.demo.tiny_model import build_tiny_model

    return build_tiny_model(TEXTS, tmp_path_factory.mktemp("tiny-model"), preset="tiny")


@pytest.fixture()
def loaded(model_dir: Path) -> Iterator[tuple[Any, Any]]:
    """A fresh, warmed-up model per test, so hooks and modes never leak between tests."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # One intra-op thread: a 64-wide model gains nothing from more, and spinning
    # worker threads on an oversubscribed CI box turn a 2 ms step into 500 ms.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    # generate()'s first call pays one-off setup; keep it out of the timed runs.
    generate_bounded(model, tok, prompt(tok), max_new_tokens=2, timeout_s=60)
    try:
        yield model, tok
    finally:
        torch.set_num_threads(threads)


def prompt(tok: Any, text: str = "the cat sat") -> list[int]:
    return tok(text)["input_ids"]


def bounded_run(
    model: Any, tok: Any, clock: FakeClock, starts: list[float], limit: float
) -> GenerationResult:
    """One generation with ``limit`` on a slowed model; checks the guarantee."""
    del starts[:]
    called = clock()
    result = generate_bounded(
        model, tok, prompt(tok), max_new_tokens=500, timeout_s=limit, clock=clock, **no_eos(tok)
    )
    assert result.timed_out and not result.stalled
    assert result.output is None
    assert isinstance(result.partial, str) and result.partial
    assert result.tokens == len(starts) > 0
    # The mechanism: a token is checked as soon as it exists, so no forward pass
    # starts at or after the deadline...
    assert starts[-1] - called < limit, (starts[-1] - called, result)
    # ...so the generation ends at most one token after the limit: here, as the
    # token that crossed it arrives.
    assert limit <= result.seconds <= limit + TOKEN_S, result
    return result


def test_slow_generation_is_cut_off_at_the_limit(loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    clock = FakeClock()
    starts = slow_down(model, clock)
    for _ in range(3):
        result = bounded_run(model, tok, clock, starts, 0.5)
        # Stopped by the clock, not by max_new_tokens: the 8th token reaches 0.5 s.
        assert result.tokens == 8 and result.seconds == 0.5
        assert result.limit_s == 0.5


def test_fast_generation_finishes_normally(loaded: tuple[Any, Any]) -> None:
    import torch

    model, tok = loaded
    # A clock that stands still: the verdict cannot depend on how fast the machine is.
    result = generate_bounded(
        model, tok, prompt(tok), max_new_tokens=12, timeout_s=30, clock=FakeClock()
    )
    assert not result.timed_out and not result.stalled
    assert isinstance(result.output, str) and result.output == result.partial
    assert 0 < result.tokens <= 12
    assert result.finished_eos or result.tokens == 12
    assert result.seconds == 0
    # Only the new tokens are decoded: the output is what follows the prompt.
    full = model.generate(input_ids=torch.tensor([prompt(tok)]), max_new_tokens=12, do_sample=False)
    assert result.output == tok.decode(full[0, len(prompt(tok)) :], skip_special_tokens=True)


def test_max_new_tokens_bounds_a_generation_that_never_ends(loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    result = generate_bounded(
        model, tok, prompt(tok), max_new_tokens=7, timeout_s=30, clock=FakeClock(), **no_eos(tok)
    )
    assert result.tokens == 7 and not result.timed_out and not result.finished_eos


def test_stall_inside_one_forward_is_reported_while_it_is_stuck(
    loaded: tuple[Any, Any], tmp_path: Path
) -> None:
    model, tok = loaded
    limit, grace = 0.5, 0.25
    clock = FakeClock()
    stall_log = tmp_path / "events.log"
    infos: list[StallInfo] = []
    threads: list[str] = []

    def on_stall(info: StallInfo) -> None:
        infos.append(info)
        threads.append(threading.current_thread().name)
        with open(stall_log, "a", encoding="utf-8") as fh:
            fh.write(f"stall sample={info.label} tokens={info.tokens_so_far}\n")
            fh.flush()

    calls = [0]
    on_disk_while_stuck: list[str] = []

    def hook(module: Any, args: Any) -> None:
        calls[0] += 1
        if calls[0] != 3:
            clock.advance(TOKEN_S)
            return
        # The forward pass that would produce the 3rd token hangs: its clock runs
        # far past limit + grace, and it stays stuck until the watchdog has put the
        # stall on disk (or the wait gives up and the test fails).
        clock.advance(3 * limit)
        wait_until(lambda: stall_log.exists(), "the watchdog to report the stall")
        on_disk_while_stuck.append(stall_log.read_text())

    model.register_forward_pre_hook(hook)
    with StallWatchdog(on_stall, grace_s=grace, poll_s=0.01, clock=clock) as watchdog:
        result = generate_bounded(
            model,
            tok,
            prompt(tok),
            max_new_tokens=500,
            timeout_s=limit,
            watchdog=watchdog,
            label=7,
            **no_eos(tok),
        )
        assert calls[0] == 3, f"the clock stopped generation after {calls[0]} tokens"
        assert on_disk_while_stuck == ["stall sample=7 tokens=2\n"]
        assert result.stalled and result.timed_out and result.output is None
        assert result.tokens == 3 and result.partial
        assert len(infos) == 1  # exactly once, though it stayed stuck for many polls
        info = infos[0]
        assert (info.label, info.limit_s, info.tokens_so_far) == (7, limit, 2)
        assert info.elapsed_s == 2 * TOKEN_S + 3 * limit  # noticed while still stuck
        assert threads == ["syllo-stall-watchdog"]

        # Training would go on: the next generation is normal, with the same watchdog.
        after = generate_bounded(
            model, tok, prompt(tok), max_new_tokens=5, timeout_s=30, watchdog=watchdog, label=8
        )
        assert not after.stalled and not after.timed_out and after.output is not None
        clock.advance(100)  # far past the second watch's fire time: it was disarmed
        time.sleep(0.1)  # a few of the watchdog's polls
        assert len(infos) == 1


def test_generation_from_a_worker_thread_is_bounded(loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    clock = FakeClock()
    starts = slow_down(model, clock)
    out: list[GenerationResult] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            out.append(bounded_run(model, tok, clock, starts, 0.5))
            with StallWatchdog(lambda info: None, grace_s=5, clock=clock) as wd:
                out.append(
                    generate_bounded(
                        model,
                        tok,
                        prompt(tok),
                        max_new_tokens=500,
                        timeout_s=0.5,
                        watchdog=wd,
                        **no_eos(tok),
                    )
                )
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(WAIT_S)
    assert not worker.is_alive()
    if errors:
        raise errors[0]
    assert len(out) == 2
    watched = out[1]
    assert watched.timed_out and not watched.stalled and watched.output is None
    assert watched.seconds == 0.5 and watched.tokens == 8


def test_round_budget_skips_the_samples_it_cannot_afford(loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    clock = FakeClock()
    starts = slow_down(model, clock)
    limit, budget = 0.375, 0.5
    seen: list[tuple[int, int]] = []  # (index, forward passes so far) as each result arrives
    prompts = [prompt(tok, t) for t in ("the cat", "the dog", "the mat", "ran after")]

    start = clock()
    results = run_eval_round(
        model,
        tok,
        prompts,
        max_new_tokens=500,
        timeout_s=limit,
        round_budget_s=budget,
        on_result=lambda i, r: seen.append((i, len(starts))),
        clock=clock,
        **no_eos(tok),
    )
    took = clock() - start

    assert [i for i, _ in seen] == [0, 1, 2, 3]
    assert len(results) == 4
    first, second = results[0], results[1]
    assert first.timed_out and first.limit_s == limit and not first.skipped
    assert first.tokens == 6  # 6 × 0.0625 s = the 0.375 s limit
    # The second sample got only what was left of the budget: 0.125 s, two tokens.
    assert second.timed_out and second.limit_s == budget - limit and second.tokens == 2
    for r in results[2:]:
        assert r.skipped and r.timed_out and r.output is None and r.partial == ""
        assert r.tokens == 0 and r.seconds == 0.0
    # Skipped samples ran no forward pass at all.
    assert seen[2][1] == seen[1][1] == seen[3][1] == 8
    assert took == budget


def test_round_without_budget_generates_every_prompt(loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    results = run_eval_round(
        model,
        tok,
        [prompt(tok), prompt(tok, "the dog")],
        max_new_tokens=4,
        timeout_s=30,
        clock=FakeClock(),
    )
    assert all(r.tokens == 4 or r.finished_eos for r in results)
    assert all(r.output is not None and not r.skipped for r in results)


def test_train_eval_modes_are_restored(loaded: tuple[Any, Any]) -> None:
    import torch

    model, tok = loaded
    model.train()
    frozen = model.model.layers[0]
    frozen.eval()  # a submodule deliberately in eval mode must stay so
    during: list[tuple[bool, bool]] = []
    model.register_forward_pre_hook(
        lambda m, a: during.append((m.training, torch.is_grad_enabled()))
    )

    generate_bounded(model, tok, prompt(tok), max_new_tokens=3, timeout_s=30)
    assert during and all(mode == (False, False) for mode in during)
    assert model.training and model.model.layers[1].training and not frozen.training
    assert torch.is_grad_enabled()

    model.eval()
    generate_bounded(model, tok, prompt(tok), max_new_tokens=3, timeout_s=30)
    assert not any(m.training for m in model.modules())


def test_modes_restored_when_generation_fails(loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    model.train()

    def boom(module: Any, args: Any) -> None:
        raise RuntimeError("simulated CUDA error")

    model.register_forward_pre_hook(boom)
    with pytest.raises(RuntimeError, match="simulated CUDA error"):
        generate_bounded(model, tok, prompt(tok), max_new_tokens=3, timeout_s=30)
    assert all(m.training for m in model.modules())


def test_tokenizer_without_pad_token(loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    tok.pad_token = None
    model.generation_config.pad_token_id = None
    model.config.pad_token_id = None
    assert tok.pad_token_id is None
    result = generate_bounded(
        model, tok, prompt(tok), max_new_tokens=5, timeout_s=30, clock=FakeClock()
    )
    assert result.output is not None and 0 < result.tokens <= 5


def test_bad_arguments_are_refused(loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    with pytest.raises(ValueError, match=r"monitor\.generation_timeout_s"):
        generate_bounded(model, tok, prompt(tok), max_new_tokens=3, timeout_s=0)
    with pytest.raises(ValueError, match=r"monitor\.max_new_tokens"):
        generate_bounded(model, tok, prompt(tok), max_new_tokens=0, timeout_s=1)
    with pytest.raises(ValueError, match="prompt is empty"):
        generate_bounded(model, tok, [], max_new_tokens=3, timeout_s=1)


# --- multi-process rule ------------------------------------------------------------


def test_check_eval_budget_refuses_a_round_longer_than_the_collective_timeout() -> None:
    msg = check_eval_budget(
        eval_samples=4, timeout_s=60, round_budget_s=0, pg_timeout_s=200, grace_s=5
    )
    assert msg is not None
    for key in (
        "monitor.eval_samples",
        "monitor.generation_timeout_s",
        "monitor.eval_timeout_s",
        "trainer_args.ddp_timeout",
    ):
        assert key in msg
    assert "260" in msg  # 4 × (60 + 5)

    msg = check_eval_budget(
        eval_samples=100, timeout_s=60, round_budget_s=2000, pg_timeout_s=1800, grace_s=5
    )
    assert msg is not None and "monitor.eval_timeout_s 2000" in msg


def test_check_eval_budget_accepts_rounds_that_fit() -> None:
    assert (
        check_eval_budget(
            eval_samples=4, timeout_s=60, round_budget_s=0, pg_timeout_s=1800, grace_s=5
        )
        is None
    )
    # 100 × 65 s would not fit, but the round budget caps it.
    assert (
        check_eval_budget(
            eval_samples=100, timeout_s=60, round_budget_s=600, pg_timeout_s=1800, grace_s=5
        )
        is None
    )
    # No collective timeout (single process): nothing to check.
    assert (
        check_eval_budget(
            eval_samples=100, timeout_s=60, round_budget_s=0, pg_timeout_s=0, grace_s=5
        )
        is None
    )
    with pytest.raises(ValueError, match=r"monitor\.generation_timeout_s"):
        check_eval_budget(
            eval_samples=1, timeout_s=-1, round_budget_s=0, pg_timeout_s=1800, grace_s=5
        )


def test_import_does_not_load_torch() -> None:
    code = "import sys, syllo_train.generation; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    )
    assert out.stdout.split() == ["False", "False"]
