"""Untrusted text made harmless for a terminal or a log: the one function every sink uses.

Model output, prompts, goldens and exception messages are untrusted: they can
hold escape sequences that move the cursor, retitle the window or write the
clipboard (OSC 52), bidi controls that reorder what a reader sees ("Trojan
source"), and lone surrogates that cannot be encoded at all (a UTF-8 log write
would fail). ``inert`` turns each such character into a visible stand-in:

* C0 controls (tab and newline stay: they are layout) become their control
  pictures: ESC ``␛``, BEL ``␇``, CR ``␍`` …; DEL becomes ``␡``;
* C1 controls (U+0080–U+009F, e.g. the one-byte CSI U+009B) become ``\\x9b``;
* bidi embeddings, overrides, isolates and marks become ``\\u202e`` …;
* lone surrogates become ``\\ud800`` ….

The human log, its echo on stdout, syllo-train's stderr messages and the TUI
all call this. It only makes text inert; keeping it from being read as markup
is the renderer's job (the TUI puts it in a Text object, never in markup).
Pure: stdlib only.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

_C0_PICTURES = {c: chr(0x2400 + c) for c in range(0x20)}  # ␀ … ␟; ESC is ␛
_KEEP = {0x09, 0x0A}  # tab and newline are layout, not control
# Bidi embeddings/overrides/isolates and marks can reorder what is shown.
_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}

_UNSAFE = re.compile(
    "["
    + "".join(f"\\x{c:02x}" for c in range(0x20) if c not in _KEEP)
    + "\\x7f-\\x9f"
    + "".join(f"\\u{c:04x}" for c in sorted(_BIDI))
    + "\\ud800-\\udfff"
    + "]"
)


def _stand_in(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return _C0_PICTURES[code]
    if code == 0x7F:
        return "␡"
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def inert(text: str) -> str:
    """``text`` with every control, bidi and lone-surrogate character replaced by a visible stand-in."""
    return _UNSAFE.sub(lambda m: _stand_in(m.group()), text)


def print_inert(text: str, file: TextIO | None = None) -> None:
    """Print a message (stderr by default) that may quote untrusted text: a path, a record, an exception."""
    print(inert(text), file=sys.stderr if file is None else file, flush=True)
