"""Benchmark syllo-tui on a folder of runs: how soon the run list shows every run.

    .venv/bin/python bench/bench_runs.py                  # 20 runs x 100k events, cached in /tmp
    .venv/bin/python bench/bench_runs.py --runs 5 --events 20000

One run's file is written once through the real EventWriter (tests/eventgen.py)
and copied into each run folder. Each measurement is a fresh process (its own
imports and page-cache-warm reads): the real app, headless (``App.run_test``),
on ``syllo-tui FOLDER``; reported are the seconds from process start (and
from the app's mount) until the run list shows every run at its last step,
and until every run's history is folded in the background; and, as a
baseline in the same run, the same for one run of the folder opened alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # eventgen, the test-suite's event writer


def make_folder(root: Path, runs: int, events: int) -> Path:
    import eventgen

    folder = root / f"runs-{runs}x{events}"
    marker = folder / ".done"
    if marker.exists() and marker.read_text() == f"{runs} {events}":
        print(f"using cached {folder}", flush=True)
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    first = folder / "run-00" / "status" / "events.jsonl"
    first.parent.mkdir(parents=True)
    print(f"writing {events:,} events (once; cached afterwards)…", flush=True)
    eventgen.huge(first, events, example_chars=850)
    for i in range(1, runs):
        dest = folder / f"run-{i:02d}" / "status" / "events.jsonl"
        dest.parent.mkdir(parents=True)
        shutil.copyfile(first, dest)
    marker.write_text(f"{runs} {events}")
    size = sum(p.stat().st_size for p in folder.rglob("events.jsonl"))
    print(f"  {runs} runs, {size / 1e9:.2f} GB in all", flush=True)
    return folder


def child(target: str, last_step: int) -> dict[str, Any]:
    """In a fresh process: open ``target`` as the CLI would; time the list and the histories."""
    started = time.perf_counter()
    from syllo_tui.app import SylloApp
    from syllo_tui.runs import select
    from syllo_tui.stream import open_source

    shown: list[float] = []  # when the first redraw that shows every run at its last step ran

    class BenchApp(SylloApp):
        def _redraw(self) -> None:
            ready = all(r.feed.state.step == last_step for r in self.runs)
            super()._redraw()
            if ready and not shown and self.is_running:
                shown.append(time.perf_counter())

    chosen = select([target])
    sources = [(spec.name, open_source(spec.target)) for spec in chosen.runs]
    app = BenchApp(sources, folders=chosen.folders, watch=False, several=chosen.several)
    out: dict[str, Any] = {"runs": len(chosen.runs)}

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            mounted = time.perf_counter()
            while not shown:
                await pilot.pause(0.005)
            out["list_s"] = round(shown[0] - started, 3)
            out["list_after_mount_s"] = round(shown[0] - mounted, 3)
            while any(r.feed.history_pending or r.pending is not None for r in app.runs):
                await pilot.pause(0.05)
            out["histories_s"] = round(time.perf_counter() - started, 3)
            out["events_folded"] = sum(r.feed.state.applied for r in app.runs)
            await pilot.press("q")

    asyncio.run(run())
    return out


def in_child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "_child", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench child failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--events", type=int, default=100_000, help="events in each run's file")
    p.add_argument("--dir", type=Path, default=Path("/tmp/syllo-bench"))
    p.add_argument("--repeat", type=int, default=3, help="fresh processes per measurement")
    args = p.parse_args()
    folder = make_folder(args.dir, args.runs, args.events)
    from syllo_tui.stream import read_tail

    one = folder / "run-00" / "status" / "events.jsonl"
    last_step = read_tail(one, max_events=1).events[-1]["step"]
    for label, target in (("one run alone", str(one.parent)), ("the folder", str(folder))):
        results = [in_child(target, str(last_step)) for _ in range(args.repeat)]
        best = min(results, key=lambda r: r["list_s"])
        print(
            f"{label}: {json.dumps(best)}  (list_s of {args.repeat} runs: "
            f"{[r['list_s'] for r in results]})",
            flush=True,
        )


if __name__ == "__main__":
    main()
