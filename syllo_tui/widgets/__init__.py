"""The monitor's widgets. Each one draws from a RunState; none reads files or events."""

from __future__ import annotations

from syllo_tui.widgets.counters import CountersPanel
from syllo_tui.widgets.eventlog import EventLog
from syllo_tui.widgets.header import RunHeader
from syllo_tui.widgets.help import HelpScreen
from syllo_tui.widgets.panes import ExampleBar, TextPane
from syllo_tui.widgets.statusbar import StatusBar
from syllo_tui.widgets.trends import Trends

__all__ = [
    "CountersPanel",
    "EventLog",
    "ExampleBar",
    "HelpScreen",
    "RunHeader",
    "StatusBar",
    "TextPane",
    "Trends",
]
