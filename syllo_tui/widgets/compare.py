"""Side by side: the same eval prompt's newest output in each chosen run."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from syllo_tui.render import verdict
from syllo_tui.views import ExampleView
from syllo_tui.widgets.text import body_text, plain


class CompareView(VerticalScroll, can_focus=True):
    """One column a run: its step and verdict, then its output; the prompt and golden above."""

    def compose(self) -> ComposeResult:
        yield Static(Text(""), classes="compare-body")

    def show(
        self,
        sample: int | None,
        columns: list[tuple[str, ExampleView | None]],
        *,
        fold_think: bool,
    ) -> None:
        body = self.query_one(".compare-body", Static)
        if sample is None:
            body.update(Text("no eval output yet in these runs", style="dim italic"))
            return
        first = next((ex for _, ex in columns if ex is not None), None)
        head = Text(end="")
        head.append(f"eval prompt {sample}", style="bold")
        head.append("  ([ / ] another prompt)\n", style="dim")
        if first is not None:
            head.append("prompt  ", style="dim")
            head.append_text(plain(first.prompt))
            head.append("\ngolden  ", style="dim")
            head.append_text(plain(first.golden))
        grid = Table(expand=True, show_lines=False, pad_edge=False, box=None)
        for name, _ in columns:
            grid.add_column(plain(name, "bold"), ratio=1, overflow="fold")
        cells = []
        for _, ex in columns:
            if ex is None:
                cells.append(Text("no output for this prompt yet", style="dim italic"))
                continue
            cell = Text(f"step {ex.step} · {verdict(ex)}\n", style="bold", end="")
            if ex.timed_out:
                cell.append_text(
                    body_text(
                        ex.partial or "(no partial output)",
                        fold_think=fold_think,
                        style="dim",
                        think_opened=ex.think_opened,
                    )
                )
            else:
                cell.append_text(
                    body_text(ex.output or "", fold_think=fold_think, think_opened=ex.think_opened)
                )
            cells.append(cell)
        grid.add_row(*cells)
        body.update(Group(head, Text(""), grid))
