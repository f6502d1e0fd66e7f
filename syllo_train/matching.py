"""Does a model's output match the golden answer? Three modes, all pure; and the think rule.

The think rule, the one place it lives: a reasoning model (Qwen3, the
DeepSeek-R1 distills, QwQ) writes ``<think>…</think>`` before its answer, and
some templates put an empty block there themselves. When the golden answer
has no think block, every mode compares the *answer*: the output with its
think blocks removed (``answer_part``). When the eval prompt itself opened
the block (it ends with ``<think>``), the output's reasoning runs up to its
first ``</think>``. The raw output stays in the event; the TUI folds the
blocks with the same rule.

* ``exact``: the answer equals the golden, surrounding whitespace aside;
* ``normalized``: as exact, with whitespace runs folded to one space, case
  kept (answers like ``PROFESSOR`` are case-bearing);
* ``json``: both parse as JSON and are equal as data (key order and spacing
  do not matter); an output that does not parse does not match.

A missing output (a timeout) has no match at all: ``None``, never ``False``.
"""

from __future__ import annotations

import json
import re
from typing import Any

MATCH_MODES = ("exact", "normalized", "json")

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
THINK_BLOCK = re.compile(
    r"<think>.*?(?:</think>|\Z)", re.DOTALL
)  # an unclosed block runs to the end
_CLOSED_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_SPACE = re.compile(r"\s+")


def has_think_block(text: str) -> bool:
    """Does ``text`` hold a closed ``<think>…</think>`` block?"""
    return _CLOSED_BLOCK.search(text) is not None


def ends_in_open_think(text: str) -> bool:
    """Does ``text`` (a prompt) end inside an open ``<think>`` block?"""
    at = text.rfind(THINK_OPEN)
    return at >= 0 and THINK_CLOSE not in text[at:]


def strip_think(text: str, *, opened: bool = False) -> str:
    """Remove ``<think>…</think>`` blocks (an unclosed one runs to the end).

    ``opened``: the text continues a prompt that opened a block, so everything
    up to its first ``</think>`` is reasoning too (all of it, if none closes).
    """
    if opened:
        _, closed, text = text.partition(THINK_CLOSE)
        if not closed:
            return ""
    return THINK_BLOCK.sub("", text)


def answer_part(output: str, golden: str, *, opened: bool = False) -> str:
    """What a match compares: the output's answer, its reasoning removed when the golden has none."""
    if THINK_OPEN in golden:
        return output
    return strip_think(output, opened=opened)


def normalize(text: str) -> str:
    return _SPACE.sub(" ", strip_think(text)).strip()


def _as_json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(strip_think(text).strip())
    except ValueError:
        return False, None


def is_match(
    output: str | None, golden: str, mode: str = "exact", *, opened: bool = False
) -> bool | None:
    """Compare ``output`` with ``golden``; None when there is no output.

    ``opened``: the eval prompt ended inside an open think block (see the module's think rule).
    """
    if output is None:
        return None
    answer = answer_part(output, golden, opened=opened)
    if mode == "exact":
        return answer.strip() == golden.strip()
    if mode == "normalized":
        return normalize(answer) == normalize(golden)
    if mode == "json":
        ok_out, out = _as_json(answer)
        ok_gold, gold = _as_json(golden)
        return ok_out and ok_gold and out == gold
    raise ValueError(f"unknown match mode {mode!r}: choose one of {', '.join(MATCH_MODES)}")
