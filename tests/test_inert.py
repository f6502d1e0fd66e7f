"""inert.py: every class of dangerous character, through every sink, checked on raw bytes.

Classes: C0 controls with an escape sequence (ESC, BEL, CR), a C1 control
(the one-byte CSI, U+009B), a bidi override (U+202E), a bidi isolate
(U+2066) and a lone surrogate (U+D800, which UTF-8 cannot even encode).
Sinks: the human log file, its echo on stdout, syllo-train's stderr
messages, and the TUI (``syllo-tui --once``). Each sink's output is read as
raw bytes: the raw character must be absent and its visible stand-in present.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import eventgen
import pytest
from _support import SUBPROCESS_ENV

from syllo_train.inert import inert
from syllo_train.sinks.humanlog import HumanLog

# class: (the hostile text, the raw bytes that must not appear, the stand-in that must)
CLASSES: dict[str, tuple[str, list[bytes], str]] = {
    "c0 escape sequence": (
        "x\x1b]52;c;SGVsbG8=\x07y\rz",
        [b"\x1b", b"\x07", b"\r"],
        "␛]52;c;SGVsbG8=␇",
    ),
    "c1 csi": ("x\x9b31my", ["\x9b".encode()], "\\x9b31m"),
    "bidi override": ("abc\u202edcba", ["\u202e".encode()], "\\u202e"),
    "bidi isolate": ("abc\u2066def\u2069", ["\u2066".encode(), "\u2069".encode()], "\\u2066"),
    "lone surrogate": ("abc\ud800def", [b"\xed\xa0\x80"], "\\ud800"),
}


def _check(raw: bytes, case: str, sink: str) -> None:
    _, forbidden, stand_in = CLASSES[case]
    for bad in forbidden:
        assert bad not in raw, f"{sink}: raw {bad!r} reached it ({case})"
    assert stand_in.encode() in raw, f"{sink}: the stand-in {stand_in!r} is missing ({case})"


@pytest.mark.parametrize("case", list(CLASSES))
def test_the_function_itself(case: str) -> None:
    out = inert(CLASSES[case][0])
    _check(out.encode("utf-8"), case, "inert()")
    assert inert("tab\tand\nnewline stay") == "tab\tand\nnewline stay"


@pytest.mark.parametrize("case", list(CLASSES))
def test_human_log_file_and_its_echo(case: str, tmp_path: Path) -> None:
    text = CLASSES[case][0]
    echo_path = tmp_path / "echo.txt"
    with open(echo_path, "w", encoding="utf-8") as echo:
        log = HumanLog(tmp_path / "train.log", echo=echo)
        log.write(f"output: {text}")
        log.close()
    _check((tmp_path / "train.log").read_bytes(), case, "train.log")
    _check(echo_path.read_bytes(), case, "stdout echo")


@pytest.mark.parametrize("case", list(CLASSES))
def test_stderr_messages(case: str) -> None:
    # Every message syllo-train prints to stderr goes through print_inert. The text is
    # built in the child: a command line cannot carry a lone surrogate.
    code = f"from syllo_train.inert import print_inert; print_inert('syllo-train: error: ' + {CLASSES[case][0]!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    _check(done.stderr, case, "stderr")


@pytest.mark.parametrize("case", ["c0 escape sequence", "c1 csi", "bidi override", "bidi isolate"])
def test_a_real_cli_error_quoting_a_hostile_path(
    case: str, tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    """The real CLI: a data path in the config carries the character; the error quotes the path."""
    text = CLASSES[case][0]
    cfg = make_config(tmp_path, data={"train": f"data-{text}.jsonl"})
    done = subprocess.run(
        [sys.executable, "-m", "syllo_train", "validate", str(cfg)],
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, **SUBPROCESS_ENV},
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert b"no such data file" in done.stderr
    _check(done.stderr, case, "stderr of syllo-train validate")


@pytest.mark.parametrize("case", list(CLASSES))
def test_the_tui(case: str, tmp_path: Path) -> None:
    text = CLASSES[case][0]
    path = tmp_path / "events.jsonl"
    run = eventgen.mid_run(path, step=100)
    run.log(
        110,
        example={
            "index": 1,
            "prompt": f"prompt {text}",
            "golden": f"golden {text}",
            "prompt_tokens": 3,
            "golden_tokens": 2,
            "loss": 0.5,
        },
    )
    run.error(f"boom {text}")
    run.close()
    raw = path.read_bytes()
    assert json.loads(raw.splitlines()[-1])["message"].startswith("boom")  # the file holds it
    tui = Path(sys.executable).parent / "syllo-tui"
    done = subprocess.run([str(tui), "--once", "--utc", str(path)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    _check(done.stdout, case, "syllo-tui --once")
