"""runs.py: which runs the command line names, their names on the list, runs that appear later."""

from __future__ import annotations

from pathlib import Path

import eventgen
import pytest

from syllo_tui.runs import RunFolder, find_runs, select


def make_run(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    eventgen.mid_run(path, step=20).close()
    return path


def test_a_folder_holding_events_jsonl_is_one_run(tmp_path: Path) -> None:
    make_run(tmp_path / "events.jsonl")
    make_run(tmp_path / "below" / "events.jsonl")  # ignored: the folder itself is a run
    chosen = select([str(tmp_path)])
    assert not chosen.several
    assert [r.target for r in chosen.runs] == [str(tmp_path / "events.jsonl")]


def test_a_folder_of_runs_lists_every_run_below_it(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a" / "status" / "events.jsonl")
    b = make_run(tmp_path / "b" / "events.jsonl")
    c = make_run(tmp_path / "group" / "c" / "status" / "events.jsonl")
    make_run(tmp_path / ".hidden" / "events.jsonl")
    assert find_runs(tmp_path) == [a, b, c]
    chosen = select([str(tmp_path)])
    assert chosen.several and chosen.folders == [tmp_path]
    assert [(r.name, r.target) for r in chosen.runs] == [
        ("a", str(a)),
        ("b", str(b)),
        ("group/c", str(c)),
    ]


def test_several_files_and_clashing_names(tmp_path: Path) -> None:
    x = make_run(tmp_path / "x" / "run" / "status" / "events.jsonl")
    y = make_run(tmp_path / "y" / "run" / "status" / "events.jsonl")
    z = make_run(tmp_path / "z" / "events.jsonl")
    chosen = select([str(x), str(y.parent), str(z)])
    assert chosen.several and not chosen.folders
    assert [r.name for r in chosen.runs] == [str(x), str(y), "z"], "a clash shows the paths"
    one = select([str(tmp_path / "missing" / "events.jsonl")])
    assert not one.several, "a file that does not exist yet is one run to wait for"


def test_runs_that_start_later_join(tmp_path: Path) -> None:
    make_run(tmp_path / "a" / "events.jsonl")
    chosen = select([str(tmp_path)])
    folder = RunFolder(tmp_path, [r.target for r in chosen.runs])
    assert folder.scan() == []
    late = make_run(tmp_path / "late" / "status" / "events.jsonl")
    new = folder.scan()
    assert [(r.name, r.target) for r in new] == [("late", str(late))]
    assert folder.scan() == [], "each run joins once"


def test_host_path_arguments_are_remote_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_run(tmp_path / "local:run" / "events.jsonl")  # an existing local path always wins
    chosen = select(["gpu-a:runs/x/status/events.jsonl", "me@gpu-b:runs/y", "local:run"])
    assert chosen.several
    assert [(r.name, r.target) for r in chosen.runs] == [
        ("gpu-a:x", "gpu-a:runs/x/status/events.jsonl"),
        ("me@gpu-b:y", "me@gpu-b:runs/y"),
        ("local:run", str(Path("local:run") / "events.jsonl")),
    ]


def test_one_history_folds_at_a_time_the_shown_runs_first(tmp_path: Path) -> None:
    from syllo_tui.feed import Feed, HistoryJob
    from syllo_tui.runs import Run, RunSet
    from syllo_tui.stream import EventTail, History

    runs = RunSet()
    for name in ("a", "b", "c"):
        run = runs.add(Run(name, EventTail(tmp_path / name), lambda r, b: None, feed=Feed()))
        run.pending = HistoryJob(History(None), 1)
    runs.index = 2
    first = runs.next_fold()
    assert first is not None and first[0].name == "c", "the shown run first"
    assert runs.next_fold() is None, "one at a time"
    runs.folded()
    second = runs.next_fold()
    assert second is not None and second[0].name == "a", "then in list order"
    runs.folded()
    assert [r.marked for r in runs.runs] == [False] * 3 and runs.marked() == runs.runs
    runs.toggle_mark(1)
    assert [r.name for r in runs.marked()] == ["b"]


def test_stepping_through_eval_prompts() -> None:
    from syllo_tui.runs import step_sample

    assert step_sample([0, 1, 3], None, +1) == (1, True)
    assert step_sample([0, 1, 3], 1, +1) == (3, True)
    assert step_sample([0, 1, 3], 3, +1) == (3, False), "stays at the last, says it did not move"
    assert step_sample([0, 1, 3], 0, -1) == (0, False)
    assert step_sample([], None, +1) == (None, False)
