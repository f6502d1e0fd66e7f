"""Plain helpers shared by test modules (importable by name, unlike conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Environment for CLI subprocesses: never reach for the network, one thread
#: each (tiny models on a shared 2-core box run faster without thread fights).
SUBPROCESS_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}


def decode_events(path: Path) -> list[dict[str, Any]]:
    """Every line of an events file, decoded (a torn or non-JSON line fails the test)."""
    out = []
    for n, line in enumerate(Path(path).read_bytes().splitlines(), 1):
        try:
            out.append(json.loads(line))
        except ValueError as exc:
            raise AssertionError(f"{path}:{n}: not a JSON event: {line[:200]!r}") from exc
    return out


#: The bound on every wait for something that must happen (a line in a file, a
#: screen's content, a process's exit). It is a hang detector, not a timing
#: claim: a passing test never waits it out, however loaded the machine.
WAIT_S = 120.0


#: The golden run (test_runner): 7 steps, log every 2, eval every 3, save every 3. The
#: Trainer logs, then evaluates, then saves within one step; syllo logs and evaluates at
#: the last step too. A distributed run of the same settings (test_distributed) must
#: write the very same sequence from its one writer.
GOLDEN_MAX, GOLDEN_LOG, GOLDEN_EVAL, GOLDEN_SAVE = 7, 2, 3, 3
GOLDEN_SEQUENCE = [
    ("run_start", 0),
    ("log", 2),
    ("eval", 3),
    ("checkpoint", 3),
    ("log", 4),
    ("log", 6),
    ("eval", 6),
    ("checkpoint", 6),
    ("log", 7),
    ("eval", 7),
    ("checkpoint", 7),
    ("run_end", 7),
]
