"""The ``syllo-tui`` command line, run for real in subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import eventgen

TUI = Path(sys.executable).parent / "syllo-tui"


def run_tui(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(TUI), *map(str, args)],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done


def test_help_imports_no_heavy_module() -> None:
    """What makes ``--help`` fast: nothing heavy is imported (its time: bench/bench_startup.py)."""
    probe = (
        "import sys\n"
        "from syllo_tui.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'textual', 'rich', 'datasets', 'pyarrow')"
        " if m in sys.modules]\n"
        "print('RESULT', code, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: syllo-tui" in done.stdout
    assert done.stdout.strip().endswith("RESULT 0 []"), done.stdout


def test_the_app_never_imports_torch_transformers_or_datasets() -> None:
    probe = (
        "import sys\n"
        "import syllo_tui.app, syllo_tui.cli, syllo_tui.widgets\n"
        "print([m for m in ('torch', 'transformers', 'datasets', 'pyarrow') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_once_prints_the_current_state(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    eventgen.with_timeouts(path).close()
    done = run_tui("--once", "--utc", path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert (
        f"run {eventgen.RUN_ID}  model {eventgen.MODEL}  status stale" in out
    )  # the events are from 2023
    assert "step 1000/2000" in out
    assert "timeouts 2 (10.0% of 20 generations; stalls 1)" in out
    assert "last example (step 1000 · eval · sample 3 · 60.0s): ⏱ TIMEOUT" in out
    assert "22:19:52  step 1000 stall" in out


def test_once_on_a_folder_reads_its_events_file(tmp_path: Path) -> None:
    eventgen.finished(tmp_path / "events.jsonl").close()
    done = run_tui("--once", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "status completed" in done.stdout


def test_once_missing_file_fails_with_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "events.jsonl"
    done = run_tui("--once", missing)
    assert done.returncode == 2
    assert str(missing) in done.stderr and "no such events file" in done.stderr
    assert done.stdout == ""


def test_once_reads_stdin_and_keeps_output_inert(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=100)
    eventgen.inject(run, 110)
    run.close()
    eventgen.append_raw(path, b"junk\n")
    done = run_tui("--once", "-", stdin=path.read_bytes())
    assert done.returncode == 0, done.stderr
    assert "step 110/2000" in done.stdout
    assert "1 malformed lines" in done.stdout
    assert "␛]52;c;SGVsbG8=␇" in done.stdout and "[@click=app.quit]boom[/]" in done.stdout
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout


def test_bad_options_are_refused_with_the_reason() -> None:
    done = run_tui("--poll", "0", "--once", "x")
    assert done.returncode == 2 and "--poll must be positive" in done.stderr


def test_python_dash_m_is_the_same_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "syllo_tui", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "usage: syllo-tui" in done.stdout


def test_once_on_a_folder_of_runs_prints_the_run_list(tmp_path: Path) -> None:
    for run in eventgen.runs_folder(tmp_path).values():
        run.close()
    done = run_tui("--once", tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "status", "step"], done.stdout
    assert [line.split()[0] for line in lines[1:]] == ["a", "b", "c"]
    assert "completed" in lines[1] and "2,000/2,000" in lines[1]
    assert "800/2,000" in lines[2] and "1,000/2,000" in lines[3]


def test_once_on_several_files_and_stdin_with_others(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "events.jsonl", tmp_path / "b" / "events.jsonl"
    for path in (a, b):
        path.parent.mkdir()
        eventgen.mid_run(path, step=30).close()
    done = run_tui("--once", a, b.parent)
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()[1:]] == ["a", "b"]
    refused = run_tui("--once", "-", a)
    assert refused.returncode == 2 and "cannot be combined" in refused.stderr


def test_once_on_a_remote_run_says_how(tmp_path: Path) -> None:
    done = run_tui("--once", "gpu-box:runs/a/status")
    assert done.returncode == 2 and "ssh HOST syllo-tui --once PATH" in done.stderr
    done = run_tui("--keepalive", "0", "gpu-box:runs/a")
    assert done.returncode == 2 and "--keepalive must be at least 1" in done.stderr
