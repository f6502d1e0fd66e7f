"""The run list as rows of text: the list view and ``syllo-tui --once`` on several runs (no UI).

Every cell is plain text made inert (a run's name comes from a folder name,
its status reason from the writer).
"""

from __future__ import annotations

from dataclasses import dataclass

from syllo_train.inert import inert
from syllo_tui.render import fmt_duration, fmt_num, fmt_pct
from syllo_tui.state import RunState

#: (title, width, right-aligned) of each column after the name.
COLUMNS: tuple[tuple[str, int, bool], ...] = (
    ("status", 10, False),
    ("step", 13, True),
    ("loss", 7, True),
    ("val loss", 8, True),
    ("acc", 6, True),
    ("timeouts", 8, True),
    ("last event", 10, True),
)


@dataclass(frozen=True)
class RunRow:
    """One run's cells, in ``COLUMNS`` order after the name."""

    name: str
    cells: tuple[str, ...]


def run_row(name: str, state: RunState, now: float) -> RunRow:
    """The list's columns for one run, as of ``now``."""
    c = state.counters
    step = "–" if state.step is None else f"{state.step:,}"
    if state.total_steps:
        step += f"/{state.total_steps:,}"
    age = "–" if state.last_ts is None else fmt_duration(max(0.0, now - state.last_ts))
    acc = state.last_eval_accuracy if state.last_eval_accuracy is not None else None
    return RunRow(
        inert(name),
        (
            inert(state.display_status(now)),
            step,
            fmt_num(state.loss),
            fmt_num(state.val_loss),
            fmt_pct(acc),
            str(c.get("timeouts", 0)),
            age,
        ),
    )


def name_width(rows: list[RunRow], width: int) -> int:
    """Cells for the name column: the longest name, within what the terminal leaves."""
    fixed = sum(w + 1 for _, w, _ in COLUMNS)
    longest = max([len(r.name) for r in rows] + [4])
    return max(4, min(longest, width - fixed - 3))


def format_line(name: str, cells: tuple[str, ...], name_cells: int) -> str:
    """One line of the table: the name cut to ``name_cells``, then the fixed columns."""
    shown = name if len(name) <= name_cells else name[: name_cells - 1] + "…"
    parts = [f"{shown:<{name_cells}}"]
    for (_, w, right), cell in zip(COLUMNS, cells, strict=True):
        cell = cell if len(cell) <= w else cell[: w - 1] + "…"
        parts.append(f"{cell:>{w}}" if right else f"{cell:<{w}}")
    return " ".join(parts)


def header_line(name_cells: int) -> str:
    return format_line("run", tuple(title for title, _, _ in COLUMNS), name_cells)


def table(rows: list[RunRow], width: int = 120) -> str:
    """The whole list as plain text (``--once``): a header line, then one line a run."""
    n = name_width(rows, width)
    lines = [header_line(n).rstrip()]
    lines += [format_line(r.name, r.cells, n).rstrip() for r in rows]
    return "\n".join(lines) + "\n"
