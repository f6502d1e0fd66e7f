"""The `?` screen: every key the monitor answers to."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

#: Keys handled by the focused pane itself (Textual's scroll bindings).
PANE_KEYS: list[tuple[str, str]] = [
    ("tab / shift+tab", "move between the panes (prompt, golden, model, events)"),
    ("↑ ↓ PgUp PgDn", "scroll the focused pane"),
    ("Home / End", "top / bottom of the focused pane"),
]


class HelpScreen(ModalScreen[None]):
    """Lists the app's bindings (taken from the app, so the list cannot drift) and the pane keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "close this help"),
    ]

    def __init__(
        self, keys: list[tuple[str, str]], more: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__()
        self._keys = keys
        self._more = more or []  # after the pane keys: charts and several runs

    def compose(self) -> ComposeResult:
        text = Text(end="")
        text.append("syllo-tui keys\n\n", style="bold")
        for key, what in [*self._keys, *PANE_KEYS, *self._more]:
            text.append(f"{key:<17}", style="bold")
            text.append(f"{what}\n")
        text.append("\nEsc, q or ? closes this help.", style="dim")
        with VerticalScroll(id="help-box"):  # scrolls (↑ ↓) when the terminal is short
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)


_KEY_LABELS = {
    "left": "←",
    "right": "→",
    "up": "↑",
    "down": "↓",
    "question_mark": "?",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "plus": "+",
    "equals_sign": "=",
    "minus": "-",
    "escape": "Esc",
}


def _key_label(keys: str) -> str:
    """How a binding's keys look on the help screen: "left,p" -> "← / p"."""
    return " / ".join(_KEY_LABELS.get(k, k) for k in keys.split(","))


def binding_lines(bindings: list[BindingType]) -> list[tuple[str, str]]:
    """(keys, what they do) of each binding, for the help screen (taken from the bindings)."""
    return [(_key_label(b.key), b.description) for b in bindings if isinstance(b, Binding)]
