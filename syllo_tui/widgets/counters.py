"""Counters: timeouts, evals, health (anomalies, the best eval), accuracy, checkpoints."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from syllo_tui import charts
from syllo_tui.render import eval_share_text, fmt_duration, fmt_pct
from syllo_tui.state import RunState
from syllo_tui.views import EvalView
from syllo_tui.widgets.text import plain


def has_health(state: RunState) -> bool:
    """Whether the run has a health line to show: a best eval, or anomalies."""
    return state.best is not None or anomaly_count(state) > 0


def anomaly_count(state: RunState) -> int:
    """Anomalies in the run: the counter (the whole run), or the events read when more."""
    return max(int(state.counters.get("anomalies") or 0), len(state.anomalies))


def health_line(state: RunState, width: int) -> Text:
    """``health   ! 2 anomalies, last @690 · ★ best val_loss 0.7 @400``, shorter when narrow."""
    anomalies = anomaly_count(state)
    last = state.anomalies[-1].step if state.anomalies else None
    best = state.best
    bang, star = charts.symbol("anomaly"), charts.symbol("best")
    at = f" @{last}" if last is not None else ""
    plural = "y" if anomalies == 1 else "ies"
    # (anomalies, best) from the most words to the fewest: the first that fits is shown.
    forms = [
        (
            f"{bang} {anomalies} anomal{plural}{at.replace(' @', ', last @')}",
            "{star} best {m} {v} @{s}",
        ),
        (f"{bang} {anomalies}{at}", "{star} {m} {v} @{s}"),
        (f"{bang} {anomalies}{at}", "{star} {v} @{s}"),
    ]
    line = Text("")
    for anomaly_words, best_words in forms:
        line = Text("health   ", style="dim", end="")
        if anomalies:
            line.append(anomaly_words, style="bold red")
        else:
            line.append("no anomaly")
        if best is not None:
            value = "?" if best.value is None else f"{best.value:.4g}"
            words = best_words.format(star=star, m=best.metric, v=value, s=best.step)
            line.append(" · ")
            line.append_text(plain(words, "bold green"))
        if line.cell_len <= width:
            break
    return line


class CountersPanel(Widget):
    """Counters, four lines (six when tall; one more for health); the eval line follows the eval looked at."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: RunState | None = None
        self._now = 0.0
        self._eval: EvalView | None = None
        self._eval_pos: tuple[int, int] = (0, 0)

    def show(
        self, state: RunState, now: float, eval_view: EvalView | None, eval_pos: tuple[int, int]
    ) -> None:
        self._state, self._now, self._eval, self._eval_pos = state, now, eval_view, eval_pos
        self.refresh()

    def render(self) -> Text:
        st = self._state
        if st is None:
            return Text("")
        c = st.counters
        lines: list[Text] = []

        timeouts = int(c.get("timeouts") or 0)
        line = Text("timeouts ", style="dim", end="")
        line.append(
            f"{timeouts} · {c.get('timeout_pct', 0.0)}% of {c.get('generations', 0)}",
            style="bold yellow" if timeouts else "",
        )
        stalls = int(c.get("stalls") or 0)
        if stalls:
            line.append(f" · {stalls} stall{'s' if stalls != 1 else ''}", style="bold yellow")
        lines.append(line)

        ev = self._eval
        line = Text("evals    ", style="dim", end="")
        # The run's eval share next to the count (the view's eval follows it).
        share = eval_share_text(st.eval_share, st.eval_budget, brief=True)
        evals = f"{c.get('evals', 0)}" + (f" ({share})" if share else "")
        if ev is None:
            line.append(evals)
        else:
            index, count = self._eval_pos
            line.append(f"{evals} · ")
            latest = index == count
            line.append(
                f"{'' if latest else f'#{index} '}@{ev.step}",
                style="" if latest else "bold",
            )
            if ev.val_loss is not None:
                line.append(f" · val {ev.val_loss:.4f}")
        lines.append(line)

        if has_health(st):
            lines.append(health_line(st, self.size.width))

        line = Text("accuracy ", style="dim", end="")
        eval_acc = ev.accuracy if ev is not None else st.last_eval_accuracy
        line.append(f"eval {fmt_pct(eval_acc)} · running {fmt_pct(st.running_accuracy)}")
        lines.append(line)

        line = Text("ckpts    ", style="dim", end="")
        line.append(f"{c.get('checkpoints', 0)}")
        if st.last_checkpoint_step is not None:
            line.append(
                f" · last @{st.last_checkpoint_step} · {fmt_duration(st.checkpoint_age(self._now))} ago"
            )
        lines.append(line)

        # Rows a tall terminal has room for.
        line = Text("run      ", style="dim", end="")
        epoch = f"epoch {st.epoch:.2f}" if st.epoch is not None else "epoch –"
        line.append(f"{epoch} · {st.resumes} resume{'s' if st.resumes != 1 else ''}")
        dropped = int(c.get("dropped_events") or 0)
        line.append(f" · {dropped} dropped", style="bold red" if dropped else "")
        lines.append(line)
        line = Text("setup    ", style="dim", end="")
        params = (
            f"{st.params_trainable / 1e6:.1f}M trainable" if st.params_trainable else "– params"
        )
        line.append_text(plain(f"{st.device or '–'} × {st.world_size or '–'} · {params}"))
        lines.append(line)
        lines = lines[: max(4, self.size.height)]

        for line in lines:
            line.truncate(max(1, self.size.width), overflow="ellipsis")
        return Text("\n", end="").join(lines)
