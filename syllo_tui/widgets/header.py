"""The two header lines: who and what the run is, and how far it has come."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from syllo_tui.render import fmt_bytes, fmt_duration, fmt_num, progress_bar
from syllo_tui.state import RunState
from syllo_tui.widgets.text import STATUS_ICONS, STYLES, plain


class RunHeader(Widget):
    """Run id, model, status; step/total with a bar, steps/s, ETA, elapsed, peak memory."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: RunState | None = None
        self._now = 0.0
        self._waiting_for: str | None = None
        self._name: str | None = None

    def show(
        self,
        state: RunState,
        now: float,
        *,
        waiting_for: str | None = None,
        name: str | None = None,
    ) -> None:
        """Draw ``state`` as of ``now``; ``waiting_for`` names a file that does not exist yet.

        ``name``: the run's name on the run list, when there are several.
        """
        self._state, self._now, self._waiting_for, self._name = state, now, waiting_for, name
        self.refresh()

    def render(self) -> Text:
        width = max(20, self.size.width)
        st = self._state
        if st is None:
            return Text("syllo", style="bold")
        status = st.display_status(self._now)
        label = status
        if status == "stale" and st.last_ts is not None:
            label = f"stale: no event for {fmt_duration(self._now - st.last_ts)}"
        elif status == "waiting" and self._waiting_for:
            label = f"waiting for {self._waiting_for}"
        elif status in ("stopped", "failed") and st.end_reason:
            label = f"{status}: {st.end_reason}"
        # Status first: on a narrow terminal the model name is what gets cut.
        line1 = Text(end="")
        line1.append(" syllo ", style="bold reverse")
        if self._name is not None:
            line1.append_text(plain(f" {self._name} ", "bold reverse"))
        line1.append(" ")
        line1.append_text(plain(f"{STATUS_ICONS.get(status, '?')} {label}", STYLES.get(status, "")))
        line1.append("  run ", style=STYLES["label"])
        line1.append_text(plain(st.run_id or "–", "bold"))
        line1.append("  model ", style=STYLES["label"])
        line1.append_text(plain(st.model or "–"))
        line1.truncate(width, overflow="ellipsis")

        step = "–" if st.step is None else f"{st.step:,}"
        total = "–" if st.total_steps is None else f"{st.total_steps:,}"
        pct = "" if st.progress is None else f" {100 * st.progress:.0f}%"
        head = f" step {step}/{total} "
        eta = fmt_duration(st.eta_at(self._now))
        elapsed = fmt_duration(st.elapsed_at(self._now))
        speed = fmt_num(st.steps_per_s, ".2f")
        peak = fmt_bytes(st.peak_mem_bytes)
        rest = f"{pct}  {speed} steps/s  ETA {eta}  elapsed {elapsed}  peak {peak}"
        if width - len(head) - len(rest) < 11:  # 80 columns: keep room for the bar
            rest = f"{pct} {speed} it/s  ETA {eta}  up {elapsed}  peak {peak}"
        bar_width = max(6, min(40, width - len(head) - len(rest) - 1))
        line2 = Text(end="")
        line2.append(head, style="bold")
        line2.append(progress_bar(st.progress, bar_width), style="green")
        line2.append(rest)
        line2.truncate(width, overflow="ellipsis")
        return Text("\n", end="").join([line1, line2])
