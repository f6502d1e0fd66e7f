"""The run list: one line a run (name, status, step, loss, val loss, accuracy, timeouts, age)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget

from syllo_tui.runtable import RunRow, format_line, header_line, name_width
from syllo_tui.widgets.text import STYLES


class RunList(Widget, can_focus=True):
    """A cursor over the runs; Enter opens one, space marks it for the overlay and side by side."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "run list: previous run", show=False),
        Binding("down,j", "move(1)", "run list: next run", show=False),
        Binding("enter", "open", "run list: open the run under the cursor"),
        Binding("space", "mark", "run list: mark / unmark it (overlay o, side by side x)"),
    ]

    class Opened(Message):
        """The user asked to open the run at ``index``."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class Marked(Message):
        """The user marked or unmarked the run at ``index``."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cursor = 0
        self._rows: list[RunRow] = []
        self._marked: list[bool] = []

    def show(self, rows: list[RunRow], marked: list[bool]) -> None:
        self._rows, self._marked = rows, marked
        self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.refresh()

    def action_move(self, delta: int) -> None:
        if self._rows:
            self.cursor = max(0, min(len(self._rows) - 1, self.cursor + delta))
            self.refresh()

    def action_open(self) -> None:
        if self._rows:
            self.post_message(self.Opened(self.cursor))

    def action_mark(self) -> None:
        if self._rows:
            self.post_message(self.Marked(self.cursor))

    def render(self) -> Text:
        width = max(20, self.size.width)
        if not self._rows:
            return Text(" no runs yet: waiting for an events.jsonl below the folder", style="dim")
        n = name_width(self._rows, width - 2)
        out = Text(end="")
        out.append("  " + header_line(n), style="bold")
        for i, (row, marked) in enumerate(zip(self._rows, self._marked, strict=True)):
            line = Text(("●" if marked else " ") + " ", end="")
            line.append(format_line(row.name, row.cells, n), style=STYLES.get(row.cells[0], ""))
            if i == self.cursor:
                line.stylize("reverse")
            line.truncate(width, overflow="ellipsis")
            out.append("\n")
            out.append_text(line)
        return out
