"""How long a written event takes to reach a real terminal: syllo-tui inside tmux.

    .venv/bin/python bench/bench_terminal.py            # 40 log events, one at a time
    .venv/bin/python bench/bench_terminal.py --steps 100

A writer process (tests/eventgen.py serve) appends one ``log`` event at a time
through the real EventWriter; the installed ``syllo-tui`` follows the file in a
private tmux server (tests/_tmux.py); the time from the write to the first
``tmux capture-pane`` that shows the new step is the latency. The capture
polls every 20 ms, so figures are upper bounds within ~20 ms. This was a test's
assertion once (< 1 s); as a verdict it depended on the machine's load, so it
is measured here instead (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test-suite's tmux and writer helpers

from _tmux import Tmux, Writer, tui_command  # noqa: E402


def measure(steps: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        writer = Writer(path)
        tmux = Tmux(Path(tmp))
        try:
            writer.do("mid_run")
            tmux.start(tui_command(shlex.quote(str(path))))
            tmux.wait_for(lambda s: "step 1,200/2,000" in s, "the TUI never showed the run")
            lags = []
            for i in range(steps):
                step = 1210 + 10 * i
                written = writer.do(f"log {step}")
                shown = tmux.wait_for(lambda s, step=step: f"step {step:,}/" in s, f"step {step}")
                lags.append(shown - written)
            tmux.keys("q")
            tmux.wait_exit()
        finally:
            tmux.kill()
            writer.close()
    ms = sorted(1000 * x for x in lags)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
        "max_ms": round(ms[-1], 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40, help="log events to time, one at a time")
    args = p.parse_args()
    print(json.dumps({"write_to_terminal": measure(args.steps)}))


if __name__ == "__main__":
    main()
