"""What the panes show: following the newest example, or paused on one the user stepped to.

No Textual import: the app asks a ``Browser`` which example and eval to draw
and tells it which key was pressed; each step answers whether it moved (the
app rings the bell when it did not). A ``Browser`` remembers examples and
evals by ``seq`` (their position in one state's history), so when the
history state replaces the cold-open state, ``remap`` points it at the same
example and eval in the new state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from syllo_tui.state import RunState
from syllo_tui.views import AnomalyView, EvalView, ExampleView


@dataclass
class Browser:
    """The selection over one run's state: following, or paused on an example (and an eval)."""

    following: bool = True
    example: int | None = None  # seq of the example shown while paused
    eval: int | None = None  # seq of the eval shown while paused (None: the example's)
    paused_at: int = 0  # state.applied when following was paused ("+N new" counts from it)
    seen_restarts: int = 0  # state.restarts when last drawn

    # -- what is shown ----------------------------------------------------------------

    def current_example(self, state: RunState) -> ExampleView | None:
        """The example the panes show: the newest while following."""
        examples = state.examples
        if self.following or self.example is None:
            return examples[-1] if examples else None
        return state.example_at(self.example) or (examples[-1] if examples else None)

    def current_eval(self, state: RunState) -> EvalView | None:
        """The eval the counters describe: the selected one, the shown sample's, or the newest."""
        if not self.following:
            if self.eval is not None and (ev := state.eval_at(self.eval)) is not None:
                return ev
            example = self.current_example(state)
            if example is not None and example.eval_seq is not None:
                ev = state.eval_at(example.eval_seq)
                if ev is not None:
                    return ev
        return state.evals[-1] if state.evals else None

    def new_since_pause(self, state: RunState) -> int:
        """Events folded in since following was paused (0 while following)."""
        return 0 if self.following else max(0, state.applied - self.paused_at)

    # -- keys -------------------------------------------------------------------------

    def pause(self, state: RunState) -> None:
        """Stop moving the panes; stay on the example shown now."""
        if self.following:
            example = self.current_example(state)
            self.example, self.eval = (example.seq if example else None), None
            self.following = False
            self.paused_at = state.applied

    def follow(self) -> None:
        """Move with the newest example again."""
        self.example = self.eval = None
        self.following = True

    def toggle_follow(self, state: RunState) -> None:
        if self.following:
            self.pause(state)
        else:
            self.follow()

    def step_example(
        self,
        state: RunState,
        delta: int,
        where: Callable[[ExampleView], bool] | None = None,
    ) -> bool:
        """Show the example ``delta`` places away (pausing); False when there is none.

        ``where``: count only the examples it accepts (the token view steps
        through the examples that have tokens).
        """
        examples = [e for e in state.examples if where is None or where(e)]
        current = self.current_example(state)
        if current is None:
            return False
        if where is not None:  # from an example it skips: the one before it that it counts
            current = token_example(state, current)[0] or current
        i = next(
            (k for k in range(len(examples) - 1, -1, -1) if examples[k].seq <= current.seq), None
        )
        j = None if i is None else i + delta
        if j is None or not 0 <= j < len(examples):
            return False
        self.pause(state)
        self.example, self.eval = examples[j].seq, None
        return True

    def step_eval(self, state: RunState, delta: int) -> bool:
        """Show the eval ``delta`` rounds away (its first sample, pausing); False when there is none."""
        evals = state.evals
        current = self.current_eval(state)
        if current is None:
            return False
        i = next((k for k, e in enumerate(evals) if e.seq == current.seq), len(evals) - 1)
        j = i + delta
        if not 0 <= j < len(evals):
            return False
        self._show_eval(state, evals[j])
        return True

    def show_eval_at(self, state: RunState, step: int) -> bool:
        """Show the eval made at ``step`` (its first sample, pausing); False when it is not held."""
        target = next((e for e in reversed(state.evals) if e.step == step), None)
        if target is None:
            return False
        self._show_eval(state, target)
        return True

    def _show_eval(self, state: RunState, target: EvalView) -> None:
        self.pause(state)
        if target.first_example_seq is not None:
            self.example = target.first_example_seq
        self.eval = target.seq

    # -- a new state ------------------------------------------------------------------

    def remap(self, old: RunState, new: RunState) -> None:
        """``new`` replaced ``old`` (the folded history): point at the same example and eval."""
        self.paused_at += new.applied - old.applied  # "+N new" counts from the same point
        self.seen_restarts = new.restarts
        if self.following:
            return
        example = old.example_at(self.example) if self.example is not None else None
        same = new.same_example(example) if example is not None else None
        self.example = same.seq if same is not None else None
        ev = old.eval_at(self.eval) if self.eval is not None else None
        match = [e for e in new.evals if ev is not None and e.step == ev.step]
        self.eval = match[-1].seq if match else None

    def check_restart(self, state: RunState) -> bool:
        """Another run began in the same file: its examples are not the old ones, so follow."""
        if state.restarts == self.seen_restarts:
            return False
        self.seen_restarts = state.restarts
        self.follow()
        return True


