"""The event log pane: checkpoints, timeouts, stalls, resumes, errors, warnings, with times."""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from syllo_tui.render import fmt_clock
from syllo_tui.state import RunState
from syllo_tui.widgets.text import STYLES, plain

#: Lines drawn (the state keeps more; the newest are what matter on screen).
SHOWN = 200


class EventLog(VerticalScroll, can_focus=True):
    """Newest entry at the bottom; stays scrolled to the end unless the user scrolled up."""

    def compose(self) -> ComposeResult:
        yield Static(Text(""), classes="log-body")

    def show(self, state: RunState, tz: tzinfo | None) -> None:
        at_end = self.scroll_y >= self.max_scroll_y
        out = Text(end="")
        entries = list(state.log)[-SHOWN:]
        if not entries:
            out.append("no checkpoints, timeouts, resumes or errors yet", style="dim")
        for i, entry in enumerate(entries):
            if i:
                out.append("\n")
            out.append(fmt_clock(entry.ts, tz), style="dim")
            step = f"@{entry.step}" if entry.step is not None else ""
            out.append(f" {step:>7} ")
            out.append(f"{entry.kind:<10} ", style=STYLES.get(entry.kind, ""))
            out.append_text(plain(entry.text))
        self.query_one(".log-body", Static).update(out)
        if at_end:
            self.call_after_refresh(self.scroll_end, animate=False)
