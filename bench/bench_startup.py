"""Start-up time of the two commands: ``--help`` must not pay for torch or transformers.

    .venv/bin/python bench/bench_startup.py            # 10 runs of each, interleaved

Each command runs in a fresh process; reported are the median and the range of
the wall times. ``import transformers`` alone is timed beside them, as the
cost the light paths avoid. The tests check *why* these are fast (which
modules ``--help`` imports: tests/test_cli.py, tests/test_tui_cli.py);
how fast is this benchmark's figure (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "syllo-tui --help": [str(BIN / "syllo-tui"), "--help"],
    "syllo-train --help": [str(BIN / "syllo-train"), "--help"],
    "python -c 'import transformers'": [sys.executable, "-c", "import transformers"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():  # interleaved: the machine's noise hits all alike
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        row = {
            "median_s": round(statistics.median(ts), 3),
            "min_s": round(min(ts), 3),
            "max_s": round(max(ts), 3),
            "runs": len(ts),
        }
        print(f"{name}: {json.dumps(row)}")


if __name__ == "__main__":
    main()
