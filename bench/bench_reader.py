"""Benchmark: rebuild the current state of a big events file from its tail vs reading it all.

Usage: python bench/bench_reader.py [SIZE_MB] (default 200)

Writes a run-like events file of about SIZE_MB in a temp dir (run_start first,
log events with an example, an eval every 20 logs, a checkpoint every 100),
then times each way of reading it in a fresh subprocess, so each peak RSS
(resource.getrusage) is its own:

* tail       read_tail(want run_start/log/eval/checkpoint, last 2000 events)
* tail+scan  the same plus a type that never occurs ("error"): a byte scan of the whole file
* history    iter_history over the whole file (bounded memory, every line parsed)
* full       f.read() and parse every line (the naive way)

The file was just written, so it is in the page cache: these are warm-cache
figures; a cold disk adds its read time to whatever touches the whole file.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WANT = ["run_start", "log", "eval", "checkpoint"]


def generate(path: Path, size_bytes: int) -> int:
    """Write a run-like events file of at least size_bytes; return the number of events."""
    from syllo_train.events import EventWriter, encode_event

    w = EventWriter(path, run_id="bench", enabled=False)  # build() only; we write in batches
    n = 0
    written = 0
    with open(path, "wb") as f:
        batch = [
            encode_event(
                w.build("run_start", 0, config={"train": {"max_steps": 10**7}}, model="tiny")
            )
        ]
        step = 0
        while written < size_bytes:
            step += 1
            batch.append(
                encode_event(
                    w.build(
                        "log",
                        step,
                        loss=1.0 / step,
                        lr=2e-4,
                        example={
                            "prompt": "What is the syllogism? " * 20,
                            "golden": "All A are C." * 5,
                        },
                    )
                )
            )
            if step % 20 == 0:
                samples = [
                    {"sample": i, "output": "Therefore " * 30, "match": True} for i in range(4)
                ]
                batch.append(encode_event(w.build("eval", step, val_loss=0.5, samples=samples)))
            if step % 100 == 0:
                batch.append(encode_event(w.build("checkpoint", step, path=f"ckpt-{step}")))
            if len(batch) >= 2000:
                data = b"".join(batch)
                f.write(data)
                written += len(data)
                n += len(batch)
                batch = []
        data = b"".join(batch)
        f.write(data)
        n += len(batch)
    return n


def measure(mode: str, path: str) -> dict[str, float]:
    """Run one way of reading (in this process); return seconds, peak RSS and events found."""
    import orjson

    from syllo_tui.stream import iter_history, read_tail

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if mode == "tail":
        events, _ = read_tail(path, want_types=WANT, max_events=2000)
        count = len(events)
    elif mode == "tail+scan":
        events, _ = read_tail(path, want_types=[*WANT, "error"], max_events=2000)
        count = len(events)
    elif mode == "history":
        count = sum(len(chunk) for chunk in iter_history(path))
    elif mode == "full":
        with open(path, "rb") as f:
            data = f.read()
        count = len([orjson.loads(line) for line in data.splitlines()])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "seconds": seconds,
        "peak_rss_mib": peak / 1024,
        "rss_growth_mib": (peak - rss_before) / 1024,
        "events": count,
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
        return
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        t0 = time.perf_counter()
        n = generate(path, size_mb << 20)
        size = path.stat().st_size
        print(
            f"file: {size / 2**20:.0f} MiB, {n} events, written in {time.perf_counter() - t0:.1f} s"
        )
        results = {}
        for mode in ("tail", "tail+scan", "history", "full"):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", mode, str(path)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            results[mode] = json.loads(out.stdout)
    full = results["full"]
    print(
        f"{'mode':<10} {'seconds':>9} {'peak RSS MiB':>13} {'RSS growth MiB':>15} {'events':>9}  vs full (time, RSS growth)"
    )
    for mode, r in results.items():
        t_ratio = r["seconds"] / full["seconds"]
        m_ratio = (
            r["rss_growth_mib"] / full["rss_growth_mib"] if full["rss_growth_mib"] else float("nan")
        )
        print(
            f"{mode:<10} {r['seconds']:>9.3f} {r['peak_rss_mib']:>13.1f} {r['rss_growth_mib']:>15.1f} "
            f"{r['events']:>9}  {t_ratio:.4f}, {m_ratio:.4f}"
        )


if __name__ == "__main__":
    main()
