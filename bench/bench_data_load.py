"""Load time of a plain JSONL file: this checkout's reader beside an older one, in one run.

    .venv/bin/python bench/bench_data_load.py [--records 100000] [--repeats 7] [--before main]

The older reader is ``syllo_train/data/records.py`` as git holds it at
``--before`` (imported from a temporary file, so both run in this process, on
the same file, alternately: the machine's load hits both alike). Prints the
median and the spread of each, and their ratio. A benchmark, not a test:
nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _records(n: int) -> list[dict[str, Any]]:
    """Chat records shaped like the demo's: a system turn, a question, a short answer."""
    return [
        {
            "messages": [
                {"role": "system", "content": "Solve the SYLLO puzzle. Answer with the word only."},
                {
                    "role": "user",
                    "content": f"Letters: b a n a n a {i}. Clue: a yellow fruit, {i % 97}.",
                },
                {"role": "assistant", "content": f"banana{i % 13}"},
            ],
            "metadata": {"id": i},
        }
        for i in range(n)
    ]


def _older_reader(rev: str) -> Any:
    text = subprocess.run(
        ["git", "show", f"{rev}:syllo_train/data/records.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="syllo-bench-")) / "records_before.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("records_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["records_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _time(load: Any, path: Path) -> float:
    gc.collect()
    t0 = time.perf_counter()
    report = load(path)
    elapsed = time.perf_counter() - t0
    assert report.examples, "nothing loaded"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--before", default="main", help="git revision of the older reader")
    args = parser.parse_args()

    from syllo_train.data.records import load_examples

    before = _older_reader(args.before)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        path.write_text(
            "".join(json.dumps(r) + "\n" for r in _records(args.records)), encoding="utf-8"
        )
        size_mb = path.stat().st_size / 1e6
        readers = {
            f"before ({args.before})": before.load_examples,
            "after (this checkout)": load_examples,
        }
        for load in readers.values():  # warm-up: imports, page cache
            _time(load, path)
        times: dict[str, list[float]] = {name: [] for name in readers}
        for _ in range(args.repeats):
            for name, load in readers.items():
                times[name].append(_time(load, path))
        # For scale: the same records as Parquet, read through datasets (this checkout only).
        import pyarrow as pa
        import pyarrow.parquet as pq

        parquet = Path(tmp) / "train.parquet"
        pq.write_table(pa.Table.from_pylist(_records(args.records)), parquet)
        parquet_s = statistics.median(_time(load_examples, parquet) for _ in range(3))
    print(
        f"{args.records} chat records, {size_mb:.1f} MB JSONL, {args.repeats} alternating repeats"
    )
    medians = {}
    for name, ts in times.items():
        medians[name] = statistics.median(ts)
        print(f"  {name:24s} median {medians[name]:.3f} s  (min {min(ts):.3f}, max {max(ts):.3f})")
    first, second = medians.values()
    print(f"  after / before: {second / first:.3f}")
    print(f"  the same records as Parquet (after, via datasets): median {parquet_s:.3f} s of 3")


if __name__ == "__main__":
    main()
