"""Bounded generation in batches: the same tokens as one at a time, and the timeout kept per row.

Real tiny models (conftest's, float32 on the CPU) and the eval prompts syllo
itself encodes from the puzzle data. Time is a FakeClock the test moves
(_generation_support.py): a verdict is a fact of the test, never of the
machine's load.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest
from _generation_support import TOKEN_S, FakeClock, no_eos, slow_down, wait_until

from syllo_train.generation import (
    StallInfo,
    StallWatchdog,
    check_eval_budget,
    generate_batch_bounded,
    generate_bounded,
    run_eval_round,
    worst_case_round_s,
)

MAX_NEW = 24


def load(model_dir: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return model, AutoTokenizer.from_pretrained(model_dir)


def widen(model: Any, std: float = 0.3, seed: int = 0) -> Any:
    """Redraw the weights wider than a fresh model's (std 0.02).

    A freshly initialised model answers every prompt with the same token over
    and over, which no padding or masking mistake could change; with wider
    weights each prompt gets a continuation of its own, so a batch that let
    padding leak into attention or positions would differ from the prompt
    generated alone.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


def eval_prompts(model_dir: Path, tok: Any, make_config: Any, tmp_path: Path) -> list[list[int]]:
    """The generation prompts syllo encodes (train and val records: lengths differ)."""
    from syllo_train.config import load_config
    from syllo_train.prepare import prepare_data

    cfg = load_config(make_config(tmp_path, model={"name_or_path": str(model_dir)}))
    data = prepare_data(cfg, tok)
    prompts = [enc.prompt_ids for enc in [*data.val.items, *data.train.items]][:24]
    assert len({len(p) for p in prompts}) >= 4, "the prompts should need padding"
    return prompts


def greedy_alone(model: Any, tok: Any, prompt: list[int]) -> list[int]:
    """Plain transformers, one prompt, greedy: the reference (no syllo code involved)."""
    import torch

    out = model.generate(
        input_ids=torch.tensor([prompt]),
        attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
        max_new_tokens=MAX_NEW,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
    )
    return list(out[0, len(prompt) :].tolist())


def first_difference(want: list[int], got: tuple[int, ...]) -> int | None:
    for k in range(max(len(want), len(got))):
        if k >= len(want) or k >= len(got) or want[k] != got[k]:
            return k
    return None


@pytest.mark.parametrize("which", ["tiny_model_dir", "tiny_chat_model_dir"])
def test_batches_give_the_tokens_of_one_at_a_time_greedy(
    which: str, request: pytest.FixtureRequest, make_config: Any, tmp_path: Path
) -> None:
    model_dir = request.getfixturevalue(which)
    model, tok = load(model_dir)
    widen(model)
    prompts = eval_prompts(model_dir, tok, make_config, tmp_path)
    # A second end-of-sequence id, one the model writes early in some answers and
    # late or never in others: the rows of a batch then end at different steps.
    seen = collections.Counter(t for p in prompts for t in set(greedy_alone(model, tok, p)[2:]))
    eos = [tok.eos_token_id, seen.most_common(1)[0][0]]
    model.generation_config.eos_token_id = eos
    reference = [greedy_alone(model, tok, p) for p in prompts]
    lengths = collections.Counter(len(r) for r in reference)
    assert len(lengths) >= 3 and lengths[MAX_NEW] >= 1, lengths  # rows end apart

    for batch_size in (1, 5, len(prompts)):
        results = run_eval_round(
            model,
            tok,
            prompts,
            max_new_tokens=MAX_NEW,
            timeout_s=60,
            batch_size=batch_size,
            clock=FakeClock(),
        )
        for i, (want, res) in enumerate(zip(reference, results, strict=True)):
            k = first_difference(want, res.token_ids)
            assert k is None, (
                f"batch size {batch_size}, prompt {i} ({tok.decode(prompts[i])!r}): first "
                f"difference at new token {k}: alone {want[k : k + 1]}, batched {list(res.token_ids[k : k + 1])}"
            )
            assert not res.timed_out and res.tokens == len(want)
            assert res.output == tok.decode(want, skip_special_tokens=True)
            assert res.finished_eos == (want[-1] in eos)


# --- one row that cannot finish ----------------------------------------------------------


