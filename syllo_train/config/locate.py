"""Where a config value came from, for error messages: the file's line, or the ``--set``. Stdlib only."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Sequence

from syllo_train.config.schema import SECTIONS, ConfigError

#: Spellings people reach for, mapped to the accepted choice (used in hints only).
_CHOICE_ALIASES = {
    "bf16": "bfloat16",
    "fp16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float": "float32",
    "no": "never",
    "none": "never",
    "false": "never",
    "off": "never",
    "gpu": "cuda",
}


class Ctx:
    """Where values came from: the file (with a key -> line map) or a ``--set``."""

    def __init__(self, source: str, lines: dict[str, int] | None = None) -> None:
        self.source = source
        self.lines = lines or {}
        self.origins: dict[str, str] = {}  # dotted key -> "--set key=value" that set it

    def where(self, key: str | None) -> str:
        if key is None:
            return self.source
        if key in self.origins:
            return self.origins[key]
        parts = key.split(".")
        for n in range(len(parts), 0, -1):  # the key's own line, else its section's
            line = self.lines.get(".".join(parts[:n]))
            if line is not None:
                return f"{self.source}:{line}"
        return self.source

    def error(self, key: str | None, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: {problem} — {fix}", key=key)


_HEADER_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_\-.\s\"']+?)\s*\]\s*(?:#.*)?$")
_KEYLINE_RE = re.compile(r"^\s*([A-Za-z0-9_\-\"'.\s]+?)\s*=")


def _norm_key(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def _locate_keys(text: str) -> dict[str, int]:
    """Best-effort map of dotted key -> 1-based line, for error messages only.

    tomllib reports positions only for syntax errors, so this light scan of
    table headers and ``key =`` lines finds where a bad value was written. A
    key seen twice maps to its second line under ``"<dup>"`` + key.
    """
    found: dict[str, int] = {}
    table = ""
    in_multiline: str | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if line.lstrip().startswith("[["):  # array of tables: not part of syllo's schema
            table = "\0"
            continue
        header = _HEADER_RE.match(line)
        if header:
            table = _norm_key(header.group(1))
            if table in found:
                found.setdefault("<dup>" + table, lineno)
            found.setdefault(table, lineno)
            continue
        keyline = _KEYLINE_RE.match(line)
        if keyline:
            key = _norm_key(keyline.group(1))
            full = f"{table}.{key}" if table else key
            if full in found:
                found.setdefault("<dup>" + full, lineno)
            found.setdefault(full, lineno)
            rest = line[keyline.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
    return found


def _did_you_mean(word: str, options: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return close[0] if close else None


def _all_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
