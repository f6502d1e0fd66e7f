"""Security: hostile text, hostile model folders, hostile checkpoints, and no open ports.

* **Terminal injection**: model output, prompts and error messages are
  untrusted. The real ``syllo-tui`` runs in a real pseudo-terminal (stdin,
  stdout *and* stderr: Textual writes to stderr) on an events file full of
  escape sequences; the raw bytes it writes to the terminal are checked, not
  only the screen. The trainer's human log (stdout, ``train.log``) and
  ``syllo-tui --once`` are plain text and must carry no control bytes at all.
* **No network listener**: the TUI here, the trainer in the kill -9 test.
* **trust_remote_code**: a local model folder whose ``config.json`` maps to a
  Python file that leaves a mark when imported. Without
  ``model.trust_remote_code = true`` the run is refused (exit 2) and the file
  never runs; with it, it runs.
* **weights_only**: checkpoint files replaced by pickles that run code when
  unpickled; resuming from them must never run it.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _torture as T
import pytest

from syllo_train.inert import inert

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]

TUI = Path(sys.executable).parent / "syllo-tui"
START_TIMEOUT = 240

#: Each payload talks to the terminal if it reaches it as bytes.
PAYLOADS = {
    "osc52": "\x1b]52;c;SGVsbG8=\x07",  # write the clipboard
    "title": "\x1b]0;PWNED-TITLE\x07",  # retitle the window
    "clear": "\x1b[2J",  # clear the screen
    "c1csi": "\x9b31m",  # C1 CSI (8-bit): colour
    "c1osc": "\x9d0;C1-TITLE\x9c",  # C1 OSC ... ST: retitle
    "bel": "\x07",  # ring the bell
    "link": "\x1b]8;;http://evil.example/\x1b\\",  # hyperlink
    "dsr": "\x1b[6n",  # make the terminal type its cursor position into our stdin
    "dcs": "\x1bP+q544e\x1b\\",  # make the terminal type a capability into our stdin
    "bidi": "\u202e",  # right-to-left override: reorders what is shown
}
HOSTILE = "".join(f"<{k}>{v}</{k}>" for k, v in PAYLOADS.items())

#: OSC commands Textual itself sends: 22 sets the mouse pointer shape.
OWN_OSC = {b"22"}


def terminal_violations(raw: bytes) -> list[str]:
    """What in ``raw`` (bytes written to a terminal) could come from an injected payload."""
    found = []
    for name, payload in PAYLOADS.items():
        if (f"<{name}>" + payload).encode() in raw:
            found.append(f"payload {name} verbatim")
    osc = 0
    start = raw.find(b"\x1b]")
    while start >= 0:
        num = raw[start + 2 : start + 8].split(b";", 1)[0]
        if num not in OWN_OSC:
            found.append(f"OSC {num!r} at byte {start}")
        osc += 1
        start = raw.find(b"\x1b]", start + 2)
    for intro, what in ((b"\x1bP", "DCS"), (b"\x1b_", "APC"), (b"\x1b^", "PM"), (b"\x1bX", "SOS")):
        if intro in raw:
            found.append(f"{what} string")
    text = raw.decode("utf-8", "replace")
    c1 = sorted({f"U+{ord(c):04X}" for c in text if 0x80 <= ord(c) <= 0x9F})
    if c1:
        found.append(f"C1 controls {c1}")
    bells = raw.count(b"\x07")
    if bells > osc:
        found.append(f"{bells - osc} BEL outside an OSC")
    return found


def control_bytes(raw: bytes) -> list[str]:
    """Any terminal control in text meant to be plain (human log, --once): ESC, BEL, C1, CSI…"""
    text = raw.decode("utf-8", "replace")
    bad = {
        f"U+{ord(c):04X}"
        for c in text
        if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F
    }
    return sorted(bad)


def test_the_detector_catches_each_payload() -> None:
    # The checks below must be able to fail: every payload, written raw, is caught.
    for name, payload in PAYLOADS.items():
        raw = f"\x1b[1;1Hsafe <{name}>{payload}</{name}>".encode()
        assert terminal_violations(raw), name
        if name != "bidi":
            assert control_bytes(raw.replace(b"\x1b[1;1H", b"")), name
    assert terminal_violations(b"\x1b]22;default\x07\x1b[2J ok") == []


# --- the TUI in a real terminal ----------------------------------------------------------------------


def _hostile_events(path: Path) -> None:
    import eventgen

    run = eventgen.RunWriter(path)
    run.emit(
        "run_start",
        0,
        config={"train": {"max_steps": 2000}},
        model="MODEL" + HOSTILE,
        params_total=1,
        params_trainable=1,
        train_examples=10,
        val_examples=2,
        eval_prompts=1,
        max_steps=2000,
        world_size=1,
        resumed_from=None,
        device="cpu",
        pid=1,
        versions={},
    )
    run.train(0, 400)
    hostile_example = {
        "index": 1,
        "prompt": "LOGPROMPT" + HOSTILE,
        "golden": "LOGGOLDEN" + HOSTILE,
        "prompt_tokens": 1,
        "golden_tokens": 1,
        "loss": 0.5,
    }
    run.log(410, example=hostile_example)
    run.counters.generations += 1
    sample = run.sample(0, "miss", output="EVALOUT" + HOSTILE, prompt="EVALPROMPT" + HOSTILE)
    run.counters.evals += 1
    run.emit(
        "eval",
        420,
        total_steps=2000,
        epoch=1.0,
        val_loss=0.6,
        train_loss=0.5,
        gap=0.1,
        accuracy=0.0,
        samples=[sample],
        seconds=1.0,
    )
    run.emit("checkpoint", 420, path="runs/x/checkpoint" + HOSTILE, seconds=1.0)
    run.error("ERRMSG" + HOSTILE)
    run.close()


def _controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the pty becomes the TUI's terminal (after setsid)


def run_in_pty(
    argv: list[str],
    *,
    ready: Callable[[bytes], bool],
    cols: int = 160,
    rows: int = 50,
    timeout: float = 60.0,
) -> tuple[bytes, int, list[str]]:
    """Run ``argv`` on a fresh pty as stdin/stdout/stderr; press q once ``ready(output)``.

    Returns (every byte written to the terminal, exit code, inet sockets it held).
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {k: v for k, v in T.subprocess_env().items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        preexec_fn=_controlling_tty,
    )
    os.close(slave)
    raw = bytearray()
    sockets: list[str] = []
    quit_sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([master], [], [], 0.05)
            if readable:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:  # EIO: the other side is closed
                    break
                if not chunk:
                    break
                raw += chunk
            elif proc.poll() is not None:
                break
            if not quit_sent and (ready(bytes(raw)) or time.monotonic() > deadline - 10):
                sockets = T.inet_sockets(proc.pid)
                time.sleep(0.5)  # let it finish drawing
                os.write(master, b"q")
                quit_sent = True
        code = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return bytes(raw), code, sockets


