"""atomic.py: a JSON file replaced so readers see the old one or the new one, never a mix."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from syllo_train.atomic import write_json_atomic
from syllo_train.events import SNAPSHOT_FILE
from syllo_train.sinks.snapshot import StatusSnapshot, read_snapshot


def test_atomic_write_readers_never_see_half_a_file(tmp_path: Path) -> None:
    path = tmp_path / SNAPSHOT_FILE
    # Large versions (hundreds of KB) make a torn read likely if the write were in place.
    versions = [{"version": i, "pad": str(i) * 200_000} for i in range(4)]
    write_json_atomic(path, versions[0])
    stop = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                data = read_snapshot(path)
            except ValueError as exc:
                problems.append(str(exc)[:200])
                continue
            seen.append(data["version"])
            if data != versions[data["version"]]:
                problems.append(f"version {data['version']} differs")

    t = threading.Thread(target=reader)
    t.start()
    try:
        for n in range(40):
            write_json_atomic(path, versions[n % 4], fsync=(n % 10 == 0))
    finally:
        stop.set()
        t.join()
    assert problems == []
    assert seen
    assert read_snapshot(path) == versions[39 % 4]
    assert [p.name for p in tmp_path.iterdir()] == [SNAPSHOT_FILE]  # no temp files left behind


def test_failed_write_leaves_no_temp_and_snapshot_write_reports_it(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_json_atomic(tmp_path / "missing" / SNAPSHOT_FILE, {"a": 1})
    target = tmp_path / "is-a-dir"
    (target / "x").mkdir(parents=True)  # a non-empty folder: the rename over it fails
    with pytest.raises(OSError):
        write_json_atomic(target, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["is-a-dir"]
    assert StatusSnapshot(tmp_path / "missing" / SNAPSHOT_FILE).write() is False
