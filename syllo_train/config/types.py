"""A config value typed like its key (int → float the only conversion), or an error saying how to write it."""

from __future__ import annotations

import dataclasses
import tomllib
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from syllo_train.config.locate import Ctx

_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    """Resolved field types of a section dataclass (annotations are strings here)."""
    if cls not in _HINTS:
        resolved = get_type_hints(cls)
        _HINTS[cls] = {f.name: resolved[f.name] for f in dataclasses.fields(cls)}
    return _HINTS[cls]


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _describe(hint: Any) -> str:
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(c) for c in get_args(hint))
    if get_origin(hint) is list:
        return "a list of strings"
    if get_origin(hint) is dict:
        return "a table (e.g. {key = value})"
    if _is_union(hint):
        return " or ".join(_describe(arm) for arm in get_args(hint))
    return str(hint)


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


class _Mismatch(Exception):
    pass


def _convert(value: Any, hint: Any) -> Any:
    """Return ``value`` as ``hint`` (int -> float is the only conversion) or raise _Mismatch."""
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)  # bool is an int subclass
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            return float(value)
    elif hint is str:
        ok = isinstance(value, str)
    elif get_origin(hint) is Literal:
        ok = isinstance(value, str)  # membership is a value check, with its own message
    elif get_origin(hint) is list:
        (item,) = get_args(hint)
        if not isinstance(value, list):
            raise _Mismatch
        return [_convert(v, item) for v in value]
    elif get_origin(hint) is dict:
        ok = isinstance(value, dict)
    elif _is_union(hint):
        for arm in get_args(hint):
            try:
                return _convert(value, arm)
            except _Mismatch:
                continue
        ok = False
    else:  # pragma: no cover - a schema field with a type this module does not know
        raise TypeError(f"unsupported config type {hint!r}")
    if not ok:
        raise _Mismatch
    return value


def _toml_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _example(key: str, hint: Any, default: Any, ctx: Ctx) -> str:
    if default is dataclasses.MISSING:
        default = {"model.name_or_path": "runs/tiny-model", "data.train": "data/train.jsonl"}.get(
            key, "..."
        )
    section, name = key.split(".", 1)
    if ctx.origins.get(key, "").startswith("--set"):
        shown = default if isinstance(default, str) else _toml_repr(default)
        return f"e.g. --set {key}={shown}"
    return f"e.g. {name} = {_toml_repr(default)} under [{section}]"


def _coerce(value: Any, hint: Any, key: str, default: Any, ctx: Ctx) -> Any:
    """Return ``value`` typed as ``hint``, or raise a ConfigError that says how to write it."""
    try:
        return _convert(value, hint)
    except _Mismatch:
        pass
    problem = f"{key} must be {_describe(hint)}, got {value!r} ({_kind(value)})"
    fix = _example(key, hint, default, ctx)
    from_file = not ctx.origins.get(key, "").startswith("--set")
    if key == "train.resume" and isinstance(value, bool):
        fix = 'use resume = "auto" or resume = "never"'
    elif isinstance(value, bool) and hint in (int, float):
        fix = f"true/false is not a number; {fix}"
    elif isinstance(value, float) and hint is int and value.is_integer():
        fix = f"write it without a decimal point ({fix})"
    elif from_file and isinstance(value, str) and hint in (int, float, bool):
        if _quoted_literal(value, hint):  # "2000" or "true": the quotes are the mistake
            fix = f"remove the quotes ({fix})"
    elif from_file and (hint is str or get_origin(hint) is Literal):
        fix = f"put it in quotes ({fix})"
    raise ctx.error(key, problem, fix)


def _quoted_literal(text: str, hint: Any) -> bool:
    try:
        _convert(tomllib.loads(f"x = {text}")["x"], hint)
    except (tomllib.TOMLDecodeError, RecursionError, _Mismatch):  # RecursionError: found by fuzzing
        return False
    return True