def test_tui_never_writes_injected_sequences_to_the_terminal(tmp_path: Path, figure: Any) -> None:
    events = tmp_path / "events.jsonl"
    _hostile_events(events)
    markers = [f"<{k}>".encode() for k in PAYLOADS]

    def all_drawn(raw: bytes) -> bool:
        return all(m in raw for m in markers) and b"ERRMSG" in raw

    raw, code, sockets = run_in_pty([str(TUI), str(events)], ready=all_drawn)
    (tmp_path / "terminal.bin").write_bytes(raw)  # kept for a post-mortem
    assert code == 0, raw[-2000:].decode("utf-8", "replace")
    assert "Traceback" not in raw.decode("utf-8", "replace")
    # The hostile texts really were drawn (else this test would prove nothing)...
    missing = [m for m in markers if m not in raw]
    assert not missing, f"never drawn: {missing}"
    # ...and none of them reached the terminal as a control sequence.
    assert terminal_violations(raw) == []
    assert T.listening(sockets) == [], sockets
    figure(
        "syllo-tui in a real pty on events whose texts carry 10 hostile sequences "
        "(OSC 52/0/8, CSI 2J/6n, DCS, C1 CSI/OSC, BEL, RLO)",
        len(PAYLOADS),
        f"0 sequences passed through in {len(raw)} raw bytes written to the terminal; 0 listening sockets",
        raw_bytes=len(raw),
        listening_sockets=len(T.listening(sockets)),
    )


