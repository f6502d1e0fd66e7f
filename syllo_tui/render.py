"""Plain-text rendering shared by the TUI widgets and ``syllo-tui --once``.

Everything here returns ``str``; nothing imports Textual or Rich. The one rule
that matters most lives here too: ``inert()`` turns untrusted text (prompts,
model outputs, error messages, run ids) into text that a terminal displays
and never interprets — escape sequences, control characters and bidi
overrides become visible symbols. Widgets put the result in ``rich.text.Text``
objects (never markup strings), so ``[bold]`` in a model output stays literal
too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from syllo_train.inert import inert  # the one inert-text function: untrusted text shown here
from syllo_train.matching import THINK_BLOCK, THINK_CLOSE, answer_part
from syllo_tui import diff
from syllo_tui.series import Series
from syllo_tui.state import RunState
from syllo_tui.tokens import summary_line as token_summary
from syllo_tui.views import BestView, ExampleView, LogEntry

_THINK = THINK_BLOCK  # the one think rule (syllo_train.matching)


def split_think(text: str, *, opened: bool = False) -> list[tuple[str, bool]]:
    """Split text into (segment, is_think) parts; an unclosed ``<think>`` runs to the end.

    ``opened``: the text continues a prompt that opened a block, so it starts
    with reasoning up to its first ``</think>`` (matching.strip_think's rule).
    """
    parts: list[tuple[str, bool]] = []
    pos = 0
    if opened:
        close = text.find(THINK_CLOSE)
        pos = len(text) if close < 0 else close + len(THINK_CLOSE)
        if pos:
            parts.append((text[:pos], True))
    for m in _THINK.finditer(text, pos):
        if m.start() > pos:
            parts.append((text[pos : m.start()], False))
        parts.append((m.group(), True))
        pos = m.end()
    if pos < len(text):
        parts.append((text[pos:], False))
    return parts


# -- numbers ----------------------------------------------------------------------


def fmt_duration(seconds: float | None) -> str:
    """A short human duration: 42s, 4m10s, 1h02m, 2d03h; "–" when unknown."""
    if seconds is None:
        return "–"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def fmt_bytes(n: int | None) -> str:
    """Bytes in the largest unit that keeps the number readable."""
    if n is None:
        return "–"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def fmt_num(x: float | None, spec: str = ".4f") -> str:
    """A number with ``spec``, or "–" when unknown."""
    return "–" if x is None else format(x, spec)


def fmt_pct(x: float | None) -> str:
    """A fraction in [0, 1] as a percentage."""
    return "–" if x is None else f"{100 * x:.1f}%"


def eval_share_text(share: float | None, budget: Any = None, *, brief: bool = False) -> str:
    """The evals' share of run time, and the eval budget when there is one ("" before any).

    ``brief``: the counters panel's form (``2.5% of time · budget 1/4``: only a
    cut is named); else ``--once``'s (``2.5% of run time, budget 10%: 1/4 prompts``).
    """
    if share is None:
        return ""
    fields = budget if isinstance(budget, dict) else {}
    pct, kept, of = fields.get("pct"), fields.get("prompts"), fields.get("of")
    cut = isinstance(kept, int) and isinstance(of, int) and kept != of
    if brief:
        return f"{fmt_pct(share)} of time" + (f" · budget {kept}/{of}" if cut else "")
    text = f"{fmt_pct(share)} of run time"
    if isinstance(pct, (int, float)) and not isinstance(pct, bool):
        text += f", budget {pct:g}%" + (f": {kept}/{of} prompts" if cut else "")
    return text


def fmt_clock(ts: float | None, tz: tzinfo | None = None) -> str:
    """Wall-clock time of an event, HH:MM:SS (local time unless ``tz`` is given)."""
    if ts is None:
        return "--:--:--"
    try:
        return datetime.fromtimestamp(ts, tz).strftime("%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        # Issue #9 (fuzzing): one event with "ts": 1e20 crashed the live TUI here.
        return "??:??:??"


_EIGHTHS = " ▏▎▍▌▋▊▉"


def progress_bar(fraction: float | None, width: int) -> str:
    """A bar of ``width`` cells with eighth-cell resolution."""
    if width <= 0:
        return ""
    if fraction is None:
        return "·" * width
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part and full < width else "")
    return bar + "░" * (width - len(bar))


_LEVELS = "▁▂▃▄▅▆▇█"
SEAM = "┆"


def step_span(*series: Series) -> tuple[int, int] | None:
    """The step range covered by any of ``series``: a shared x axis for stacked sparklines."""
    ends = [(s.points()[0][0], s.points()[-1][0]) for s in series if len(s)]
    if not ends:
        return None
    return min(lo for lo, _ in ends), max(hi for _, hi in ends)


def sparkline(
    series: Series,
    width: int,
    span: tuple[int, int] | None = None,
    marks: Sequence[tuple[int, str]] = (),
) -> str:
    """The series drawn in ``width`` cells over the steps ``span`` (default: its own).

    Each cell covers an equal range of steps and shows the mean of the points
    in it; a cell without points repeats the value before it (an eval's val
    loss holds until the next eval), and cells before the first point are
    blank. A resume seam replaces its cell with ``┆``, and each of ``marks``
    ((step, symbol): an anomaly ``!``, the best eval ``★``) its step's cell.
    Sharing ``span`` between sparklines lines them up by step.
    """
    points = series.points()
    if width <= 0 or not points:
        return ""
    lo, hi = span if span is not None else (points[0][0], points[-1][0])
    hi = max(hi, lo + 1)
    sums = [0.0] * width
    counts = [0] * width

    def column(step: int) -> int:
        return min(width - 1, max(0, (step - lo) * width // (hi - lo + 1)))

    for step, value in points:
        c = column(step)
        sums[c] += value
        counts[c] += 1
    cells: list[float | None] = []
    last: float | None = None
    for total, n in zip(sums, counts, strict=True):
        if n:
            last = total / n
        cells.append(last)
    known = [v for v in cells if v is not None]
    vmin, vmax = min(known), max(known)
    out = []
    for v in cells:
        if v is None:
            out.append(" ")
        elif vmax <= vmin:
            out.append(_LEVELS[3])
        else:
            level = (v - vmin) / (vmax - vmin) * (len(_LEVELS) - 1)
            # Issue #9 (fuzzing): values near the float limit overflow to inf/nan here,
            # and round(nan) crashed the live TUI.
            out.append(
                _LEVELS[round(level)] if math.isfinite(level) else _LEVELS[-1 if v > 0 else 0]
            )
    for seam in series.seams:
        if lo <= seam <= hi:
            out[column(seam)] = SEAM
    for step, symbol in marks:
        if lo <= step <= hi:
            out[column(step)] = symbol
    return "".join(out).rstrip()


def verdict(example: ExampleView) -> str:
    """The model pane's verdict: ✅ MATCH, ❌ NO MATCH, ⏱ TIMEOUT, or why there is no output."""
    if example.tier == "log":
        return "not generated at this step"
    if example.timed_out:
        return "⏱ TIMEOUT"
    if example.match is True:
        return "✅ MATCH"
    if example.match is False:
        return "❌ NO MATCH"
    return "no verdict"


