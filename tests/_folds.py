"""Fold an events file the way the app does: read through syllo_tui.stream, into a RunState."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syllo_tui.state import RunState
from syllo_tui.stream import iter_history


def read_all(path: Path) -> list[dict[str, Any]]:
    return [event for chunk in iter_history(path) for event in chunk]


def fold(path: Path) -> RunState:
    state = RunState()
    state.apply_all(read_all(path))
    return state
