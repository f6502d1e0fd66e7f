"""What the panes show: following the newest example, or paused on one the user stepped to.

No Textual import: the app asks a ``Browser`` which example and eval to draw
and tells it which key was pressed; each step answers whether it moved (the
app rings the bell when it did not). A ``Browser`` remembers examples and
evals by ``seq`` (their position in one state's history), so when the
history state replaces the cold-open state, ``remap`` points it at the same
example and eval in the new state.
"""

from __future__ import annotations

from dataclasses import dataclass

from syllo_tui.state import RunState
from syllo_tui.views import EvalView, ExampleView


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

    def step_example(self, state: RunState, delta: int) -> bool:
        """Show the example ``delta`` places away (pausing); False when there is none."""
        examples = state.examples
        current = self.current_example(state)
        if current is None:
            return False
        i = next(
            (k for k in range(len(examples) - 1, -1, -1) if examples[k].seq == current.seq), None
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
        self.pause(state)
        target = evals[j]
        if target.first_example_seq is not None:
            self.example = target.first_example_seq
        self.eval = target.seq
        return True

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
