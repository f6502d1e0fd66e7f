"""Benchmark syllo-tui: cold open of a big events file, and sustained ingest.

    .venv/bin/python bench/bench_tui.py                 # 1M events (~1 GB), cached in /tmp
    .venv/bin/python bench/bench_tui.py --events 200000 --ingest-seconds 5

Cold open (each measured in a fresh process, so peak RSS is its own):
  * ``state``: read the tail backwards (follower.cold_open_events) and fold
    it into a RunState: the time until the current state is known;
  * ``app``: the real app, headless (``App.run_test``): the time until the
    screen shows the file's last step, the time until the whole history is
    folded in, and the process's peak RSS.

Sustained ingest: the app follows a file that a separate writer process
appends to as fast as it can (the real EventWriter); reported are the events
the app folds per second, the delay from an event's write to the redraw that
shows it, and how long a key press waits while events pour in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # eventgen, the test-suite's event writer


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_file(path: Path, events: int) -> None:
    import eventgen

    marker = path.with_suffix(".done")
    if path.exists() and marker.exists() and marker.read_text() == str(events):
        print(f"using cached {path} ({path.stat().st_size / 1e9:.2f} GB)", flush=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    print(f"writing {events:,} events to {path} (once; cached afterwards)…", flush=True)
    started = time.perf_counter()
    eventgen.huge(path, events, example_chars=850)
    marker.write_text(str(events))
    print(
        f"  {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.0f}s", flush=True
    )


# -- cold open (run in a child process) ----------------------------------------------


def cold_state(path: str) -> dict[str, Any]:
    started = time.perf_counter()
    from syllo_tui.follower import cold_open_events
    from syllo_tui.state import RunState
    from syllo_tui.stream import EventTail

    imported = time.perf_counter()
    with EventTail(path) as tail:
        events = cold_open_events(tail)
    state = RunState()
    state.apply_all(events)
    done = time.perf_counter()
    return {
        "seconds": round(done - imported, 3),
        "seconds_with_imports": round(done - started, 3),
        "events_read": len(events),
        "step": state.step,
        "model": state.model,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def cold_app(path: str, last_step: int) -> dict[str, Any]:
    started = time.perf_counter()
    from syllo_tui.app import make_app

    app = make_app(path, watch=False)
    out: dict[str, Any] = {}

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            t0 = time.perf_counter()
            while not (app.state.step == last_step and app.drawn_version == app.state.version):
                await pilot.pause(0.005)
            out["first_screen_s"] = round(time.perf_counter() - started, 3)
            out["first_screen_after_mount_s"] = round(time.perf_counter() - t0, 3)
            out["rss_at_first_screen_mb"] = round(peak_rss_mb(), 1)
            while app.history_pending:
                await pilot.pause(0.05)
            out["history_s"] = round(time.perf_counter() - started, 3)
            out["events_folded"] = app.state.applied
            out["sparkline_points"] = len(app.state.train_loss)
            out["peak_rss_mb"] = round(peak_rss_mb(), 1)
            await pilot.press("q")

    asyncio.run(run())
    return out


def in_child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, timeout=900, cwd=REPO
    )
    if done.returncode != 0:
        raise SystemExit(f"bench child {args[0]} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- sustained ingest -------------------------------------------------------------------


def writer_main(path: str, seconds: float, rate: float) -> None:
    """Append log events at ``rate`` a second (0: as fast as the real EventWriter goes).

    Each event carries its write time in an extra field (readers ignore unknown fields).
    """
    from syllo_train.events import EventWriter

    example = {
        "index": 1,
        "prompt": "Split the word 'banana' into syllables. " * 5,
        "golden": "ba-na-na",
        "prompt_tokens": 60,
        "golden_tokens": 5,
        "loss": 0.5,
    }
    w = EventWriter(path, "bench-run")
    w.emit(
        "run_start",
        0,
        config={},
        model="bench",
        params_total=1,
        params_trainable=1,
        train_examples=1,
        val_examples=1,
        eval_prompts=1,
        max_steps=10**9,
        world_size=1,
        resumed_from=None,
        device="cpu",
        pid=os.getpid(),
        versions={},
    )
    step = 0
    start = time.time()
    end = start + seconds
    while time.time() < end:
        step += 1
        if rate > 0 and (ahead := start + step / rate - time.time()) > 0:
            time.sleep(ahead)
        w.emit(
            "log",
            step,
            total_steps=10**9,
            epoch=0.0,
            loss=1.0 / step,
            lr=1e-4,
            grad_norm=1.0,
            steps_per_s=100.0,
            tokens_per_s=1e5,
            eta_s=1.0,
            elapsed_s=1.0,
            peak_mem_bytes=1,
            mem_kind="cpu_rss",
            example=example,
            t_write=time.time(),  # an unknown field: readers ignore it; the bench reads it
        )
    w.close()
    print(step, flush=True)


def ingest(path: Path, seconds: float, rate: float = 0.0) -> dict[str, Any]:
    from syllo_tui.app import SylloApp
    from syllo_tui.stream import open_source

    path.unlink(missing_ok=True)
    shown_lag: list[float] = []
    key_lag: list[float] = []
    pressed: list[float] = []

    class BenchApp(SylloApp):
        last_write: float | None = None

        def _add_run(self, name: str, source: Any) -> Any:
            # Note each batch's newest write time as the feed takes it (a Textual message
            # handler is not overridden: Textual would call both classes' handlers).
            run = super()._add_run(name, source)
            take = run.feed.take

            def noting(batch: Any) -> Any:
                events = batch.result.events
                if events and isinstance(events[-1].get("t_write"), float):
                    self.last_write = events[-1]["t_write"]
                return take(batch)

            run.feed.take = noting
            return run

        def _redraw(self) -> None:
            super()._redraw()
            if self.last_write is not None:
                shown_lag.append(time.time() - self.last_write)
                self.last_write = None

        def action_toggle_follow(self) -> None:
            if pressed:
                key_lag.append(time.perf_counter() - pressed.pop())
            super().action_toggle_follow()

    app = BenchApp([("bench", open_source(path))])
    out: dict[str, Any] = {}

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            writer = subprocess.Popen(
                [sys.executable, __file__, "_writer", str(path), str(seconds), str(rate)],
                stdout=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
            t0 = time.perf_counter()
            while writer.poll() is None:
                await asyncio.sleep(0.25)
                # Post the key as a terminal would, without Pilot's wait-until-idle.
                pressed.append(time.perf_counter())
                app.simulate_key("space")
            written = int(writer.stdout.read().strip()) + 1 if writer.stdout else 0
            # Drain: the app may still be folding what the writer left.
            while app.state.applied < written and time.perf_counter() - t0 < seconds + 60:
                await pilot.pause(0.05)
            drained = time.perf_counter() - t0
            out.update(
                written=written,
                writer_events_per_s=round(written / seconds),
                applied=app.state.applied,
                app_events_per_s=round(app.state.applied / drained),
                drain_s=round(drained - seconds, 2),
                key_latency_ms={
                    "median": round(1000 * statistics.median(key_lag), 1),
                    "max": round(1000 * max(key_lag), 1),
                    "n": len(key_lag),
                },
                write_to_screen_ms={
                    "median": round(1000 * statistics.median(shown_lag), 1),
                    "p95": round(1000 * sorted(shown_lag)[int(0.95 * (len(shown_lag) - 1))], 1),
                    "max": round(1000 * max(shown_lag), 1),
                    "redraws_per_s": round(len(shown_lag) / drained, 1),
                },
                peak_rss_mb=round(peak_rss_mb(), 1),
            )
            await pilot.press("q")

    asyncio.run(run())
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        mode, *rest = sys.argv[1:]
        if mode == "_writer":
            writer_main(rest[0], float(rest[1]), float(rest[2]))
            return
        result = cold_state(rest[0]) if mode == "_cold_state" else cold_app(rest[0], int(rest[1]))
        print(json.dumps(result))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events in the cold-open file")
    p.add_argument(
        "--dir", type=Path, default=Path("/tmp/syllo-bench"), help="where the big file is cached"
    )
    p.add_argument("--ingest-seconds", type=float, default=10.0, help="how long the writer appends")
    p.add_argument(
        "--ingest-rate",
        type=float,
        default=1000.0,
        help="paced writer rate for the latency run (a fast trainer logs ~10-100 events/s)",
    )
    args = p.parse_args()

    big = args.dir / f"events-{args.events}.jsonl"
    make_file(big, args.events)
    from syllo_tui.stream import read_tail

    last_step = read_tail(big, max_events=1).events[-1]["step"]
    size_gb = big.stat().st_size / 1e9
    print(
        f"\ncold open of {args.events:,} events, {size_gb:.2f} GB (file in page cache):", flush=True
    )
    state = in_child("_cold_state", str(big))
    print(f"  state from the tail: {json.dumps(state)}", flush=True)
    app = in_child("_cold_app", str(big), str(last_step))
    print(f"  app (headless):      {json.dumps(app)}", flush=True)

    for rate in (0.0, args.ingest_rate):
        pace = "as fast as it can" if rate == 0 else f"{rate:g} events/s"
        print(
            f"\nsustained ingest for {args.ingest_seconds:g}s (writer: a separate process, {pace}):"
        )
        result = ingest(args.dir / "ingest.jsonl", args.ingest_seconds, rate)
        print(f"  {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
