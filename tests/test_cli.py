"""`syllo-train --help` and config loading must not pay for torch/transformers."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "textual")

PROBE = """
import sys
from syllo_train.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("LOADED:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def _loaded(argv: list[str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()[-1]
    assert out.startswith("LOADED:")
    return [m for m in out.removeprefix("LOADED:").split(",") if m]


def test_help_imports_no_heavy_module() -> None:
    assert _loaded(["--help"]) == []
    assert _loaded(["run", "--help"]) == []


def test_python_dash_m_entry_point_matches_console_script() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "syllo_train", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("syllo ")


def test_unknown_command_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "syllo_train", "frobnicate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_supervise_is_refused_under_a_launcher() -> None:
    import os
    from pathlib import Path

    cfg = Path(__file__).resolve().parents[1] / "examples" / "minimal.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "syllo_train", "run", "--supervise", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LOCAL_RANK": "0"},
    )
    assert proc.returncode == 2
    assert "torchrun --max-restarts" in proc.stderr
