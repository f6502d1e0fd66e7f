"""The batch of an anomaly (a): what went wrong at which step, and the examples of that batch."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from syllo_tui.views import AnomalyView
from syllo_tui.widgets.text import plain


class BatchView(VerticalScroll, can_focus=True):
    """One anomaly (the latest unless stepped) and its batch's examples, each prompt and golden."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(""), classes="batch-body")

    def show(self, anomaly: AnomalyView | None, position: tuple[int, int], total: int) -> None:
        """Draw ``anomaly`` (only when it or the counts changed: an update costs a layout)."""
        key = (id(anomaly), position, total)
        if key == self._drawn:
            return
        self._drawn = key
        body = self.query_one(".batch-body", Static)
        if anomaly is None:
            body.update(
                Text(
                    f"no anomaly{' in the events read' if total else ''}: "
                    "no non-finite loss or grad norm, no loss spike (a goes back)",
                    style="dim",
                )
            )
            return
        index, count = position
        out = Text(end="")
        out.append(f"anomaly {index}/{count}", style="bold")
        out.append(f" · step {anomaly.step} · ")
        out.append_text(plain(anomaly.what, "bold red"))
        if total > count:
            out.append(f" · {total} in the run (the newest {count} kept)", style="dim")
        out.append("\n←/→ another anomaly · a back\n", style="dim")
        batch = anomaly.batch_examples
        shown = len(anomaly.examples)
        if batch is None:
            out.append(f"its batch: {shown} examples shown", style="dim")
        else:
            out.append(f"its batch: {batch} examples, {shown} shown", style="dim")
        if not anomaly.examples:
            out.append("\n(the event named none of them)", style="dim")
        for k, ex in enumerate(anomaly.examples):
            out.append(f"\n\n{k + 1}. ", style="bold")
            out.append("row " + ("?" if ex.index is None else str(ex.index)), style="bold")
            if ex.loss is not None:
                out.append(f" · its loss {ex.loss:.4f}", style="bold red")
            out.append("\n   prompt  ", style="dim")
            out.append_text(plain(ex.prompt))
            out.append("\n   golden  ", style="dim")
            out.append_text(plain(ex.golden))
        body.update(out)
