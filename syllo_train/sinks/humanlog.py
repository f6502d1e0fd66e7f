"""The human log, ``train.log``: readable blocks a person can ``tail`` or ``grep``.

Like the status snapshot it is a fold of the events, so it never says
something the event stream does not. A fast-log block per ``log`` event
(📝 prompt, ✅ golden, this example's loss), a full-eval block per ``eval``
event (prompt, golden, 🤖 output, ✅ MATCH / ❌, ``Train=… | Val=… | Gap=…``)
and one ``⚠️ TIMEOUT: …`` line per timeout, so ``grep -i timeout`` finds them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, TextIO

from syllo_train import derived
from syllo_train.inert import inert

_RULE = "─" * 72


def _fmt(x: Any, spec: str = ".4f") -> str:
    return "n/a" if x is None else format(x, spec)


def _num(x: Any) -> float | None:
    """A number from an event, or None (a reader must survive any value)."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _indent(text: str | None, limit: int = 600) -> str:
    if text is None:
        return "    (none)"
    if len(text) > limit:
        text = text[:limit] + f"… [{len(text) - limit} more chars]"
    return "\n".join("    " + line for line in text.splitlines() or [""])


def describe_tokenization(facts: dict[str, Any]) -> str:
    """``run_start.tokenization`` in a sentence (plus the non-prefix rule, when it applied)."""
    template = facts.get("template")
    source = {"tokenizer": "the tokenizer's", "config": "data.chat_template's"}.get(
        str(facts.get("source")), ""
    )
    parts = [
        f"{source} chat template" if template == "chat" else "the plain template",
        {"template": "BOS written by the template", "tokenizer": "BOS added by the tokenizer"}.get(
            str(facts.get("bos")), "no BOS"
        ),
        "every assistant turn trained"
        if facts.get("train_on") == "all"
        else "the last answer trained",
        f"system turns {facts.get('system_turn')}",
    ]
    if facts.get("generation_markers"):
        parts.append("labels from its {% generation %} spans")
    think = facts.get("think") or {}
    if think.get("template_inserts_empty_block"):
        parts.append("an empty <think> block before each answer, trained")
    if facts.get("truncated_records"):
        parts.append(f"{facts['truncated_records']} records cut from the left")
    if facts.get("first_example_tokens") is not None:
        parts.append(
            f"first example {facts['first_example_tokens']} tokens, {facts.get('first_example_labelled')} trained"
        )
    text = ", ".join(parts)
    if facts.get("non_prefix_records"):
        text += f"\n  non-prefix template ({facts['non_prefix_records']} records): {facts.get('non_prefix_rule')}"
    return text


def _known(value: Any) -> str:
    """A count that may not be known (null): SylloCallback learns the Trainer's eval set late."""
    return "?" if value is None else str(value)


