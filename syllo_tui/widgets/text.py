"""Building Rich Text from untrusted strings: always through ``inert``, never as markup."""

from __future__ import annotations

from rich.text import Text

from syllo_train.matching import answer_part
from syllo_tui import diff
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


#: How the pieces of a diff look (diff.py): the brackets stay without colour (NO_COLOR).
DIFF_STYLES = {"gone": "bold green underline", "new": "bold red"}


def diff_text(pieces: list[diff.Piece], style: str = "") -> Text:
    """A diff as inert Text: ``[-gone-]`` (in the old text only), ``{+new+}`` (in the new only)."""
    out = Text(end="")
    for piece in pieces:
        text = inert(piece.text)
        if piece.kind == "same":
            out.append(text, style=style)
        elif piece.kind == "gone":
            out.append(f"[-{text}-]", style=DIFF_STYLES["gone"])
        else:
            out.append(f"{{+{text}+}}", style=DIFF_STYLES["new"])
    return out


def output_vs_golden(
    output: str, golden: str, *, fold_think: bool, think_opened: bool = False
) -> tuple[Text, str]:
    """An output with its answer diffed against the golden, and the diff in words ("" if none).

    The reasoning (``<think>``) is shown as in any pane; the answer, what a
    match compares (matching.answer_part), is shown as the diff that turns
    the golden into it. Texts too unlike to diff are shown as they are.
    """
    answer = answer_part(output, golden, opened=think_opened)
    if answer == golden or not output.endswith(answer):
        return body_text(output, fold_think=fold_think, think_opened=think_opened), ""
    if diff.alike(golden, answer) < diff.ALIKE_MIN_RATIO:
        body = body_text(output, fold_think=fold_think, think_opened=think_opened)
        return body, "unlike the golden"
    pieces = diff.changes(golden, answer)
    reasoning = output[: len(output) - len(answer)]
    out = body_text(reasoning, fold_think=fold_think, think_opened=think_opened)
    out.append_text(diff_text(pieces))
    return out, diff.summary(pieces)
