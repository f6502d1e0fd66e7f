"""Building Rich Text from untrusted strings: always through ``inert``, never as markup."""

from __future__ import annotations

from rich.text import Text

from syllo_tui.render import inert, split_think

#: Styles by meaning, so the widgets agree (NO_COLOR keeps the symbols and words).
STYLES = {
    "training": "bold green",
    "stale": "bold yellow",
    "completed": "bold cyan",
    "stopped": "bold yellow",
    "failed": "bold red",
    "waiting": "dim",
    "checkpoint": "green",
    "timeout": "yellow",
    "stall": "bold yellow",
    "resume": "cyan",
    "error": "bold red",
    "warning": "magenta",
    "source": "bold magenta",
    "start": "blue",
    "end": "blue",
    "anomaly": "bold red",
    "best": "bold green",
    "overfit": "bold yellow",
    "think": "dim italic",
    "label": "dim",
}

STATUS_ICONS = {
    "training": "●",
    "stale": "◌",
    "completed": "✔",
    "stopped": "■",
    "failed": "✖",
    "waiting": "…",
}


def plain(text: str, style: str = "") -> Text:
    """Untrusted text as an inert Text (escapes shown as symbols, markup left literal)."""
    return Text(inert(text), style=style, end="")


def body_text(text: str, *, fold_think: bool, style: str = "", think_opened: bool = False) -> Text:
    """A pane body: ``<think>`` blocks dimmed, or folded to one line when ``fold_think``.

    ``think_opened``: the text is an output whose prompt opened the block.
    """
    out = Text(end="")
    for segment, is_think in split_think(text, opened=think_opened):
        if not is_think:
            out.append(inert(segment), style=style)
        elif fold_think:
            out.append(
                f"<think>… {len(segment)} chars folded (t shows them)</think>",
                style=STYLES["think"],
            )
        else:
            out.append(inert(segment), style=STYLES["think"])
    return out
