"""`syllo-train --help` and config loading must not pay for torch/transformers/datasets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "textual", "datasets", "pyarrow")

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
    assert _loaded(["data", "convert", "--help"]) == []


def test_the_probe_sees_datasets_where_a_command_needs_it(tmp_path: Path) -> None:
    """The check can fail: converting a Parquet file does import datasets (and only then)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "p", "completion": "c"}]), src)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"prompt": "p", "completion": "c"}\n', encoding="utf-8")
    assert "datasets" in _loaded(["data", "convert", str(src), str(tmp_path / "a.jsonl")])
    assert _loaded(["data", "convert", str(jsonl), str(tmp_path / "b.jsonl")]) == []


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
