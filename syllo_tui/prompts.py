"""One eval prompt across the run: its output at every eval round, and the step it first matched.

No UI import. The eval tier generates the same prompts at every eval
(``sample`` 0, 1, … is stable), so a prompt's rounds tell how the model's
answer to it changed. ``PromptHistory`` is filled by the state's fold (so
a cold open's background history fold fills it in too, like the
sparklines); ``PromptCursor`` is what the history view shows: which prompt,
and which round (the newest while it follows).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Rounds kept per prompt (the newest; the step it first matched is kept apart).
ROUNDS_CAP = 200
#: Prompts followed (the first ones: a budget cut drops prompts from the end).
PROMPTS_CAP = 64


@dataclass(frozen=True)
class Round:
    """One eval round's output for one prompt."""

    step: int
    prompt: str
    golden: str
    output: str | None  # None: the generation timed out
    match: bool | None
    timed_out: bool = False
    partial: str | None = None  # what a timed-out generation had written
    think_opened: bool = False

    @property
    def text(self) -> str:
        """What the round produced: the output, or a timeout's partial output."""
        return self.output if self.output is not None else (self.partial or "")


class PromptHistory:
    """Each eval prompt's rounds, oldest first, bounded; and the step each first matched."""

    def __init__(self) -> None:
        self._rounds: dict[int, list[Round]] = {}
        self._first_match: dict[int, int] = {}

    def add(self, sample: int, entry: Round) -> None:
        """One more round for prompt ``sample`` (a step seen again replaces what came after it)."""
        if sample not in self._rounds and len(self._rounds) >= PROMPTS_CAP:
            return
        rounds = self._rounds.setdefault(sample, [])
        while rounds and rounds[-1].step >= entry.step:
            rounds.pop()
        rounds.append(entry)
        del rounds[:-ROUNDS_CAP]
        first = self._first_match.get(sample)
        if entry.match is True and (first is None or entry.step < first):
            self._first_match[sample] = entry.step

    def cut_after(self, step: int) -> None:
        """A resume re-does the steps after ``step``: forget their rounds."""
        for sample, rounds in self._rounds.items():
            rounds[:] = [r for r in rounds if r.step <= step]
            if self._first_match.get(sample, -1) > step:
                firsts = [r.step for r in rounds if r.match is True]
                if firsts:
                    self._first_match[sample] = firsts[0]
                else:
                    del self._first_match[sample]

    def samples(self) -> list[int]:
        """The prompts with at least one round, in order."""
        return sorted(k for k, rounds in self._rounds.items() if rounds)

    def rounds(self, sample: int) -> list[Round]:
        return self._rounds.get(sample, [])

    def first_match(self, sample: int) -> int | None:
        """The step at which prompt ``sample`` first matched (None: not yet)."""
        return self._first_match.get(sample)


@dataclass
class PromptCursor:
    """The prompt and the round the history view shows; ``step`` None follows the newest round."""

    sample: int | None = None
    step: int | None = None

    def open_at(self, history: PromptHistory, sample: int | None, step: int | None) -> None:
        """Show prompt ``sample`` (the one shown before, else the first) at round ``step`` (None: newest)."""
        samples = history.samples()
        if sample in samples:
            self.sample, self.step = sample, step
        elif self.sample not in samples:
            self.sample, self.step = (samples[0] if samples else None), None

    def shown(self, history: PromptHistory) -> tuple[int | None, int]:
        """(the prompt shown, the index of its round shown); index -1 when it has none."""
        samples = history.samples()
        if self.sample not in samples:
            self.sample, self.step = (samples[0] if samples else None), None
        if self.sample is None:
            return None, -1
        rounds = history.rounds(self.sample)
        if self.step is None:
            return self.sample, len(rounds) - 1
        # The round at that step, or the last one before it (a resume may have cut it).
        index = max((k for k, r in enumerate(rounds) if r.step <= self.step), default=0)
        return self.sample, index

    def step_round(self, history: PromptHistory, delta: int) -> bool:
        """Show the round ``delta`` away; stepping onto the newest follows it again."""
        sample, index = self.shown(history)
        if sample is None:
            return False
        rounds = history.rounds(sample)
        j = index + delta
        if not 0 <= j < len(rounds):
            return False
        self.step = None if j == len(rounds) - 1 else rounds[j].step
        return True

    def step_prompt(self, history: PromptHistory, delta: int) -> bool:
        """Show the prompt ``delta`` away, at the same round's step (or its newest)."""
        samples = history.samples()
        sample, _ = self.shown(history)
        if sample is None:
            return False
        j = samples.index(sample) + delta
        if not 0 <= j < len(samples):
            return False
        self.sample = samples[j]
        return True
