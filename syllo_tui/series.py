"""A bounded, step-ordered series of (step, value) points: what a sparkline or a chart draws."""

from __future__ import annotations

#: How many points each sparkline keeps; older points are merged pairwise, so
#: the whole run stays visible at a coarser resolution.
SERIES_CAP = 512


class Series:
    """A bounded, step-ordered series of (step, value) points for one sparkline.

    When it holds more than ``cap`` points, neighbours are merged pairwise
    (mean of values) and later points are gathered twice as coarsely, so memory
    stays bounded however long the run is while the start of the run stays
    visible. Steps only go forward: a point at or before the last step (a
    resumed run re-doing steps) first drops what came after it, so a step is
    never counted twice.
    """

    def __init__(self, cap: int = SERIES_CAP) -> None:
        if cap < 2:
            raise ValueError(f"Series cap must be at least 2, got {cap}")
        self.cap = cap
        self.stride = 1  # raw points per bucket
        # Each bucket: [first_step, last_step, sum_of_values, count].
        self._buckets: list[list[float]] = []
        self.seams: list[int] = []  # steps where a resumed run joins
        self.latest: float | None = None
        self.latest_step: int | None = None

    def __len__(self) -> int:
        return len(self._buckets)

    @property
    def first_step(self) -> int | None:
        """The first step the series covers (None when empty)."""
        return int(self._buckets[0][0]) if self._buckets else None

    def add(self, step: int, value: float) -> None:
        """Append one point; a step at or before the last one replaces the tail first."""
        if self._buckets and step <= self._buckets[-1][1]:
            self.cut_after(step - 1)
        last = self._buckets[-1] if self._buckets else None
        if last is not None and last[3] < self.stride:
            last[1] = step
            last[2] += value
            last[3] += 1
        else:
            self._buckets.append([step, step, value, 1])
            if len(self._buckets) > self.cap:
                self._compact()
        self.latest = value
        self.latest_step = step

    def _compact(self) -> None:
        merged: list[list[float]] = []
        for i in range(0, len(self._buckets) - 1, 2):
            a, b = self._buckets[i], self._buckets[i + 1]
            merged.append([a[0], b[1], a[2] + b[2], a[3] + b[3]])
        if len(self._buckets) % 2:
            merged.append(self._buckets[-1])
        self._buckets = merged
        self.stride *= 2

    def cut_after(self, step: int) -> None:
        """Drop points with a step greater than ``step`` (the part of a run a resume re-does)."""
        while self._buckets and self._buckets[-1][0] > step:
            self._buckets.pop()
        if self._buckets and self._buckets[-1][1] > step:
            # A merged bucket straddles the cut: keep its mean, shorten its span.
            self._buckets[-1][1] = step
        self.seams = [s for s in self.seams if s <= step]
        if self._buckets:
            b = self._buckets[-1]
            self.latest = b[2] / b[3]
            self.latest_step = int(b[1])
        else:
            self.latest = None
            self.latest_step = None

    def mark_seam(self, step: int) -> None:
        """Remember that a resumed run continues after ``step``."""
        self.cut_after(step)
        if not self.seams or self.seams[-1] != step:
            self.seams.append(step)
            del self.seams[:-64]

    def points(self) -> list[tuple[int, float]]:
        """The (last step, mean value) of each bucket, oldest first."""
        return [(int(b[1]), b[2] / b[3]) for b in self._buckets]

    def values(self) -> list[float]:
        return [b[2] / b[3] for b in self._buckets]