def test_tui_once_prints_plain_text(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    _hostile_events(events)
    done = subprocess.run(
        [str(TUI), "--once", str(events)], capture_output=True, env=T.subprocess_env(), timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert b"EVALOUT" in done.stdout or b"ERRMSG" in done.stdout
    assert control_bytes(done.stdout) == []


# --- hostile training data through the trainer's human log --------------------------------------------


def _hostile_data(tmp: Path, train: Path) -> tuple[Path, Path]:
    def rec(i: int) -> str:
        return json.dumps({"prompt": f"PROMPT{i}" + HOSTILE, "completion": f"ANSWER{i}" + HOSTILE})

    lines = train.read_text(encoding="utf-8").splitlines()[:24]
    (tmp / "train.jsonl").write_text(
        "\n".join(lines + [rec(i) for i in range(8)]) + "\n", encoding="utf-8"
    )
    (tmp / "val.jsonl").write_text(
        "\n".join(rec(100 + i) for i in range(2)) + "\n", encoding="utf-8"
    )
    return tmp / "train.jsonl", tmp / "val.jsonl"


@pytest.fixture(scope="module")
def base_run(
    tmp_path_factory: pytest.TempPathFactory, make_config: Callable[..., Path], puzzle_data: Any
) -> Path:
    """A finished 2-step run on hostile data (echoing its human log to stdout), saved at step 2."""
    cwd = tmp_path_factory.mktemp("base-run")
    train, val = _hostile_data(cwd, puzzle_data.train)
    cfg = make_config(
        cwd,
        data={"train": str(train), "val": str(val), "max_length": 1000},
        train={"max_steps": 2, "save_steps": 2, "batch_size": 8},
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 2, "max_new_tokens": 8},
    )
    done = subprocess.run(
        [sys.executable, "-m", "syllo_train", "run", str(cfg)],
        cwd=cwd,
        capture_output=True,
        env=T.subprocess_env(),
        timeout=600,
    )
    (cwd / "stdout.bin").write_bytes(done.stdout)
    assert done.returncode == 0, done.stderr[-3000:]
    return cwd


def test_human_log_is_inert(base_run: Path) -> None:
    stdout = (base_run / "stdout.bin").read_bytes()
    log = (base_run / "status" / "train.log").read_bytes()
    for name, raw in (("stdout", stdout), ("train.log", log)):
        assert b"<osc52>" in raw and b"ANSWER" in raw, f"{name}: the hostile texts were not logged"
        assert control_bytes(raw) == [], name


# --- trust_remote_code ------------------------------------------------------------------------------


def _model_with_code(src: Path, dst: Path, mark: Path) -> Path:
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config.update(
        model_type="syllo_custom",
        architectures=["CustomForCausalLM"],
        auto_map={
            "AutoConfig": "custom_modeling.CustomConfig",
            "AutoModelForCausalLM": "custom_modeling.CustomForCausalLM",
        },
    )
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    (dst / "custom_modeling.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(mark)!r}).write_text('the model folder ran its code')\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n\n\n"
        "class CustomConfig(LlamaConfig):\n    model_type = 'syllo_custom'\n\n\n"
        "class CustomForCausalLM(LlamaForCausalLM):\n    config_class = CustomConfig\n"
    )
    return dst


def test_model_code_runs_only_with_trust_remote_code(
    tmp_path: Path, tiny_model_dir: Path, make_config: Callable[..., Path], figure: Any
) -> None:
    mark = tmp_path / "CODE_RAN"
    model = _model_with_code(tiny_model_dir, tmp_path / "custom-model", mark)
    env = T.subprocess_env(HF_HOME=str(tmp_path / "hf"))  # transformers copies the code under here
    small = {"max_steps": 1, "save_steps": 100}
    quiet = {"eval_steps": 0, "eval_samples": 0, "eval_at_end": False}
    refused, trusted = tmp_path / "refused", tmp_path / "trusted"
    refused.mkdir()
    trusted.mkdir()
    cfg = make_config(refused, model={"name_or_path": str(model)}, train=small, monitor=quiet)
    done = subprocess.run(
        [sys.executable, "-m", "syllo_train", "run", str(cfg)],
        cwd=refused,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert "model.trust_remote_code = true" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert not mark.exists(), "the model folder's code ran without trust_remote_code"
    assert not (refused / "status" / "events.jsonl").exists()  # refused before any output
    cfg = make_config(
        trusted,
        model={"name_or_path": str(model), "trust_remote_code": True},
        train=small,
        monitor=quiet,
    )
    done_ok = subprocess.run(
        [sys.executable, "-m", "syllo_train", "run", str(cfg), "--quiet"],
        cwd=trusted,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done_ok.returncode == 0, done_ok.stderr[-3000:]
    assert mark.read_text() == "the model folder ran its code"
    figure(
        "train a local model folder that ships Python code (auto_map), without and with model.trust_remote_code",
        2,
        "without: refused, exit 2, the code never ran; with: the code ran (as asked)",
        refusal=done.stderr.strip().splitlines()[-1][:200],
    )


# --- weights_only: hostile pickles in a checkpoint --------------------------------------------------


class _Pwn:
    """Unpickling this runs ``exec`` (what a tampered checkpoint file would do)."""

    def __init__(self, mark: Path) -> None:
        self.mark = str(mark)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (exec, (f"open({self.mark!r}, 'w').write('pwned')",))


def _hostile_pickle(path: Path, mark: Path) -> None:
    import torch

    torch.save({"state": _Pwn(mark), "note": "tampered"}, path)


#: Checkpoint files a resume reads through torch.load, and one it never reads.
TAMPER_CI = ("optimizer.pt", "rng_state.pth", "pytorch_model.bin")
TAMPER_ALL = (*TAMPER_CI, "scheduler.pt", "training_args.bin")
TAMPER = TAMPER_ALL if T.SCALE == "full" else TAMPER_CI


def test_the_hostile_pickle_is_live(tmp_path: Path) -> None:
    # Without weights_only, loading the file runs the code: the test below can fail.
    import torch

    mark = tmp_path / "PWNED"
    _hostile_pickle(tmp_path / "x.pt", mark)
    torch.load(tmp_path / "x.pt", weights_only=False)
    assert mark.read_text() == "pwned"


_outcomes: dict[str, str] = {}


@pytest.mark.parametrize("target", TAMPER)
def test_resume_never_unpickles_code(
    target: str, base_run: Path, tmp_path: Path, make_config: Callable[..., Path], figure: Any
) -> None:
    shutil.copytree(base_run / "runs", tmp_path / "runs")
    ckpt = tmp_path / "runs" / "out" / "checkpoint-2"
    mark = tmp_path / "PWNED"
    if target == "pytorch_model.bin":
        (ckpt / "model.safetensors").unlink()  # the Trainer falls back to the pickle format
    assert (ckpt / target).exists() or target == "pytorch_model.bin"
    _hostile_pickle(ckpt / target, mark)
    for name in ("train.jsonl", "val.jsonl"):
        shutil.copy(base_run / name, tmp_path / name)
    cfg = make_config(
        tmp_path,
        data={
            "train": str(tmp_path / "train.jsonl"),
            "val": str(tmp_path / "val.jsonl"),
            "max_length": 1000,
        },
        train={"max_steps": 4, "save_steps": 2, "batch_size": 8},
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 0, "eval_at_end": False},
    )
    done = subprocess.run(
        [sys.executable, "-m", "syllo_train", "run", str(cfg), "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=T.subprocess_env(),
        timeout=600,
    )
    assert not mark.exists(), f"resuming ran the code pickled in {target}"
    ev = T.read_events_file(tmp_path / "status" / "events.jsonl")
    assert not ev.bad_lines
    end = ev.events[-1]
    assert end["type"] == "run_end"
    if done.returncode == 0:
        outcome = f"not read on resume; run completed ({end['status']})"
        assert end["status"] == "completed"
    else:
        assert done.returncode == 1, done.stderr[-3000:]
        assert end["status"] == "failed"
        assert "weights only load failed" in (end["reason"] or "").lower(), end["reason"]
        outcome = "refused by torch.load(weights_only=True): run failed (exit 1) with the reason"
    _outcomes[target] = outcome
    figure(
        f"resume from a checkpoint whose {target} is a pickle that runs code",
        1,
        f"code never ran; {outcome}",
        reason=inert(end["reason"] or "")[:200],  # torch's message carries its own ESC codes
    )
