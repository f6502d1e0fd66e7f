"""Bad configs and bad data files through the real CLI: exit 2, a message naming the key or file:line.

The table runs ``syllo_train.cli.main`` in this process (the same code path
as the console script, without paying ~6 s of imports per case); a few
cases also run as real subprocesses to prove the exit code and that no
traceback reaches the user. Every refused run must leave nothing behind: no
events file, no checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syllo_train import cli

BadLines = list[bytes]


@dataclass
class Case:
    """One refusal: what to set up, which command, what the message must name."""

    id: str
    command: str  # "run" or "validate"
    expect: list[str]  # substrings the error message must contain
    lines: BadLines | None = None  # contents of bad.jsonl (data.train), after one good record
    sections: dict[str, Any] = field(default_factory=dict)  # config overrides
    setup: Callable[[Path], None] | None = None  # extra files in tmp_path


def _good(data: Any) -> bytes:
    return Path(data.train).read_bytes().splitlines()[0]


def _msgs(*turns: tuple[str | None, str]) -> bytes:
    return json.dumps(
        {"messages": [({"role": r} if r else {}) | {"content": c} for r, c in turns]}
    ).encode()


LONG_PROMPT = " ".join(f"word{i}" for i in range(400))

DATA = "bad.jsonl"

CASES = [
    # --- data files ---
    Case(
        "invalid-json",
        "run",
        [f"{DATA}:2", "invalid JSON", "on_bad_record"],
        lines=[b'{"prompt": "a", "completion": '],
    ),
    Case(
        "missing-role",
        "run",
        [f"{DATA}:2", "messages[0] has no 'role'"],
        lines=[_msgs((None, "hi"), ("assistant", "x"))],
    ),
    Case(
        "no-user-turn",
        "run",
        [f"{DATA}:2", "no 'user' message"],
        lines=[_msgs(("system", "be brief"), ("assistant", "x"))],
    ),
    Case(
        "last-not-assistant",
        "run",
        [f"{DATA}:2", "last message must be the assistant"],
        lines=[_msgs(("user", "hi"), ("assistant", "x"), ("user", "again"))],
    ),
    Case(
        "empty-answer",
        "run",
        [f"{DATA}:2", "answer is empty"],
        lines=[_msgs(("user", "hi"), ("assistant", "   "))],
    ),
    Case(
        "longer-than-max-length",
        "run",
        [f"{DATA}:2", "data.max_length = 256"],
        lines=[json.dumps({"prompt": LONG_PROMPT, "completion": "x"}).encode()],
    ),
    Case(
        "not-utf8",
        "run",
        [f"{DATA}:2", "UTF-8"],
        lines=[b'{"prompt": "caf\xe9", "completion": "x"}'],
    ),
    Case("not-an-object", "run", [f"{DATA}:2", "expected a JSON object"], lines=[b"[1, 2]"]),
    Case(
        "empty-file",
        "run",
        ["empty.jsonl", "no usable records"],
        sections={"data": {"train": "empty.jsonl"}},
        setup=lambda d: (d / "empty.jsonl").write_bytes(b""),
    ),
    Case(
        "missing-file",
        "run",
        ["nope.jsonl", "no such data file"],
        sections={"data": {"train": "nope.jsonl"}},
    ),
    Case(
        "bad-val-file",
        "run",
        ["badval.jsonl:1", "invalid JSON"],
        sections={"data": {"val": "badval.jsonl"}},
        setup=lambda d: (d / "badval.jsonl").write_bytes(b"{nope\n"),
    ),
    # --- configs ---
    Case(
        "model-path-missing",
        "run",
        ["model.name_or_path", "./no-such-model", "no such folder"],
        sections={"model": {"name_or_path": "./no-such-model"}},
    ),
    Case(
        "model-folder-empty",
        "run",
        ["model.name_or_path", "cannot load the tokenizer"],
        sections={"model": {"name_or_path": "empty-model"}},
        setup=lambda d: (d / "empty-model").mkdir(),
    ),
    Case(
        "output-dir-not-writable",
        "run",
        ["output.dir", "a-file/status"],
        sections={"output": {"dir": "a-file/status"}},
        setup=lambda d: (d / "a-file").write_text("x"),
    ),
    Case(
        "train-output-dir-not-writable",
        "run",
        ["train.output_dir", "a-file/ckpt"],
        sections={"train": {"output_dir": "a-file/ckpt"}},
        setup=lambda d: (d / "a-file").write_text("x"),
    ),
    Case(
        "resume-missing-folder",
        "run",
        ["train.resume", "runs/gone/checkpoint-9", "no such checkpoint folder"],
        sections={"train": {"resume": "runs/gone/checkpoint-9"}},
    ),
    Case(
        "resume-never-but-checkpoints",
        "run",
        ["train.resume", "never", "checkpoint-3", "To start fresh"],
        sections={"train": {"resume": "never"}},
        setup=lambda d: (d / "runs" / "out" / "checkpoint-3").mkdir(parents=True),
    ),
    Case(
        "trainer-args-unknown",
        "run",
        ["trainer_args.not_a_real_arg", "TrainingArguments"],
        sections={"trainer_args": {"not_a_real_arg": 1}},
    ),
    Case(
        "unknown-config-key",
        "run",
        ["config.toml:", "train.max_stepz", "max_steps"],
        sections={"train": {"max_stepz": 5}},
    ),
    Case(
        "wrong-type",
        "run",
        ["config.toml:", "train.max_steps"],
        sections={"train": {"max_steps": "ten"}},
    ),
    Case(
        "chat-template-missing",
        "run",
        ["data.template", "no chat template"],
        sections={"data": {"template": "chat"}},
    ),
    # --- validate ---
    Case("validate-invalid-json", "validate", [f"{DATA}:2", "invalid JSON"], lines=[b"{oops"]),
    Case(
        "validate-missing-file",
        "validate",
        ["nope.jsonl", "no such data file"],
        sections={"data": {"train": "nope.jsonl"}},
    ),
    Case(
        "validate-too-long",
        "validate",
        [f"{DATA}:2", "data.max_length"],
        lines=[json.dumps({"prompt": LONG_PROMPT, "completion": "x"}).encode()],
    ),
    Case(
        "validate-model-missing",
        "validate",
        ["model.name_or_path", "./no-such-model"],
        sections={"model": {"name_or_path": "./no-such-model"}},
    ),
    Case(
        "validate-model-folder-empty",
        "validate",
        ["model.name_or_path", "cannot load the tokenizer"],
        sections={"model": {"name_or_path": "empty-model"}},
        setup=lambda d: (d / "empty-model").mkdir(),
    ),
    Case(
        "validate-trainer-args-unknown",
        "validate",
        ["trainer_args.not_a_real_arg"],
        sections={"trainer_args": {"not_a_real_arg": 1}},
    ),
]


def _prepare(case: Case, tmp_path: Path, make_config: Callable[..., Path], data: Any) -> Path:
    sections = {k: dict(v) for k, v in case.sections.items()}
    if case.lines is not None:
        (tmp_path / DATA).write_bytes(b"\n".join([_good(data), *case.lines]) + b"\n")
        sections.setdefault("data", {}).setdefault("train", DATA)
    if case.setup:
        case.setup(tmp_path)
    return make_config(tmp_path, **sections)


def _assert_nothing_written(tmp_path: Path, ckpts_before: set[Path]) -> None:
    assert not list(tmp_path.rglob("events.jsonl")), "a refused run created an events file"
    assert set(tmp_path.rglob("checkpoint-*")) == ckpts_before, "a refused run wrote a checkpoint"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_exit_2(
    case: Case,
    isolated_cwd: Path,
    make_config: Callable[..., Path],
    puzzle_data: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = _prepare(case, isolated_cwd, make_config, puzzle_data)
    ckpts_before = set(isolated_cwd.rglob("checkpoint-*"))
    code = cli.main(
        [case.command, str(cfg), "--quiet"] if case.command == "run" else [case.command, str(cfg)]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("syllo-train: error: "), err
    for needle in case.expect:
        assert needle in err, f"{needle!r} not in {err!r}"
    assert "Traceback" not in err
    _assert_nothing_written(isolated_cwd, ckpts_before)


SUBPROCESS_CASES = [
    # A hub-style name that is not a folder: with the hub offline, a plain message, no traceback.
    (
        "run",
        {"model": {"name_or_path": "runs/missing-model"}},
        None,
        ["model.name_or_path", "runs/missing-model"],
    ),
    ("run", {}, [b'{"prompt": "a", "completion": '], [f"{DATA}:2", "invalid JSON"]),
    ("validate", {}, [b'{"prompt": "a"}'], [f"{DATA}:2", "'prompt' and 'completion'"]),
    ("run", {"train": {"max_stepz": 5}}, None, ["config.toml:", "train.max_stepz"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "sections", "lines", "expect"),
    SUBPROCESS_CASES,
    ids=["hub-model", "run-json", "validate-json", "key"],
)
def test_bad_input_as_a_real_process(
    command: str,
    sections: dict[str, Any],
    lines: BadLines | None,
    expect: list[str],
    tmp_path: Path,
    make_config: Callable[..., Path],
    puzzle_data: Any,
    run_syllo: Any,
) -> None:
    cfg = _prepare(
        Case("sub", command, expect, lines=lines, sections=sections),
        tmp_path,
        make_config,
        puzzle_data,
    )
    proc = run_syllo(command, cfg, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    for needle in expect:
        assert needle in proc.stderr, f"{needle!r} not in {proc.stderr!r}"
    assert "Traceback" not in proc.stderr
    _assert_nothing_written(tmp_path, set())


def test_skip_bad_records_counts_and_skips(
    isolated_cwd: Path,
    make_config: Callable[..., Path],
    puzzle_data: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = Path(puzzle_data.train).read_bytes().splitlines()[:10]
    bad = [
        b"{oops",
        _msgs(("assistant", "x")),
        json.dumps({"prompt": LONG_PROMPT, "completion": "x"}).encode(),
    ]
    (isolated_cwd / DATA).write_bytes(b"\n".join(good[:4] + bad + good[4:]) + b"\n")
    # A malformed record is data.on_bad_record's; a too-long one is data.too_long's.
    cfg = make_config(
        isolated_cwd, data={"train": DATA, "on_bad_record": "skip", "too_long": "skip"}
    )
    code = cli.main(["validate", str(cfg)])
    out = capsys.readouterr()
    assert code == 0, out.err
    n_val = len(Path(puzzle_data.val).read_bytes().splitlines())
    assert f"data: 10 train / {n_val} val examples ok (3 skipped)" in out.out


def test_validate_accepts_a_good_config(
    isolated_cwd: Path, make_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The table above must fail for its own reason, not because validate refuses everything.
    code = cli.main(["validate", str(make_config(isolated_cwd))])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "template plain" in out.out
    assert not list(isolated_cwd.rglob("events.jsonl"))
