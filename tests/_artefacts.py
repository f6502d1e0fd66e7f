"""What a failing test leaves behind: its files, saved where CI's log says.

On a failed test (setup, call or teardown), the files the test wrote that a
person reads to see why — events files, snapshots, human logs, a trainer's
stdout/stderr, a captured terminal screen — are copied from the test's folders
into ``test-artifacts/<test id>/`` (``SYLLO_TEST_ARTIFACTS`` overrides the
root), the report gets a section naming that folder with the tail of each
events file, and one line per failure is appended to
``test-artifacts/failures.txt``, which ``.ci/run`` prints last.

The test's folders are found among its fixture values: a ``Path`` that is a
folder (``tmp_path``), or an object with a ``cwd`` folder (a finished run); an
object with ``last_screen`` (tests/_tmux.py's Tmux) gives ``screen.txt``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
WANTED = re.compile(
    r"(events\.jsonl|training_status\.json|train\.log|trainer\.out|stdout\.txt|stderr\.txt"
    r"|.*\.log|screen.*\.txt|config\.toml)$"
)
MAX_FILE_BYTES = 2 << 20  # a bigger file is cut to its last MAX_FILE_BYTES
MAX_FILES = 40
TAIL_LINES = 15


def artefact_root() -> Path:
    raw = os.environ.get("SYLLO_TEST_ARTIFACTS", "")
    return Path(raw) if raw else ROOT / "test-artifacts"


def _folders(item: pytest.Item) -> list[Path]:
    found: list[Path] = []
    for value in getattr(item, "funcargs", {}).values():
        for candidate in (value, getattr(value, "cwd", None)):
            if isinstance(candidate, Path) and candidate.is_dir() and candidate not in found:
                found.append(candidate)
    return found


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = src.stat().st_size
    if size <= MAX_FILE_BYTES:
        shutil.copyfile(src, dest)
        return
    with open(src, "rb") as fh:
        fh.seek(size - MAX_FILE_BYTES)
        dest.write_bytes(b"[... cut: the last %d bytes follow]\n" % MAX_FILE_BYTES + fh.read())


def save(item: pytest.Item, report: pytest.TestReport) -> None:
    """Copy the failed test's files, add a report section, note the failure."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[:150]
    out = artefact_root() / name
    saved: list[Path] = []
    tails: list[str] = []
    try:
        for folder in _folders(item):
            for path in sorted(folder.rglob("*")):
                if len(saved) >= MAX_FILES:
                    break
                if not path.is_file() or not WANTED.match(path.name):
                    continue
                dest = out / folder.name / path.relative_to(folder)
                _copy(path, dest)
                saved.append(dest)
                if path.name == "events.jsonl":
                    lines = path.read_bytes().splitlines()[-TAIL_LINES:]
                    text = "\n".join(x.decode("utf-8", "replace")[:300] for x in lines)
                    tails.append(f"last {len(lines)} lines of {path}:\n{text}")
        for value in getattr(item, "funcargs", {}).values():
            screen = getattr(value, "last_screen", None)
            if isinstance(screen, str) and screen:
                dest = out / "screen.txt"
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(screen, encoding="utf-8")
                saved.append(dest)
    except OSError as exc:  # saving must never hide the failure itself
        tails.append(f"(could not save every artefact: {exc})")
    where = f"{len(saved)} files saved in {out}" if saved else "no files to save"
    report.sections.append(("failure artefacts", "\n\n".join([where, *tails])))
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    message = str(getattr(crash, "message", "") or report.longreprtext or "").strip()
    reason = message.splitlines()[0] if message else ""
    root = artefact_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "failures.txt", "a", encoding="utf-8") as fh:
        fh.write(f"FAILED {item.nodeid} ({report.when}): {reason[:300]}\n")
        fh.write(f"    artefacts: {out if saved else '(none)'}\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed:
        save(item, report)
