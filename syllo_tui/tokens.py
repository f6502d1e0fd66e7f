"""The log example token by token: what the token view and ``--once`` show of ``example.tokens``.

No UI import. ``parse_tokens`` reads the event's ``tokens`` object (any
field of the wrong shape: no token view, never an exception); ``mask_findings``
says what looks wrong with the mask, in words, so that a doubled BOS, a
trained prompt token or a masked answer token is named, not left to be
spotted; ``shown_text`` makes special tokens and the whitespace that matters
visible; ``loss_level`` puts a trained token's loss on the legend's scale.

Positions: ``prompt_tokens`` (where the final answer starts) and the
findings count in the example's own positions; a cut example (its middle
left out) maps a shown token back with ``TokenView.position``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syllo_train.inert import inert

#: The legend's scale: a trained token's loss falls in the first bucket whose
#: upper bound it is below (the last one is open). Absolute, not per example,
#: so two steps' views can be compared by eye.
LOSS_BOUNDS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
LOSS_LABELS: tuple[str, ...] = ("<0.5", "<1", "<2", "<4", "≥4")

#: How many of the highest-loss tokens are named.
TOP_LOSSES = 5

#: Glyphs for whitespace that matters: newline (the line still breaks after it),
#: tab, and a space at the edge of a trained run or in a run of spaces.
NEWLINE, TAB, SPACE = "↵", "⇥", "·"
_SPACES = re.compile(" {2,}")


@dataclass(frozen=True)
class TokenView:
    """One example's tokens as the event carried them (texts raw: render them with ``shown_text``)."""

    text: tuple[str, ...]
    trained: tuple[bool, ...]
    loss: tuple[float | None, ...]
    special: tuple[bool, ...]
    count: int  # tokens in the example, the cut ones included
    cut_at: int | None = None  # shown position where tokens were left out
    cut_tokens: int = 0

    def __len__(self) -> int:
        return len(self.text)

    def position(self, i: int) -> int:
        """The example's own position of shown token ``i`` (a cut shifts the end)."""
        return i + self.cut_tokens if self.cut_at is not None and i >= self.cut_at else i

    @property
    def trained_count(self) -> int:
        return sum(self.trained)

    def mean_loss(self) -> float | None:
        """The mean of the shown trained tokens' losses (the example's loss when nothing was cut)."""
        values = [x for x in self.loss if x is not None]
        return sum(values) / len(values) if values else None


def parse_tokens(raw: Any) -> TokenView | None:
    """``example.tokens`` as a TokenView; None when absent or not of the contract's shape."""
    if not isinstance(raw, Mapping):
        return None
    text, trained, loss, special = (raw.get(k) for k in ("text", "trained", "loss", "special"))
    if not (
        isinstance(text, list)
        and isinstance(trained, list)
        and isinstance(loss, list)
        and isinstance(special, list)
    ):
        return None
    n = len(text)
    if not (len(trained) == len(loss) == len(special) == n):
        return None
    if not all(isinstance(t, str) for t in text):
        return None
    if not all(isinstance(b, bool) for b in (*trained, *special)):
        return None
    losses: list[float | None] = []
    for value in loss:
        if isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
            return None
        losses.append(float(value) if value is not None and math.isfinite(value) else None)
    count = raw.get("count")
    count = count if type(count) is int and count >= n else n
    cut = raw.get("cut")
    cut_at, cut_tokens = None, 0
    if isinstance(cut, Mapping):
        at, left_out = cut.get("at"), cut.get("tokens")
        if type(at) is int and type(left_out) is int and 0 <= at <= n and left_out > 0:
            cut_at, cut_tokens = at, left_out
    return TokenView(
        text=tuple(text),
        trained=tuple(trained),
        loss=tuple(losses),
        special=tuple(special),
        count=count,
        cut_at=cut_at,
        cut_tokens=cut_tokens,
    )


# -- what a token looks like ---------------------------------------------------------


def special_text(text: str) -> str:
    """A special token made visible: ``<|im_end|>`` → ``⟨|im_end|⟩``, ``<s>`` → ``⟨s⟩``."""
    text = inert(text)
    if len(text) >= 2 and text.startswith("<") and text.endswith(">"):
        return f"⟨{text[1:-1]}⟩"
    return f"⟨{text}⟩"


def shown_text(view: TokenView, i: int) -> str:
    """Token ``i`` as the view shows it: inert, special tokens bracketed, whitespace that matters visible.

    A newline shows as ``↵`` and still breaks the line (the layout stays
    readable); a tab as ``⇥``. Spaces show as ``·`` where a person must see
    them: a token of whitespace only, a run of two or more, and the edges of
    a trained run (trailing whitespace trained by a template is a classic).
    """
    if view.special[i]:
        return special_text(view.text[i])
    text = inert(view.text[i])
    n = len(view)
    starts = view.trained[i] and (i == 0 or not view.trained[i - 1])
    ends = view.trained[i] and (i == n - 1 or not view.trained[i + 1])
    if text.strip() == "":
        text = text.replace(" ", SPACE)
    else:
        text = _dot_edges(text, lead=starts, trail=ends)
    text = text.replace("\t", TAB)
    return text.replace("\n", NEWLINE + "\n")


def _dot_edges(text: str, *, lead: bool, trail: bool) -> str:
    """Runs of two or more spaces as dots; the leading / trailing spaces too when asked."""
    body = text.strip(" ")
    start = text[: len(text) - len(text.lstrip(" "))]
    end = text[len(text.rstrip(" ")) :]
    dotted = _SPACES.sub(lambda m: SPACE * len(m.group()), body)
    start = start.replace(" ", SPACE) if lead or len(start) > 1 else start
    end = end.replace(" ", SPACE) if trail or len(end) > 1 else end
    return start + dotted + end