def example_caption(example: ExampleView) -> str:
    """Where an example comes from: tier, step, sample or dataset row, its loss."""
    if example.tier == "log":
        bits = [f"step {example.step}", "log tier (trained on)"]
        if example.index is not None:
            bits.append(f"row {example.index}")
        if example.loss is not None:
            bits.append(f"loss {example.loss:.4f}")
    else:
        bits = [f"step {example.step}", "eval"]
        if example.sample is not None:
            bits.append(f"sample {example.sample}")
        if example.seconds is not None:
            bits.append(f"{example.seconds:.1f}s")
    return " · ".join(bits)


def tokens_label(count: int | None, cut: int | None = None) -> str:
    """ "37 tok", plus the original length when the writer cut the text."""
    label = "? tok" if count is None else f"{count:,} tok"
    return label + (f", cut from {cut:,} chars" if cut is not None else "")


# -- the whole state as text (``syllo-tui --once``) ----------------------------------


def summary(state: RunState, now: float, tz: tzinfo | None = None, *, recent: int = 8) -> str:
    """A plain-text summary of the run, for scripts and CI logs. Untrusted text is inert."""
    st = state
    c = st.counters
    status = st.display_status(now)
    if st.end_reason and status in ("stopped", "failed", "completed"):
        status += f" ({st.end_reason})"
    elif status == "stale" and st.last_ts is not None:
        status += f" (no event for {fmt_duration(now - st.last_ts)})"
    share = eval_share_text(st.eval_share, st.eval_budget)
    lines = [
        f"run {inert(st.run_id or '?')}  model {inert(st.model or '?')}  status {inert(status)}",
        f"step {st.step if st.step is not None else '–'}/{st.total_steps or '–'} "
        f"[{progress_bar(st.progress, 20)}] {fmt_pct(st.progress)}  "
        f"{fmt_num(st.steps_per_s, '.2f')} steps/s  ETA {fmt_duration(st.eta_at(now))}  "
        f"elapsed {fmt_duration(st.elapsed_at(now))}  peak mem {fmt_bytes(st.peak_mem_bytes)}"
        + (f" ({inert(st.mem_kind)})" if st.mem_kind else ""),
        f"train loss {fmt_num(st.loss)}  val loss {fmt_num(st.val_loss)}  "
        f"gap {fmt_num(st.gap, '+.4f')}{overfitting_text(st)}  "
        f"lr {fmt_num(st.lr, '.2e')}",
        f"timeouts {c.get('timeouts', 0)} ({c.get('timeout_pct', 0.0)}% of {c.get('generations', 0)} "
        f"generations; stalls {c.get('stalls', 0)})  evals {c.get('evals', 0)}"
        f"{f' ({share})' if share else ''}  "
        f"accuracy last {fmt_pct(st.last_eval_accuracy)} running {fmt_pct(st.running_accuracy)}",
        "checkpoints "
        + str(c.get("checkpoints", 0))
        + (
            f", last at step {st.last_checkpoint_step} ({fmt_duration(st.checkpoint_age(now))} ago)"
            if st.last_checkpoint_ts is not None
            else ""
        ),
    ]
    if st.best is not None:
        lines.append(f"best {best_text(st.best)}")
    anomalies = c.get("anomalies", 0)
    if anomalies or st.anomalies:
        line = f"anomalies {anomalies}"
        if st.anomalies:
            last = st.anomalies[-1]
            line += f", last at step {last.step}: {last.what}"
            if last.batch_examples is not None:
                line += f" (its batch: {last.batch_examples} examples)"
        lines.append(line)
    rows = (
        ("train loss", st.train_loss),
        ("val loss", st.val_loss_series),
        (st.throughput_unit, st.throughput),
        ("gap", st.gap_series),
    )
    span = step_span(*(series for _, series in rows))
    for label, series in rows:
        if len(series):
            spark = sparkline(series, 40, span)
            lines.append(f"  {label:<10} {spark:<40} {fmt_num(series.latest, '.4g')}")
    if st.examples:
        ex = st.examples[-1]
        lines.append(f"last example ({example_caption(ex)}): {verdict(ex)}")
        texts = [("prompt", ex.prompt), ("golden", ex.golden)]
        if ex.timed_out:
            texts.append(("partial output", ex.partial or "(none)"))
        elif ex.tier == "eval":
            texts.append(("model", ex.output or ""))
        for name, text in texts:
            lines.append(f"  {name}: {_one_line(text, 160)}")
        if ex.tier == "eval" and ex.output is not None and not ex.match:
            answer = answer_part(ex.output, ex.golden, opened=ex.think_opened)
            pieces = diff.changes(ex.golden, answer)
            lines.append(
                f"  diff golden → model ({diff.summary(pieces)}): "
                f"{_one_line(diff.plain(pieces), 160)}"
            )
        tokens = st.tokens_of(ex)
        if tokens is not None:
            for text in token_summary(tokens, ex.prompt_tokens, ex.golden_tokens, st.train_on):
                lines.append(f"  {inert(text)}")
    lines.append(
        f"events {st.applied:,} read, {st.malformed:,} malformed lines, "
        f"{len(st.warnings)} warnings, {st.resumes} resumes"
    )
    lines += [f"warning: {inert(w)}" for w in st.warnings]
    if st.log:
        lines.append("recent events:")
        for entry in list(st.log)[-recent:]:
            lines.append("  " + log_line(entry, tz))
    return "\n".join(lines) + "\n"


def overfitting_text(state: RunState) -> str:
    """The gap's note when derived.py's overfitting rule holds ("" when it does not)."""
    if not state.overfitting:
        return ""
    k = state.overfit_evals
    return f" (overfitting: widened at each of the last {k} eval{'s' if k != 1 else ''})"


def best_text(best: BestView) -> str:
    """The best eval in words: "val_loss 0.6051 at step 1000 (runs/x/checkpoint-1000)"."""
    value = "?" if best.value is None else f"{best.value:.4g}"
    where = inert(best.checkpoint) if best.checkpoint else "its checkpoint not saved yet"
    return f"{inert(best.metric)} {value} at step {best.step} ({where})"


def log_line(entry: LogEntry, tz: tzinfo | None = None) -> str:
    """One event-log line: time, step, kind, text (inert)."""
    step = f"step {entry.step}" if entry.step is not None else ""
    return f"{fmt_clock(entry.ts, tz)} {step:>10} {entry.kind:<10} {inert(entry.text)}"


def _one_line(text: str, limit: int) -> str:
    flat = inert(text).replace("\n", " ⏎ ").replace("\t", " ")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