def token_example(state: RunState, example: ExampleView | None) -> tuple[ExampleView | None, bool]:
    """The example the token view shows for ``example``, and whether it is another one.

    The example itself when it carries tokens; else (an eval sample, an
    example from before the token view) the newest one before it that does.
    """
    if example is None:
        return None, False
    if state.tokens_of(example) is not None:
        return example, False
    for view in reversed(state.examples):
        if view.seq < example.seq and state.tokens_of(view) is not None:
            return view, True
    return None, False


def token_position(state: RunState, example: ExampleView | None) -> tuple[int, int]:
    """(1-based index, count) of ``example`` among the examples that carry tokens."""
    having = [e.seq for e in state.examples if state.tokens_of(e) is not None]
    if example is None or example.seq not in having:
        return (0, len(having))
    return (having.index(example.seq) + 1, len(having))


def shown_anomaly(state: RunState, step: int | None) -> tuple[AnomalyView | None, tuple[int, int]]:
    """The anomaly at ``step`` (None: the newest) and its (1-based index, count)."""
    anomalies = list(state.anomalies)
    if not anomalies:
        return None, (0, 0)
    i = len(anomalies) - 1
    if step is not None:
        i = max((k for k, a in enumerate(anomalies) if a.step <= step), default=0)
    return anomalies[i], (i + 1, len(anomalies))


def step_anomaly(state: RunState, step: int | None, delta: int) -> tuple[int | None, bool]:
    """The step to show after moving ``delta`` anomalies from ``step``; and whether it moved.

    Anomalies are remembered by step (not by position), so the folded
    history replacing the cold-open state shows the same one; the newest is
    None (it follows new anomalies).
    """
    anomaly, (index, count) = shown_anomaly(state, step)
    j = index - 1 + delta
    if anomaly is None or not 0 <= j < count:
        return step, False
    return (None if j == count - 1 else state.anomalies[j].step), True


def example_position(state: RunState, example: ExampleView | None) -> tuple[int, int]:
    """(1-based index, count) of ``example`` among the state's examples; (0, 0) for none."""
    if example is None:
        return (0, 0)
    first = state.examples[0].seq
    index = next(
        (k for k, e in enumerate(state.examples) if e.seq == example.seq), example.seq - first
    )
    return (index + 1, len(state.examples))


def eval_position(state: RunState, eval_view: EvalView | None) -> tuple[int, int]:
    """(1-based index, count) of ``eval_view`` among the state's evals; (0, 0) for none."""
    if eval_view is None:
        return (0, 0)
    index = next(
        (k for k, e in enumerate(state.evals) if e.seq == eval_view.seq), len(state.evals) - 1
    )
    return (index + 1, len(state.evals))


def latest_sample(state: RunState, sample: int) -> ExampleView | None:
    """The newest eval's output for eval prompt ``sample`` (the same prompts every eval)."""
    for view in reversed(state.examples):
        if view.tier == "eval" and view.sample == sample:
            return view
    return None


def sample_numbers(states: list[RunState]) -> list[int]:
    """The eval prompt numbers any of ``states`` has an output for, in order."""
    return sorted({v.sample for st in states for v in st.examples if v.sample is not None})
