"""What changed between two texts: an output and its golden, or one round's output and the last's.

No UI import; stdlib ``difflib``. ``changes(old, new)`` gives the pieces in
order: ``same``, ``gone`` (in ``old`` only) and ``new`` (in ``new`` only).
Characters read best for a near miss (``POKET`` vs ``POCKET``: one ``C``
gone); when the texts are long or mostly different, a character diff is a
confetti of one-letter pieces, so words are compared instead. ``plain`` writes
the pieces in wdiff's notation, ``[-gone-]{+new+}``, for ``--once`` and for
a terminal without colour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

#: Longer texts (either one, in characters) are compared word by word.
CHAR_DIFF_MAX = 2000
#: A character diff whose texts are less alike than this is compared word by word.
CHAR_DIFF_MIN_RATIO = 0.6
#: Texts less alike than this (words) are called different, not diffed.
ALIKE_MIN_RATIO = 0.3

_WORDS = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True)
class Piece:
    kind: str  # "same" | "gone" | "new"
    text: str


def changes(old: str, new: str) -> list[Piece]:
    """The pieces that turn ``old`` into ``new``, by characters or by words (see the module doc)."""
    if old == new:
        return [Piece("same", old)] if old else []
    if len(old) <= CHAR_DIFF_MAX and len(new) <= CHAR_DIFF_MAX:
        chars = SequenceMatcher(None, old, new, autojunk=False)
        if chars.ratio() >= CHAR_DIFF_MIN_RATIO:
            return _pieces(chars, list(old), list(new))
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    return _pieces(SequenceMatcher(None, a, b, autojunk=False), a, b)


def alike(old: str, new: str) -> float:
    """How alike two texts are, 0 … 1: below ALIKE_MIN_RATIO, a rewrite rather than a change.

    By the measure ``changes`` would diff them by: characters for short texts
    that are close (a one-word answer such as ``POKET`` is 0.9 like
    ``POCKET``, where a word measure says 0), words otherwise.
    """
    if old == new:
        return 1.0
    if len(old) <= CHAR_DIFF_MAX and len(new) <= CHAR_DIFF_MAX:
        ratio = SequenceMatcher(None, old, new, autojunk=False).ratio()
        if ratio >= CHAR_DIFF_MIN_RATIO:
            return ratio
    return SequenceMatcher(None, old.split(), new.split(), autojunk=False).ratio()


def _pieces(matcher: SequenceMatcher[str], a: list[str], b: list[str]) -> list[Piece]:
    out: list[Piece] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _add(out, "same", "".join(a[i1:i2]))
            continue
        if tag in ("delete", "replace"):
            _add(out, "gone", "".join(a[i1:i2]))
        if tag in ("insert", "replace"):
            _add(out, "new", "".join(b[j1:j2]))
    return out


def _add(out: list[Piece], kind: str, text: str) -> None:
    if not text:
        return
    if out and out[-1].kind == kind:
        out[-1] = Piece(kind, out[-1].text + text)
    else:
        out.append(Piece(kind, text))


def plain(pieces: list[Piece]) -> str:
    """The pieces in wdiff's notation: ``PO[-C-]KET``, ``{+added+}``."""
    return "".join(
        p.text if p.kind == "same" else f"[-{p.text}-]" if p.kind == "gone" else f"{{+{p.text}+}}"
        for p in pieces
    )


def summary(pieces: list[Piece]) -> str:
    """How much differs, in words: "1 char gone", "2 chars gone, 3 new", "same"."""
    gone = sum(len(p.text) for p in pieces if p.kind == "gone")
    new = sum(len(p.text) for p in pieces if p.kind == "new")
    if not gone and not new:
        return "same"
    bits = []
    if gone:
        bits.append(f"{gone} char{'s' if gone != 1 else ''} gone")
    if new:
        bits.append(f"{new} new" if gone else f"{new} char{'s' if new != 1 else ''} new")
    return ", ".join(bits)