def finishing_rows(ends: dict[int, int]) -> Any:
    """A StoppingCriteria that ends row r after ``ends[r]`` new tokens (other rows: never)."""
    import torch
    from transformers import StoppingCriteria

    class FinishRows(StoppingCriteria):
        def __init__(self) -> None:
            self.prompt_len: int | None = None

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            if self.prompt_len is None:
                self.prompt_len = int(input_ids.shape[1]) - 1
            new = int(input_ids.shape[1]) - self.prompt_len
            return torch.tensor([ends.get(r, 10**9) <= new for r in range(input_ids.shape[0])])

    return FinishRows()


def eos_at(ends: dict[int, int], eos_id: int, batch: int) -> Any:
    """A LogitsProcessor: row r writes EOS as its ``ends[r]``-th token; no other row ever may."""
    from transformers import LogitsProcessor

    class ScriptedEos(LogitsProcessor):
        def __init__(self) -> None:
            self.step = 0

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            self.step += 1
            scores = scores.clone()
            for r in range(batch):
                if ends.get(r) == self.step:
                    keep = scores[r, eos_id].clone()
                    scores[r, :] = -float("inf")
                    scores[r, eos_id] = keep if keep > -float("inf") else 0.0
                else:
                    scores[r, eos_id] = -float("inf")
            return scores

    return ScriptedEos()


@pytest.fixture()
def slow(tiny_model_dir: Path) -> tuple[Any, Any, FakeClock, list[float]]:
    model, tok = load(tiny_model_dir)
    widen(model)
    clock = FakeClock()
    return model, tok, clock, slow_down(model, clock)


PROMPTS = ["Tiles: pup | py", "Tiles: car | rot\n1. ___ ___", "Tiles: hon", "Tiles: bub | ble | x"]


@pytest.mark.parametrize("how", ["eos", "stopping_criteria"])
def test_a_row_that_never_finishes_times_out_alone_and_on_time(
    how: str, slow: tuple[Any, Any, FakeClock, list[float]]
) -> None:
    model, tok, clock, starts = slow
    prompts = [tok(t)["input_ids"] for t in PROMPTS]
    ends = {0: 2, 1: 3, 2: 5}  # row 3 never ends by itself
    limit = 0.5  # 8 tokens of TOKEN_S
    if how == "eos":
        # Rows 0-2 end at a real end-of-sequence token, row 3 can never write one.
        kwargs: dict[str, Any] = {"logits_processor": [eos_at(ends, tok.eos_token_id, 4)]}
    else:
        # A model with no end-of-sequence at all: generate gives a finished row
        # more tokens, which must not count; a caller's criterion ends rows 0-2.
        model.generation_config.eos_token_id = None
        kwargs = {"stopping_criteria": [finishing_rows(ends)], **no_eos(tok)}
    start = clock()
    results = generate_batch_bounded(
        model, tok, prompts, max_new_tokens=500, timeout_s=limit, clock=clock, **kwargs
    )

    stuck = results[3]
    assert stuck.timed_out and not stuck.stalled and stuck.output is None
    assert stuck.tokens == 8 and stuck.partial  # the token that crossed the limit is its last
    assert limit <= stuck.seconds <= limit + TOKEN_S  # on time: within one token
    assert starts[-1] - start < limit  # no forward pass started at or after the limit
    for r, n in ends.items():
        res = results[r]
        assert not res.timed_out and res.output is not None, (r, res)
        assert res.tokens == n and res.seconds == n * TOKEN_S  # its own end, not the batch's
        # Its output is what the same prompt gives alone, cut where the row ended.
        text = generate_bounded(
            model,
            tok,
            prompts[r],
            max_new_tokens=n - 1 if how == "eos" else n,
            timeout_s=60,
            clock=FakeClock(),
            **no_eos(tok),
        ).output
        assert res.output == text and res.finished_eos == (how == "eos")


def test_round_budget_with_batches(slow: tuple[Any, Any, FakeClock, list[float]]) -> None:
    model, tok, clock, starts = slow
    prompts = [tok(t)["input_ids"] for t in [*PROMPTS, "the cat", "the dog"]]
    limit, budget = 0.375, 0.5
    seen: list[int] = []
    start = clock()
    results = run_eval_round(
        model,
        tok,
        prompts,
        max_new_tokens=500,
        timeout_s=limit,
        round_budget_s=budget,
        batch_size=2,
        on_result=lambda i, r: seen.append(i),
        clock=clock,
        **no_eos(tok),
    )
    assert seen == [0, 1, 2, 3, 4, 5]
    # Batch 1 (rows 0, 1): the full limit, 6 tokens each, one forward pass a token.
    assert [(r.tokens, r.limit_s, r.timed_out) for r in results[:2]] == [(6, limit, True)] * 2
    # Batch 2: what the budget had left, 0.125 s: two tokens.
    assert [(r.tokens, r.limit_s) for r in results[2:4]] == [(2, budget - limit)] * 2
    # Batch 3: nothing left, skipped without a forward pass.
    assert all(r.skipped and r.tokens == 0 for r in results[4:])
    assert len(starts) == 8 and clock() - start == budget


