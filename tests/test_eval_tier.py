"""The eval tier (tiers/eval_tier.py) on a real tiny model: batches, timeouts, stalls, the eval share, the budget.

The tier is driven directly (``EvalTier.run``), with the run's own config,
data, tokenizer, model and Reporter; generation time is a FakeClock the test
moves (_generation_support.py), so which prompt times out is a fact of the
test. What is checked is what a reader sees: the events file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _generation_support import TOKEN_S, FakeClock, wait_until
from _support import decode_events

from syllo_train import derived
from syllo_train.events import validate_event
from syllo_train.tiers.eval_budget import RoundCost


@dataclass
class Tier:
    tier: Any
    model: Any
    clock: FakeClock
    events_path: Path

    def events(self, etype: str | None = None) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        events = decode_events(self.events_path)
        assert all(validate_event(e) == [] for e in events)
        return [e for e in events if etype is None or e["type"] == etype]


def make_tier(tmp_path: Path, make_config: Any, **monitor: Any) -> Tier:
    import torch

    from syllo_train.config import load_config
    from syllo_train.prepare import load_model, load_tokenizer, prepare_data
    from syllo_train.sinks.reporter import Reporter
    from syllo_train.tiers.eval_prompts import from_encoded
    from syllo_train.tiers.eval_tier import EvalTier
    from syllo_train.tiers.timing import TrainClock
    from syllo_train.tiers.validation import ValidationLoss

    torch.set_num_threads(1)
    settings = {"eval_samples": 4, "generation_batch_size": 4, "max_new_tokens": 64, **monitor}
    cfg = load_config(make_config(tmp_path, monitor=settings))
    tok = load_tokenizer(cfg)
    data = prepare_data(cfg, tok)
    model = load_model(cfg, use_cuda=False)
    reporter = Reporter(tmp_path / "status", echo=None)
    clock = FakeClock()
    train_clock = TrainClock()
    train_clock.start(0)
    tier = EvalTier(
        reporter,
        cfg.monitor,
        tokenizer=tok,
        prompts=from_encoded(data.val, data.eval_prompt_ids),
        validation=ValidationLoss(
            data.val, data.val_loss_ids, pad_token_id=tok.pad_token_id, batch_size=8
        ),
        clock=train_clock,
        max_steps=10,
        rank=0,
        world_size=1,
        gen_clock=clock,
    )
    return Tier(tier, model, clock, tmp_path / "status" / "events.jsonl")


def on_generation_passes(model: Any, hook: Any) -> None:
    """Call ``hook()`` before each forward pass of generate (not the validation-loss ones)."""

    def pre(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        if "use_cache" in kwargs:  # generate's passes; the validation loss passes no cache
            hook()

    model.register_forward_pre_hook(pre, with_kwargs=True)


def test_every_timed_out_prompt_of_a_batch_is_one_timeout_event(
    tmp_path: Path, make_config: Any
) -> None:
    t = make_tier(tmp_path, make_config, generation_timeout_s=0.5)
    # The fresh tiny model never writes EOS in 64 tokens: at TOKEN_S a token, every
    # row of the one batch is still running at the 0.5 s limit.
    on_generation_passes(t.model, lambda: t.clock.advance(TOKEN_S))
    t.tier.run(t.model, 3, 0.1)

    timeouts = t.events("timeout")
    assert sorted(e["sample"] for e in timeouts) == [0, 1, 2, 3]  # one each
    assert all(not e["stall"] and e["tokens"] == 8 and e["partial"] for e in timeouts)
    assert all(e["limit_s"] == 0.5 and e["elapsed_s"] == 0.5 for e in timeouts)
    (ev,) = t.events("eval")
    assert [(s["output"], s["timed_out"]) for s in ev["samples"]] == [(None, True)] * 4
    assert (ev["counters"]["timeouts"], ev["counters"]["generations"]) == (4, 4)


def test_a_stuck_batch_is_reported_once_per_prompt_while_stuck(
    tmp_path: Path, make_config: Any
) -> None:
    t = make_tier(tmp_path, make_config, generation_timeout_s=0.5, stall_grace_s=0.25)
    passes = [0]
    stalls_seen_while_stuck: list[int] = []

    def pace() -> None:
        passes[0] += 1
        t.clock.advance(TOKEN_S)
        if passes[0] == 3:  # the third token's forward pass hangs
            t.clock.advance(10.0)
            wait_until(lambda: len(t.events("timeout")) == 4, "the watchdog's stall events")
            stalls_seen_while_stuck.append(len(t.events("timeout")))

    on_generation_passes(t.model, pace)
    t.tier.run(t.model, 3, 0.1)

    assert stalls_seen_while_stuck == [4]  # on disk while the forward pass was stuck
    timeouts = t.events("timeout")
    assert sorted(e["sample"] for e in timeouts) == [0, 1, 2, 3]  # and nothing more after
    assert all(e["stall"] and e["partial"] is None and e["tokens"] == 2 for e in timeouts)
    (ev,) = t.events("eval")
    assert all(s["timed_out"] and s["output"] is None for s in ev["samples"])
    assert (ev["counters"]["timeouts"], ev["counters"]["stalls"]) == (4, 4)


def test_every_eval_carries_the_seconds_of_evals_and_of_training(
    tmp_path: Path, make_config: Any
) -> None:
    t = make_tier(tmp_path, make_config)
    t.tier.run(t.model, 2, 0.1)
    t.tier.run(t.model, 4, 0.2)
    first, second = t.events("eval")
    assert first["eval_s_total"] == pytest.approx(first["seconds"], abs=2e-3)
    assert second["eval_s_total"] == pytest.approx(first["seconds"] + second["seconds"], abs=2e-3)
    assert 0 <= first["train_s_total"] <= second["train_s_total"]
    assert "budget" not in second  # no eval budget configured
    snapshot = t.tier.reporter.snapshot.data
    assert snapshot["eval_share"] == derived.eval_share_of(second) is not None


def test_the_budget_keeps_the_first_prompts_that_fit(tmp_path: Path, make_config: Any) -> None:
    t = make_tier(tmp_path, make_config, eval_budget_pct=25, generation_batch_size=1)
    # A known history instead of measured seconds: a million seconds of training,
    # and a generation batch (one prompt) that costs 100,000 s. Each prompt adds
    # about 9, 17, 23, 29 % of evals: three fit under 25 %, the fourth does not.
    t.tier.clock.train_t0 = time.perf_counter() - 1e6
    t.tier.cost = RoundCost(validation_s=0.0, batch_s=1e5)
    t.tier.run(t.model, 5, 0.1)
    (ev,) = t.events("eval")
    assert [s["sample"] for s in ev["samples"]] == [0, 1, 2]
    assert ev["budget"]["prompts"] == 3 and ev["budget"]["of"] == 4
    assert ev["budget"]["pct"] == 25 and ev["budget"]["share_pct"] == pytest.approx(28.57, 0.01)
    assert ev["counters"]["generations"] == 3
    log = (tmp_path / "status" / "train.log").read_text()
    assert "EVAL BUDGET 25%" in log and "first 3 of 4 prompts" in log

    # A round that cannot afford even one batch still measures validation loss.
    t.tier.cost = RoundCost(validation_s=0.0, batch_s=1e7)
    t.tier.run(t.model, 6, 0.2)
    last = t.events("eval")[-1]
    assert last["samples"] == [] and last["val_loss"] is not None
    assert last["budget"]["prompts"] == 0
    assert "validation loss only" in (tmp_path / "status" / "train.log").read_text()
