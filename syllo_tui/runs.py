"""Which runs to show: the command line's arguments, folders of runs, and the names on the list.

No UI import. An argument is one run (an events file, a folder that holds
``events.jsonl``, ``-``) or a folder of runs: every ``events.jsonl`` below it
(up to ``SCAN_DEPTH`` folders deep), rescanned while the monitor runs so a
run that starts later joins the list. ``Run`` ties one run's source, its
follower thread and its ``Feed`` together.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from syllo_tui.feed import Feed, HistoryJob
from syllo_tui.follower import Batch, Follower
from syllo_tui.remote import parse_remote
from syllo_tui.stream import EventSource

#: The events file a run folder holds (the trainer's ``output.dir``).
EVENTS_NAME = "events.jsonl"

#: How deep below a folder of runs to look for events files (runs/a/status/events.jsonl is 2).
SCAN_DEPTH = 4


@dataclass(frozen=True)
class RunSpec:
    """One run to follow: ``target`` is a path, ``-`` (stdin) or ``HOST:PATH``."""

    name: str
    target: str


@dataclass
class Selection:
    """What the command line asks for: runs now, and folders to keep scanning for more."""

    runs: list[RunSpec]
    folders: list[Path] = field(default_factory=list)

    @property
    def several(self) -> bool:
        """Several runs (or a folder that may gain some): the run list is shown."""
        return len(self.runs) != 1 or bool(self.folders)


def find_runs(folder: Path, depth: int = SCAN_DEPTH) -> list[Path]:
    """Every ``events.jsonl`` below ``folder`` (not in it), at most ``depth`` folders deep, sorted."""
    found: list[Path] = []

    def walk(d: Path, level: int) -> None:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            return  # unreadable or gone: its runs are not shown
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                sub = Path(entry.path)
                if (sub / EVENTS_NAME).is_file():
                    found.append(sub / EVENTS_NAME)
                if level < depth:
                    walk(sub, level + 1)

    walk(folder, 1)
    return found


def run_name(path: Path, root: Path | None = None) -> str:
    """A run's name: its folder relative to ``root`` (or its folder's name), without a last ``status``."""
    folder = path.parent
    if folder.name == "status" and folder.parent != folder:
        folder = folder.parent
    if root is not None:
        try:
            rel = folder.resolve().relative_to(root.resolve())
            return str(rel) if str(rel) != "." else (folder.resolve().name or str(folder))
        except ValueError:
            pass
    return folder.resolve().name or str(folder)


def remote_name(host: str, path: str) -> str:
    """``host:name`` with the run folder's name, the same rule as a local run's."""
    parts = [p for p in PurePosixPath(path).parts if p not in ("/", ".")]
    if parts and parts[-1] == EVENTS_NAME:
        parts.pop()
    if len(parts) > 1 and parts[-1] == "status":
        parts.pop()
    return f"{host}:{parts[-1] if parts else path}"


def unique_names(names: Sequence[str], targets: Sequence[str]) -> list[str]:
    """Names made unique: a clash gets the clashing runs' targets instead."""
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [t if seen[n] > 1 else n for n, t in zip(names, targets, strict=True)]


def select(args: Sequence[str]) -> Selection:
    """Resolve the command line's arguments (see the module docstring)."""
    specs: list[tuple[str, str]] = []
    folders: list[Path] = []
    for arg in args:
        if arg == "-":
            specs.append(("stdin", "-"))
            continue
        remote = parse_remote(arg)
        if remote is not None:  # HOST:PATH (an existing local path always wins)
            specs.append((remote_name(remote.host, remote.path), arg))
            continue
        path = Path(arg)
        if path.is_dir() and not (path / EVENTS_NAME).exists():
            folders.append(path)
            specs += [(run_name(p, path), str(p)) for p in find_runs(path)]
            continue
        events = path / EVENTS_NAME if path.is_dir() else path
        specs.append((run_name(events), str(events)))
    names = unique_names([n for n, _ in specs], [t for _, t in specs])
    return Selection([RunSpec(n, t) for n, (_, t) in zip(names, specs, strict=True)], folders)


class RunFolder:
    """A folder of runs, rescanned for runs that appear later."""

    def __init__(self, folder: Path, known: Iterable[str] = ()) -> None:
        self.folder = folder
        self._known = {str(Path(k)) for k in known}

    def scan(self) -> list[RunSpec]:
        """Runs that appeared since the last scan (named relative to the folder)."""
        new = []
        for path in find_runs(self.folder):
            if str(path) not in self._known:
                self._known.add(str(path))
                new.append(RunSpec(run_name(path, self.folder), str(path)))
        return new


class Run:
    """One run on the list: its source, the thread that follows it, and its Feed."""

    def __init__(
        self,
        name: str,
        source: EventSource,
        deliver: Callable[[Run, Batch], Any],
        *,
        feed: Feed,
        cold_open: bool = True,
        cold_events: int | None = None,
        poll_interval_s: float = 0.5,
        watch: bool = True,
    ) -> None:
        self.name = name
        self.source = source
        self.feed = feed
        self.marked = False  # chosen for the overlay and the side-by-side view
        self.pending: HistoryJob | None = None  # a history waiting for the fold worker
        self.follower = Follower(
            source,
            lambda batch: deliver(self, batch),
            cold_open=cold_open,
            cold_events=cold_events,
            poll_interval_s=poll_interval_s,
            watch=watch,
        )

    def start(self) -> None:
        self.follower.start()

    def stop(self) -> None:
        self.follower.stop()
        self.feed.cancel()
        self.pending = None
        self.source.close()


class RunSet:
    """The runs on the list: which one is shown, which are marked, whose history folds next."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.index = 0  # the shown run
        self.folding: Run | None = None  # the run whose history is being folded

    @property
    def shown(self) -> Run:
        return self.runs[min(self.index, len(self.runs) - 1)]

    def add(self, run: Run) -> Run:
        self.runs.append(run)
        return run

    def marked(self) -> list[Run]:
        """The runs chosen for the overlay and side by side (all of them when none is marked)."""
        return [r for r in self.runs if r.marked] or list(self.runs)

    def toggle_mark(self, index: int) -> None:
        self.runs[index].marked = not self.runs[index].marked

    def next_fold(self) -> tuple[Run, HistoryJob] | None:
        """The next history to fold, one at a time, the shown run's first; None: not now."""
        if self.folding is not None:
            return None
        waiting = [r for r in self.runs if r.pending is not None]
        if not waiting:
            return None
        run = self.shown if self.shown.pending is not None else waiting[0]
        job, run.pending = run.pending, None
        assert job is not None
        self.folding = run
        return run, job

    def folded(self) -> None:
        """The history being folded is done (or abandoned)."""
        self.folding = None


def step_sample(numbers: list[int], current: int | None, delta: int) -> tuple[int | None, bool]:
    """The eval prompt ``delta`` away from ``current`` among ``numbers``; and whether it moved."""
    if not numbers:
        return None, False
    at = current if current in numbers else numbers[0]
    i = numbers.index(at) + delta
    return numbers[max(0, min(len(numbers) - 1, i))], 0 <= i < len(numbers)