def test_watchdog_reports_the_rows_still_running_while_the_batch_is_stuck(
    slow: tuple[Any, Any, FakeClock, list[float]], tmp_path: Path
) -> None:
    model, tok, clock, starts = slow
    prompts = [tok(t)["input_ids"] for t in PROMPTS[:3]]
    limit, grace = 0.5, 0.25
    on_disk = tmp_path / "stalls.log"
    infos: list[StallInfo] = []

    def on_stall(info: StallInfo) -> None:
        infos.append(info)
        on_disk.write_text(f"rows={list(info.rows)} tokens={info.tokens_so_far}\n")

    seen_while_stuck: list[str] = []

    def hang_third_pass(module: Any, args: Any) -> None:
        if len(starts) == 3:  # the forward pass that makes the 3rd token hangs
            clock.advance(3 * limit)
            wait_until(on_disk.exists, "the watchdog to report the stall")
            seen_while_stuck.append(on_disk.read_text())

    model.register_forward_pre_hook(hang_third_pass)
    with StallWatchdog(on_stall, grace_s=grace, poll_s=0.01, clock=clock) as watchdog:
        results = generate_batch_bounded(
            model,
            tok,
            prompts,
            max_new_tokens=500,
            timeout_s=limit,
            watchdog=watchdog,
            labels=[10, 11, 12],
            stopping_criteria=[finishing_rows({0: 1})],  # row 0 is done after one token
            **no_eos(tok),
        )
    # Reported once, while stuck, naming the two rows still generating.
    assert seen_while_stuck == ["rows=[11, 12] tokens=2\n"] and len(infos) == 1
    # Three forward passes began (each TOKEN_S), the third then hung for 3 × limit.
    assert infos[0].label == (10, 11, 12) and infos[0].elapsed_s == 3 * TOKEN_S + 3 * limit
    done, *stuck = results
    assert not done.timed_out and not done.stalled and done.tokens == 1 and done.output
    for res in stuck:
        assert res.stalled and res.timed_out and res.output is None and res.tokens == 3


def test_batch_arguments_are_checked(slow: tuple[Any, Any, FakeClock, list[float]]) -> None:
    model, tok, _, _ = slow
    p = tok("the cat")["input_ids"]
    with pytest.raises(ValueError, match="no prompts"):
        generate_batch_bounded(model, tok, [], max_new_tokens=2, timeout_s=1)
    with pytest.raises(ValueError, match="prompt is empty"):
        generate_batch_bounded(model, tok, [p, []], max_new_tokens=2, timeout_s=1)
    with pytest.raises(ValueError, match="one distinct label per prompt"):
        generate_batch_bounded(model, tok, [p, p], max_new_tokens=2, timeout_s=1, labels=[1, 1])
    with pytest.raises(ValueError, match=r"monitor\.generation_batch_size"):
        run_eval_round(model, tok, [p], max_new_tokens=2, timeout_s=1, batch_size=0)


# --- the worst case of a round ------------------------------------------------------------


def test_worst_case_counts_batches_not_prompts() -> None:
    # 10 prompts in batches of 4: 3 batches, each up to its limit plus the grace.
    assert worst_case_round_s(10, 60, 0, 5, batch_size=4) == 3 * 65
    assert worst_case_round_s(10, 60, 0, 5) == 10 * 65  # one at a time
    assert worst_case_round_s(10, 60, 100, 5, batch_size=4) == 105  # the round budget caps it
    # A round that would not fit one at a time fits in batches...
    assert check_eval_budget(8, 60, 0, 300, 5) is not None
    assert check_eval_budget(8, 60, 0, 300, 5, batch_size=4) is None
    # ...and the message names the batch size as one way out.
    msg = check_eval_budget(8, 60, 0, 100, 5, batch_size=4)
    assert msg is not None and "monitor.generation_batch_size" in msg and "130" in msg