def loss_level(loss: float | None) -> int | None:
    """The legend bucket (0 … len(LOSS_LABELS) − 1) of a trained token's loss; None without one."""
    if loss is None:
        return None
    for level, bound in enumerate(LOSS_BOUNDS):
        if loss < bound:
            return level
    return len(LOSS_BOUNDS)


def top_losses(view: TokenView, n: int = TOP_LOSSES) -> list[int]:
    """Shown positions of the ``n`` trained tokens with the highest loss, highest first."""
    ranked = sorted(
        (i for i, x in enumerate(view.loss) if x is not None and view.trained[i]),
        key=lambda i: (-(view.loss[i] or 0.0), i),
    )
    return ranked[:n]


# -- what looks wrong with the mask -----------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing the mask shows: a ``warning`` (looks wrong) or a ``note`` (may be intended)."""

    level: str  # "warning" | "note"
    text: str
    positions: tuple[int, ...] = ()  # shown positions it is about (the view marks them)


def mask_findings(
    view: TokenView, prompt_tokens: int | None, golden_tokens: int | None, train_on: str | None
) -> list[Finding]:
    """What a person must notice about which tokens train, each in words.

    ``prompt_tokens`` / ``golden_tokens``: the event's counts (the final
    answer spans the example's positions [prompt_tokens, prompt_tokens +
    golden_tokens)); ``train_on``: ``run_start.tokenization.train_on``
    (``all`` trains earlier assistant turns too, so trained tokens before the
    final answer are then a note, not a warning). Tokens a cut left out are
    not judged.
    """
    out: list[Finding] = []
    n = len(view)
    if n >= 2 and view.special[0] and view.special[1] and view.text[0] == view.text[1]:
        twice = special_text(view.text[0])
        out.append(Finding("warning", f"doubled {twice} at the start: BOS written twice?", (0, 1)))
    trained = [i for i in range(n) if view.trained[i]]
    if not trained:
        out.append(Finding("warning", "no token is trained: this example adds nothing to the loss"))
        return out
    start = prompt_tokens if prompt_tokens is not None and prompt_tokens >= 0 else None
    if len(trained) == n and n > 1 and not start:
        out.append(
            Finding("warning", "every token is trained, the prompt too: is the prompt masked?")
        )
    if start:
        before = tuple(i for i in trained if view.position(i) < start)
        if before:
            many = "s" if len(before) != 1 else ""
            words = f"{len(before)} token{many} before the answer trained"
            if train_on == "all":
                out.append(
                    Finding("note", f"{words} (train_on = all: earlier turns train)", before)
                )
            else:
                out.append(Finding("warning", f"{words}: a prompt token in the loss?", before))
    holes = _answer_holes(view, start, golden_tokens, trained)
    if holes:
        plural = len(holes) != 1
        out.append(
            Finding(
                "warning",
                f"{len(holes)} answer token{'s' if plural else ''} masked: "
                f"{'they are' if plural else 'it is'} not learned",
                holes,
            )
        )
    after = trained[-1] + 1
    if after < n and view.special[after] and not view.trained[after]:
        eot = special_text(view.text[after])
        out.append(
            Finding(
                "warning",
                f"{eot} after the answer is not trained: the model may never learn to stop",
                (after,),
            )
        )
    return out


def _answer_holes(
    view: TokenView, start: int | None, golden_tokens: int | None, trained: list[int]
) -> tuple[int, ...]:
    """Masked tokens inside the final answer: its stated span, or between its trained tokens."""
    holes: set[int] = set()
    if start is not None and golden_tokens:
        end = start + golden_tokens
        holes |= {
            i for i in range(len(view)) if start <= view.position(i) < end and not view.trained[i]
        }
    # Between the answer's first and last trained token nothing should be masked
    # (needs the answer's start: earlier turns may train with train_on = all).
    first = next((i for i in trained if start is not None and view.position(i) >= start), None)
    if first is not None:
        holes |= {i for i in range(first, trained[-1]) if not view.trained[i]}
    return tuple(sorted(holes))


# -- plain text (``--once``) -------------------------------------------------------------


def mask_strip(view: TokenView, width: int) -> str:
    """The mask at a glance, one cell per token (or per group of tokens when there are more).

    ``█`` trained, ``░`` masked, ``▒`` a group of both; ``…`` where a cut left tokens out.
    """
    n = len(view)
    if n == 0 or width <= 0:
        return ""
    per = max(1, math.ceil(n / width))
    cells = []
    for lo in range(0, n, per):
        group = view.trained[lo : lo + per]
        if view.cut_at is not None and lo <= view.cut_at < lo + per and lo:
            cells.append("…")
        cells.append("█" if all(group) else "░" if not any(group) else "▒")
    return "".join(cells)


def summary_line(
    view: TokenView, prompt_tokens: int | None, golden_tokens: int | None, train_on: str | None
) -> list[str]:
    """``--once``'s token lines: counts, the mask strip, the highest losses, what looks wrong."""
    mean = view.mean_loss()
    cut = f", {view.cut_tokens:,} left out" if view.cut_at is not None else ""
    lines = [
        f"tokens: {view.count:,} ({view.trained_count:,} trained{cut})"
        + (f", mean loss {mean:.4f}" if mean is not None else "")
        + f"  mask {mask_strip(view, 60)}"
    ]
    top = top_losses(view)
    if top:
        lines.append(
            "highest loss: "
            + ", ".join(f'"{_flat(shown_text(view, i))}" {view.loss[i]:.2f}' for i in top)
        )
    for f in mask_findings(view, prompt_tokens, golden_tokens, train_on):
        lines.append(f"{'⚠ ' if f.level == 'warning' else ''}{f.text}")
    return lines


def _flat(text: str) -> str:
    return text.replace("\n", "")