def format_event(event: dict[str, Any]) -> str | None:
    """The human text for one event, or None for events that get no line."""
    etype = event.get("type")
    step = event.get("step")
    if etype == "run_start":
        resumed = f", resumed from {event['resumed_from']}" if event.get("resumed_from") else ""
        return (
            f"▶ run {event.get('run_id')} started: model {event.get('model')}, "
            f"{event.get('params_trainable', 0):,} trainable / {event.get('params_total', 0):,} parameters, "
            f"{event.get('train_examples')} train / {_known(event.get('val_examples'))} val examples, "
            f"{event.get('max_steps')} steps on {event.get('device')} (world size {event.get('world_size')}){resumed}"
        ) + (
            f"\n  tokenization: {describe_tokenization(event['tokenization'])}"
            if isinstance(event.get("tokenization"), dict)
            else ""
        )
    if etype == "log":
        ex = event.get("example") or {}
        head = (
            f"[step {step}/{event.get('total_steps')}] loss={_fmt(event.get('loss'))} lr={_fmt(event.get('lr'), '.2e')} "
            f"grad_norm={_fmt(event.get('grad_norm'), '.3f')} {_fmt(event.get('steps_per_s'), '.2f')} steps/s "
            f"{_fmt(event.get('tokens_per_s'), '.0f')} tok/s eta={_fmt(event.get('eta_s'), '.0f')}s"
        )
        if not ex:
            return head
        return "\n".join(
            [
                head,
                f"  📝 prompt ({ex.get('prompt_tokens')} tokens):",
                _indent(ex.get("prompt")),
                f"  ✅ golden ({ex.get('golden_tokens')} tokens):",
                _indent(ex.get("golden")),
                f"  loss on this example: {_fmt(ex.get('loss'))}",
            ]
        )
    if etype == "eval":
        counters = derived.counters_view(event.get("counters") or {})
        share = derived.eval_share_of(event)
        lines = [
            _RULE,
            f"🔎 EVAL at step {step}: Train={_fmt(event.get('train_loss'))} | Val={_fmt(event.get('val_loss'))} "
            f"| Gap={_fmt(event.get('gap'), '+.4f')} | accuracy={_fmt(event.get('accuracy'), '.2%')} "
            f"(running {_fmt(counters.get('accuracy'), '.2%')}) | timeouts={counters.get('timeouts', 0)} "
            f"({counters.get('timeout_pct', 0.0)}%) | {_fmt(event.get('seconds'), '.1f')}s"
            + (f" | evals {share:.1%} of run time" if share is not None else ""),
        ]
        best = event.get("best")
        if event.get("is_best") and isinstance(best, dict):
            lines.append(
                f"  ★ new best {best.get('metric')} {_fmt(best.get('value'))} at step {best.get('step')} "
                "(its checkpoint is kept from rotation)"
            )
        budget = event.get("budget")
        if isinstance(budget, dict) and budget.get("prompts") != budget.get("of"):
            kept = budget.get("prompts")
            done = (
                f"generated the first {kept} of {budget.get('of')} prompts"
                if kept
                else f"ran validation loss only (none of its {budget.get('of')} prompts)"
            )
            lines.append(
                f"  ⚖️ EVAL BUDGET {_fmt(_num(budget.get('pct')), 'g')}%: the whole round would bring "
                f"evals to {_fmt(_num(budget.get('share_pct')), '.1f')}% of run time, so this round {done}"
            )
        for s in event.get("samples") or []:
            if s.get("timed_out"):
                verdict = "⏱ TIMEOUT"
            else:
                verdict = "✅ MATCH" if s.get("match") else "❌ NO MATCH"
            lines += [
                f"  sample {s.get('sample')} — {verdict} ({s.get('output_tokens')} tokens, {_fmt(s.get('seconds'), '.2f')}s)",
                "  📝 prompt:",
                _indent(s.get("prompt")),
                "  ✅ golden:",
                _indent(s.get("golden")),
                "  🤖 model:",
                _indent(s.get("output")),
            ]
        lines.append(_RULE)
        return "\n".join(lines)
    if etype == "timeout":
        counters = derived.counters_view(event.get("counters") or {})
        kind = "stalled inside one forward pass" if event.get("stall") else "cut off"
        return (
            f"⚠️ TIMEOUT: step {step} sample {event.get('sample')} {kind} after {_fmt(event.get('elapsed_s'), '.2f')}s "
            f"(limit {_fmt(event.get('limit_s'), '.2f')}s, {event.get('tokens')} tokens); "
            f"{counters.get('timeouts', 0)} timeouts so far ({counters.get('timeout_pct', 0.0)}% of generations)"
        )
    if etype == "checkpoint":
        best = " ★ best (kept)" if event.get("best") else ""
        return f"💾 checkpoint at step {step}: {event.get('path')} ({_fmt(event.get('seconds'), '.2f')}s){best}"
    if etype == "anomaly":
        counters = derived.counters_view(event.get("counters") or {})
        what = {
            "nonfinite_loss": "the loss is not finite",
            "nonfinite_grad_norm": "the gradient norm is not finite",
            "loss_spike": f"loss spike {_fmt(event.get('value'))} (threshold {_fmt(event.get('threshold'))})",
        }.get(str(event.get("kind")), str(event.get("kind")))
        lines = [
            f"⚠️ ANOMALY at step {step}: {what}; {counters.get('anomalies', 0)} anomalies so far"
        ]
        for ex in event.get("examples") or []:
            loss = "" if ex.get("loss") is None else f" (loss {_fmt(ex.get('loss'))})"
            lines.append(f"  in its batch, example {ex.get('index')}{loss}:")
            lines.append(_indent(ex.get("prompt"), 200))
        return "\n".join(lines)
    if etype == "resume":
        return (
            f"↪ resumed at step {step} from {event.get('from_checkpoint')} ({event.get('reason')})"
        )
    if etype == "run_end":
        reason = f": {event['reason']}" if event.get("reason") else ""
        return f"■ run {event.get('status')} at step {step} after {_fmt(event.get('elapsed_s'), '.1f')}s{reason}"
    if etype == "error":
        tb = event.get("traceback")
        return f"✖ ERROR {event.get('error_type')}: {event.get('message')}" + (
            f"\n{tb}" if tb else ""
        )
    return None


class HumanLog:
    """Appends formatted events to ``train.log`` and optionally echoes them to a stream."""

    def __init__(self, path: str | Path | None, echo: TextIO | None = None) -> None:
        self._fh = open(path, "a", encoding="utf-8", buffering=1) if path else None  # noqa: SIM115
        self.echo = echo
        self._lock = threading.Lock()
        self._trend = derived.GapTrend()  # the overfitting rule, along the stream

    def write(self, text: str) -> None:
        """Append ``text`` (made inert: it reaches a terminal through the echo) with a time stamp."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        lines = inert(text).splitlines()
        block = "\n".join(f"{stamp} {line}" if i == 0 else line for i, line in enumerate(lines))
        with self._lock:
            for sink in (self._fh, self.echo):
                if sink is None:
                    continue
                try:
                    sink.write(block + "\n")
                    sink.flush()
                except (OSError, ValueError):
                    # A full disk or a closed pipe must not stop training; events count drops.
                    pass

    def apply(self, event: dict[str, Any]) -> None:
        text = format_event(event)
        if text is not None:
            self.write(text)
        was = self._trend.overfitting
        self._trend.apply(event)
        if event.get("type") == "eval" and self._trend.overfitting and not was:
            self.write(
                f"⚠️ OVERFITTING: the train/val gap has widened at each of the last {self._trend.k} "
                f"evals (now {_fmt(event.get('gap'), '+.4f')}); see the best eval's checkpoint"
            )

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
