"""The torture suite (marker ``reliability``): crash consistency, fuzzing, resource faults, security.

``make test`` leaves it out (``-m "not reliability"``); CI runs it at a small
scale after the quick suite; ``make torture`` runs it at full scale
(``SYLLO_TORTURE_SCALE=full``). At the end of a session that ran any of it,
the figures each test recorded are printed as a table and written as JSON
(``SYLLO_TORTURE_REPORT``, default ``runs/torture/figures.json``);
``docs/reliability.md`` publishes them.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import _torture as T
import pytest

_HERE = Path(__file__).resolve().parent
_T0 = time.time()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every test in this folder is part of the torture suite, whatever its file says.
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture()
def figure(request: pytest.FixtureRequest) -> Any:
    """``figure(what, times, lost, **details)``: record this test's row of the published table."""
    started = time.monotonic()

    def add(what: str, times: int, lost: str, **details: Any) -> T.Figure:
        fig = T.record(request.node.nodeid, what, times, lost, **details)
        fig.seconds = round(time.monotonic() - started, 1)
        return fig

    return add


def _report_path(config: pytest.Config) -> Path:
    raw = os.environ.get("SYLLO_TORTURE_REPORT", "")
    return Path(raw) if raw else Path(config.rootpath) / "runs" / "torture" / "figures.json"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not T.FIGURES:
        return
    tr = terminalreporter
    wall = time.time() - _T0
    tr.section(f"syllo torture figures (scale {T.SCALE}, seed {T.SEED})", sep="=")
    for fig in T.FIGURES:
        name = fig.test.split("::", 1)[-1]
        tr.write_line(f"{name}")
        tr.write_line(f"    done : {fig.what} × {fig.times}")
        tr.write_line(f"    lost : {fig.lost}")
        for key, value in fig.details.items():
            tr.write_line(f"    {key} : {' '.join(str(value).split())}")  # one line each
        tr.write_line(f"    time : {fig.seconds}s   repro: {fig.command}")
    path = _report_path(config)
    T.dump_json(
        path,
        {
            "scale": T.SCALE,
            "seed": T.SEED,
            "kills": T.KILLS,
            "fuzz_examples": T.FUZZ,
            "exit_status": int(exitstatus),
            "wall_s": round(wall, 1),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "figures": [
                {
                    "test": f.test,
                    "what": f.what,
                    "times": f.times,
                    "lost": f.lost,
                    "details": f.details,
                    "seconds": f.seconds,
                    "command": f.command,
                }
                for f in T.FIGURES
            ],
        },
    )
    tr.write_line(f"figures written to {path} (session wall time {wall:.0f}s)")
