"""Typed reads of event fields: a field of the wrong type is an absent value, never an exception.

A reader must survive any line a writer (or a disk) produces, so every read of
an event field in the monitor goes through these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def int_field(d: Mapping[str, Any], key: str) -> int | None:
    v = d.get(key)
    # ``type() is`` rather than isinstance: JSON gives exact types, and bool is no int here.
    return v if type(v) is int else None


def num_field(d: Mapping[str, Any], key: str) -> float | None:
    v = d.get(key)
    if type(v) is float:
        return v if math.isfinite(v) else None
    if type(v) is int:
        return float(v)
    return None


def str_field(d: Mapping[str, Any], key: str) -> str | None:
    v = d.get(key)
    return v if isinstance(v, str) else None


def bool_field(d: Mapping[str, Any], key: str) -> bool | None:
    v = d.get(key)
    return v if isinstance(v, bool) else None


def cut_fields(d: Mapping[str, Any]) -> dict[str, int]:
    """The ``<key>_cut`` markers of one object: field name -> original length."""
    out: dict[str, int] = {}
    for key, value in d.items():
        if key.endswith("_cut") and isinstance(value, int) and not isinstance(value, bool):
            out[key[: -len("_cut")]] = value
    return out
