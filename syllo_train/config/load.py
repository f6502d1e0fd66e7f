"""TOML file + ``--set`` overrides → ``Config``: every refusal names the file:line or the ``--set``."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from syllo_train.config.build import _unknown_key, build
from syllo_train.config.locate import Ctx, _all_keys, _did_you_mean, _locate_keys
from syllo_train.config.schema import SECTIONS, Config, ConfigError
from syllo_train.config.types import _hints, _is_union


def _parse_override_value(text: str, hint: Any | None) -> Any:
    """Type one ``--set`` value: a TOML value, else a bare string where strings are allowed.

    A value that fits neither is returned as text, and the type check that
    follows reports it against the key's type.
    """
    text = text.strip()
    try:
        parsed = tomllib.loads(f"x = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):  # tomllib recurses per [ or {
        parsed = {}
    ok = list(parsed) == ["x"]  # "1\ny = 2" parses, but is not one value
    value = parsed.get("x")
    if hint is None:  # trainer_args: whatever TOML makes of it, else the text itself
        return value if ok else text
    arms = get_args(hint) if _is_union(hint) else (hint,)
    takes_str = any(arm is str or get_origin(arm) is Literal for arm in arms)
    if takes_str:
        # A TOML string (quoted) or list is taken as such; anything else
        # (runs/x, 2024, true) is the text itself: the key wants a string.
        takes_list = any(get_origin(arm) is list for arm in arms)
        if ok and (isinstance(value, str) or (isinstance(value, list) and takes_list)):
            return value
        return text
    if ok:
        return value
    if hint is float:
        try:  # be kind to spellings TOML does not take, such as ".5"
            return float(text)
        except ValueError:
            pass
    return text


def _apply_overrides(raw: dict[str, Any], overrides: Sequence[str], ctx: Ctx) -> None:
    for item in overrides:
        where = f"--set {item}"
        if "=" not in item:
            raise ConfigError(
                f"{where}: no '=' in the override — write --set section.key=value, "
                "e.g. --set train.max_steps=50"
            )
        dotted, _, text = item.partition("=")
        dotted = dotted.strip()
        section, dot, key = dotted.partition(".")
        if not dot or not section or not key:
            owner = [k for k in _all_keys() if k.split(".", 1)[1] == dotted]
            hint = f" (did you mean --set {owner[0]}={text}?)" if owner else ""
            raise ConfigError(
                f"{where}: the key needs a section — write section.key=value{hint}", key=dotted
            )
        if section == "trainer_args":
            table = raw.setdefault("trainer_args", {})
            if not isinstance(table, dict):
                raise ctx.error("trainer_args", "trainer_args must be a table", "fix the file")
            table[key] = _parse_override_value(text, None)
            ctx.origins[dotted] = where
            continue
        if section not in SECTIONS:
            sections = [*SECTIONS, "trainer_args"]
            guess = _did_you_mean(section, sections)
            fix = f"did you mean '{guess}'?" if guess else "sections are " + ", ".join(sections)
            raise ConfigError(f"{where}: unknown section '{section}' — {fix}", key=dotted)
        hints = _hints(SECTIONS[section])
        if key not in hints:
            ctx.origins[dotted] = where
            raise _unknown_key(dotted, ctx)
        hint = hints[key]
        if get_origin(hint) is list or _is_union(hint):
            stripped = text.strip()
            if stripped.startswith("[") and not isinstance(
                _parse_override_value(stripped, None), list
            ):
                raise ConfigError(
                    f"{where}: {dotted} looks like a list but is not valid TOML — quote each "
                    f'item, e.g. --set {dotted}=\'["q_proj","v_proj"]\'',
                    key=dotted,
                )
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            raise ctx.error(section, f"{section} must be a table", f"write a [{section}] header")
        table[key] = _parse_override_value(text, hint)
        ctx.origins[dotted] = where


def _toml_error(source: str, text: str, err: tomllib.TOMLDecodeError) -> ConfigError:
    message = str(err)
    pos = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    what = message[: pos.start()] if pos else re.sub(r"\s*\(at end of document\)$", "", message)
    if pos:
        line, col = int(pos.group(1)), int(pos.group(2))
        lines = text.splitlines()
        shown = f" in `{lines[line - 1].strip()}`" if 0 < line <= len(lines) else ""
        if "overwrite" in what:
            fix = "a key or table is defined twice: keep one of them"
        elif what.startswith("Invalid value"):
            fix = 'fix the value: strings need quotes (name = "value"), booleans are true/false'
        else:
            fix = "fix the syntax there"
        return ConfigError(f"{source}:{line}:{col}: invalid TOML: {what}{shown} — {fix}")
    dups = {k[5:]: n for k, n in _locate_keys(text).items() if k.startswith("<dup>")}
    if "overwrite" in what and dups:
        key, line = min(dups.items(), key=lambda kv: kv[1])
        return ConfigError(
            f"{source}:{line}: invalid TOML: '{key}' is defined twice — keep one of them", key=key
        )
    return ConfigError(
        f"{source}: invalid TOML: {what} (at the end of the file) — "
        "look for an unclosed string, bracket or table"
    )


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a TOML config.

    ``overrides`` are ``"section.key=value"`` strings (the CLI's ``--set``),
    applied in order (the last one for a key wins). Each value is typed like
    the key it overrides: a TOML value (``50``, ``1e-4``, ``true``,
    ``["q_proj","v_proj"]``), or a bare string for string keys
    (``train.output_dir=runs/x``). ``trainer_args.<name>=value`` takes any
    TOML value, or a bare string.

    Raises ConfigError naming the file/line or ``--set``, the key, and the fix.
    """
    source = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(
            f"{source}: config file not found (relative paths are resolved from the current "
            f"directory, {os.getcwd()}) — check the path, or start from examples/minimal.toml"
        ) from e
    except IsADirectoryError as e:
        raise ConfigError(f"{source}: is a folder — pass the path of the TOML file itself") from e
    except OSError as e:
        raise ConfigError(
            f"{source}: cannot read the config file ({e.strerror}) — check its permissions"
        ) from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{source}: not UTF-8 text (bad byte at offset {e.start}) — save it as UTF-8"
        ) from e
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _toml_error(source, text, e) from e
    except RecursionError:
        # Found by fuzzing: tomllib recurses once per nested [ or {, so a
        # value nested a thousand deep escaped as a RecursionError.
        raise ConfigError(
            f"{source}: invalid TOML: a value is nested too deeply (arrays or inline tables "
            "inside each other, hundreds of levels) — flatten it"
        ) from None
    ctx = Ctx(source, _locate_keys(text))
    _apply_overrides(raw, overrides, ctx)
    return build(raw, ctx)
