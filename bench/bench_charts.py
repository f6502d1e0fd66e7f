"""Benchmark the chart view's redraw cost while a writer appends 1,000 events a second.

    .venv/bin/python bench/bench_charts.py                 # 10 s at 1,000 events/s, 80x24 and 160x48
    .venv/bin/python bench/bench_charts.py --seconds 5 --rate 2000

The real app runs headless (``App.run_test``) in the chart view (``g``) while
a separate writer process (bench_tui.py's, the real EventWriter) appends log
events at the given rate. Reported, per terminal size: how long each plotext
chart render takes (median, p95, max, and how many), the whole redraw
(``SylloApp._redraw``: building the charts' data from the state), the
redraws per second (coalesced to at most 10), and the events the app folded
per second; the run view at the same rate is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_TUI = Path(__file__).with_name("bench_tui.py")


def _ms(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"n": 0}
    xs = sorted(xs)
    return {
        "median": round(1000 * statistics.median(xs), 2),
        "p95": round(1000 * xs[int(0.95 * (len(xs) - 1))], 2),
        "max": round(1000 * xs[-1], 2),
        "n": len(xs),
    }


def measure(path: Path, size: tuple[int, int], seconds: float, rate: float, view: str) -> Any:
    from syllo_tui.app import SylloApp
    from syllo_tui.stream import open_source
    from syllo_tui.widgets.chart import ChartPanel

    path.unlink(missing_ok=True)
    chart_s: list[float] = []
    redraw_s: list[float] = []
    original = ChartPanel.render

    def timed_render(self: ChartPanel) -> Any:
        t = time.perf_counter()
        try:
            return original(self)
        finally:
            chart_s.append(time.perf_counter() - t)

    ChartPanel.render = timed_render  # type: ignore[method-assign]

    class BenchApp(SylloApp):
        def _redraw(self) -> None:
            t = time.perf_counter()
            super()._redraw()
            redraw_s.append(time.perf_counter() - t)

    app = BenchApp([("bench", open_source(path))], watch=True)
    out: dict[str, Any] = {}

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            if view == "charts":
                await pilot.press("g")
            writer = subprocess.Popen(
                [sys.executable, str(BENCH_TUI), "_writer", str(path), str(seconds), str(rate)],
                stdout=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
            chart_s.clear()
            redraw_s.clear()
            t0 = time.perf_counter()
            while writer.poll() is None:
                await asyncio.sleep(0.1)
            written = int(writer.stdout.read().strip()) + 1 if writer.stdout else 0
            while app.state.applied < written and time.perf_counter() - t0 < seconds + 60:
                await pilot.pause(0.05)
            elapsed = time.perf_counter() - t0
            out.update(
                view=view,
                size=f"{size[0]}x{size[1]}",
                written=written,
                app_events_per_s=round(app.state.applied / elapsed),
                chart_render_ms=_ms(chart_s),
                redraw_ms=_ms(redraw_s),
                redraws_per_s=round(len(redraw_s) / elapsed, 1),
            )
            await pilot.press("q")

    asyncio.run(run())
    ChartPanel.render = original  # type: ignore[method-assign]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--dir", type=Path, default=Path("/tmp/syllo-bench"))
    args = p.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    for size in ((80, 24), (160, 48)):
        for view in ("run", "charts"):
            result = measure(args.dir / "charts.jsonl", size, args.seconds, args.rate, view)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
