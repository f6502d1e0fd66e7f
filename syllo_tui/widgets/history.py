"""The history of one eval prompt (h): its output at every eval round, stepped through.

The rounds come from prompts.PromptHistory (the state's fold: a cold open's
background fold fills them in); the cursor says which prompt and round.
Shown: the prompt and golden, a strip of the rounds (✓ matched, ✗ missed,
⏱ timed out, the shown one in brackets), the step the prompt first matched,
the round's output with its change from the round before, and what still
differs from the golden.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from syllo_tui import diff
from syllo_tui.prompts import PromptCursor, PromptHistory, Round
from syllo_tui.widgets.text import body_text, diff_text, output_vs_golden, plain


def _mark(r: Round) -> str:
    return "⏱" if r.timed_out else "✓" if r.match else "✗"


def rounds_strip(rounds: list[Round], index: int, width: int) -> Text:
    """``@200✗ @400✗ [@600✓] @800✓``: as many rounds around the shown one as fit in ``width``."""
    cells = [f"@{r.step}{_mark(r)}" for r in rounds]
    lo = hi = index
    used = len(cells[index]) + 2
    while True:  # widen the window on both sides while it fits
        grew = False
        for j in (hi + 1, lo - 1):
            if 0 <= j < len(cells) and not lo <= j <= hi and used + len(cells[j]) + 1 <= width - 4:
                used += len(cells[j]) + 1
                lo, hi = min(lo, j), max(hi, j)
                grew = True
        if not grew:
            break
    out = Text(end="")
    if lo > 0:
        out.append("… ", style="dim")
    for j in range(lo, hi + 1):
        r = rounds[j]
        style = "green" if r.match else "yellow" if r.timed_out else "red"
        if j == index:
            out.append(f"[{cells[j]}]", style=f"bold reverse {style}")
        else:
            out.append(cells[j], style=style)
        if j < hi:
            out.append(" ")
    if hi < len(cells) - 1:
        out.append(" …", style="dim")
    return out


class HistoryView(VerticalScroll, can_focus=True):
    """One eval prompt across the run's eval rounds."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(""), classes="history-body")

    def show(self, history: PromptHistory, cursor: PromptCursor, *, fold_think: bool) -> None:
        """Draw the cursor's prompt and round (only when that changed: an update costs a layout)."""
        body = self.query_one(".history-body", Static)
        sample, index = cursor.shown(history)
        rounds = history.rounds(sample) if sample is not None else []
        first = history.first_match(sample) if sample is not None else None
        shown_rounds = tuple(id(r) for r in rounds[max(0, index - 1) : index + 1])
        key = (sample, index, len(rounds), shown_rounds, first, fold_think, self.size.width)
        if key == self._drawn:
            return
        self._drawn = key
        if sample is None or index < 0:
            body.update(Text("no eval round yet: the first eval brings one (h goes back)", "dim"))
            return
        shown = rounds[index]
        out = Text(end="")
        out.append(f"eval prompt {sample}", style="bold")
        out.append(f" · round {index + 1}/{len(rounds)} · step {shown.step} · ")
        out.append(
            "⏱ TIMEOUT" if shown.timed_out else "✓ MATCH" if shown.match else "✗ NO MATCH",
            style="yellow" if shown.timed_out else "bold green" if shown.match else "bold red",
        )
        out.append(" · ")
        if first is None:
            out.append("never matched yet", style="dim")
        else:
            out.append(f"first matched @{first}", style="bold green")
        out.append("\n←/→ round · [ / ] another prompt · h back\n", style="dim")
        out.append("prompt  ", style="dim")
        out.append_text(plain(shown.prompt))
        out.append("\ngolden  ", style="dim")
        out.append_text(plain(shown.golden))
        out.append("\nrounds  ", style="dim")
        out.append_text(rounds_strip(rounds, index, max(20, self.size.width - 8)))
        out.append("\n\n")
        previous = rounds[index - 1] if index > 0 else None
        label = "partial output" if shown.timed_out else "output"
        out.append(f"{label} @{shown.step}", style="bold")
        if previous is None:
            out.append(" (the first round in the file)\n", style="dim")
            out.append_text(
                body_text(shown.text, fold_think=fold_think, think_opened=shown.think_opened)
            )
        elif diff.alike(previous.text, shown.text) < diff.ALIKE_MIN_RATIO:
            out.append(f" (rewritten since @{previous.step})\n", style="dim")
            out.append_text(
                body_text(shown.text, fold_think=fold_think, think_opened=shown.think_opened)
            )
        else:
            pieces = diff.changes(previous.text, shown.text)
            out.append(f" (change from @{previous.step}: {diff.summary(pieces)})\n", style="dim")
            out.append_text(diff_text(pieces))
        if shown.output is not None and not shown.match:
            vs, changed = output_vs_golden(
                shown.output, shown.golden, fold_think=True, think_opened=shown.think_opened
            )
            out.append(f"\n\nvs golden ({changed or 'differs'})\n", style="bold")
            out.append_text(vs)
        body.update(out)
