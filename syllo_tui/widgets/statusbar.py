"""The bottom line: following or paused, how much was read, malformed lines, warnings, keys."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from syllo_tui.widgets.text import plain


@dataclass
class StatusInfo:
    """What the status bar shows (the app fills it in)."""

    following: bool
    new_since_pause: int
    events: int
    malformed: int
    warnings: int
    last_warning: str | None
    loading_history: bool
    source_note: str | None  # source error, end of stdin, notifications off


class StatusBar(Widget):
    """One line; untrusted parts (file name, warning text) are inert."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._info: StatusInfo | None = None

    def show(self, info: StatusInfo) -> None:
        self._info = info
        self.refresh()

    def render(self) -> Text:
        info = self._info
        if info is None:
            return Text("")
        line = Text(end="")
        if info.following:
            line.append(" ▶ following ", style="bold reverse green")
        else:
            new = f" +{info.new_since_pause:,} new" if info.new_since_pause else ""
            line.append(f" ⏸ paused{new} ", style="bold reverse yellow")
        line.append(f" {info.events:,} events", style="dim")
        line.append(" · ")
        line.append(f"malformed {info.malformed:,}", style="bold red" if info.malformed else "dim")
        if info.loading_history:
            line.append(" · loading history…", style="italic")
        if info.source_note:
            line.append(" · ")
            line.append_text(plain(info.source_note, "bold red"))
        if info.warnings:
            line.append(
                f" · ⚠ {info.warnings} warning{'s' if info.warnings != 1 else ''}", style="magenta"
            )
            if info.last_warning:
                line.append(": ")
                line.append_text(plain(info.last_warning.replace("\n", " "), "magenta"))
        keys = " ? keys  q quit "
        room = self.size.width - len(keys)
        line.truncate(max(0, room), overflow="ellipsis", pad=True)
        line.append(keys, style="reverse")
        return line
