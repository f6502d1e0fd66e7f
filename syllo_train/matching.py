"""Does a model's output match the golden answer? Three modes, all pure.

* ``exact``: equal after stripping surrounding whitespace;
* ``normalized``: ``<think>…</think>`` blocks removed, whitespace runs folded
  to one space, case kept (answers like ``PROFESSOR`` are case-bearing);
* ``json``: both parse as JSON and are equal as data (key order and spacing
  do not matter); an output that does not parse does not match.

A missing output (a timeout) has no match at all: ``None``, never ``False``.
"""

from __future__ import annotations

import json
import re
from typing import Any

MATCH_MODES = ("exact", "normalized", "json")

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)
_SPACE = re.compile(r"\s+")


def strip_think(text: str) -> str:
    """Remove ``<think>…</think>`` blocks (an unclosed one runs to the end)."""
    return _THINK.sub("", text)


def normalize(text: str) -> str:
    return _SPACE.sub(" ", strip_think(text)).strip()


def _as_json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(strip_think(text).strip())
    except ValueError:
        return False, None


def is_match(output: str | None, golden: str, mode: str = "exact") -> bool | None:
    """Compare ``output`` with ``golden``; None when there is no output."""
    if output is None:
        return None
    if mode == "exact":
        return output.strip() == golden.strip()
    if mode == "normalized":
        return normalize(output) == normalize(golden)
    if mode == "json":
        ok_out, out = _as_json(output)
        ok_gold, gold = _as_json(golden)
        return ok_out and ok_gold and out == gold
    raise ValueError(f"unknown match mode {mode!r}: choose one of {', '.join(MATCH_MODES)}")
