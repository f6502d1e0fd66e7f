"""``syllo-train run`` end to end: the real CLI, as a subprocess, training real tiny models.

Each module-scoped fixture below is one real run; several tests read its
outputs, so the run is paid for once. With ``train.learning_rate = 0`` the
weights never move, so the losses the trainer reports can be recomputed
here, outside the trainer, from the saved model folder and the data file,
with the documented templates rebuilt by hand (not with syllo's formatter).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _support import GOLDEN_EVAL, GOLDEN_LOG, GOLDEN_MAX, GOLDEN_SAVE, GOLDEN_SEQUENCE, WAIT_S

from syllo_train.events import validate_event

pytestmark = pytest.mark.slow

LOSS_TOL = 1e-4


@dataclass
class Run:
    """One finished CLI run and what it left behind."""

    cwd: Path
    proc: subprocess.CompletedProcess[str]
    events: list[dict[str, Any]]

    @property
    def status_dir(self) -> Path:
        return self.cwd / "status"

    def of_type(self, etype: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == etype]


def _records(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


# --- independent loss computation (no syllo code) ------------------------------------------------


def _plain_ids(tok: Any, rec: dict[str, Any]) -> tuple[list[int], list[int]]:
    """The documented plain template (docs/data.md), rebuilt by hand and tokenized once:

    {system}\\n\\n            (only when there is a system text)
    ### User:\\n{prompt}\\n\\n### Assistant:\\n{answer}{eos}
    """
    msgs = rec["messages"]
    system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
    user = next(m["content"] for m in msgs if m["role"] == "user")
    answer = msgs[-1]["content"]
    prompt = (system + "\n\n" if system else "") + "### User:\n" + user + "\n\n### Assistant:\n"
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    full = tok(prompt + answer + tok.eos_token, add_special_tokens=False)["input_ids"]
    assert full[: len(prompt_ids)] == prompt_ids
    return prompt_ids, full[len(prompt_ids) :]


def _chat_ids(tok: Any, messages: list[dict[str, str]], answer: str) -> tuple[list[int], list[int]]:
    """transformers' own tokenization of the chat template (``apply_chat_template(tokenize=True)``).

    The prompt is the generation-prompt render; the answer is what the full
    conversation adds after it, through the template's end-of-turn token
    (``<|im_end|>``); the newline the template writes after that is not trained.
    """
    prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    full = tok.apply_chat_template([*messages, {"role": "assistant", "content": answer}])
    p_ids, f_ids = prompt["input_ids"], full["input_ids"]
    assert f_ids[: len(p_ids)] == p_ids
    rest = f_ids[len(p_ids) :]
    end_of_turn = rest.index(tok.convert_tokens_to_ids("<|im_end|>")) + 1
    return p_ids, rest[:end_of_turn]


def _loss_sum(model: Any, prompt_ids: list[int], answer_ids: list[int]) -> tuple[float, int]:
    """Sum of next-token cross-entropy over the answer tokens, and their count."""
    import torch

    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    # Position t predicts token t+1; the answer starts at len(prompt_ids).
    start = len(prompt_ids)
    pred = logits[start - 1 : len(prompt_ids) + len(answer_ids) - 1]
    target = ids[0, start:]
    total = torch.nn.functional.cross_entropy(pred, target, reduction="sum")
    return float(total), len(answer_ids)


def _load(model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32")
    model.eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


def _check_all_valid(events: list[dict[str, Any]]) -> None:
    for e in events:
        problems = validate_event(e)
        assert not problems, f"{e['type']}@{e['step']}: {problems}"


# --- run 1: the plain template, chat data with a system turn, learning rate 0 ----------------------


@pytest.fixture(scope="module")
def plain_run(
    tmp_path_factory: pytest.TempPathFactory,
    make_config: Callable[..., Path],
    run_syllo: Any,
    read_events: Any,
) -> Run:
    cwd = tmp_path_factory.mktemp("plain-run")
    cfg = make_config(
        cwd,
        train={
            "max_steps": GOLDEN_MAX,
            "save_steps": GOLDEN_SAVE,
            "learning_rate": 0.0,
            "save_total_limit": 0,
        },
        monitor={
            "log_steps": GOLDEN_LOG,
            "eval_steps": GOLDEN_EVAL,
            "eval_samples": 2,
            "max_new_tokens": 12,
        },
    )
    proc = run_syllo("run", cfg, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Run(cwd, proc, read_events(cwd / "status" / "events.jsonl"))


def test_golden_event_sequence(plain_run: Run) -> None:
    # Log every 2 steps and at the last step; eval every 3 and at the end (_support).
    assert [(e["type"], e["step"]) for e in plain_run.events] == GOLDEN_SEQUENCE


def test_every_event_passes_the_contract(plain_run: Run) -> None:
    _check_all_valid(plain_run.events)
    assert len({e["run_id"] for e in plain_run.events}) == 1
    ts = [e["ts"] for e in plain_run.events]
    assert ts == sorted(ts)


def test_run_start_and_run_end(plain_run: Run, tiny_model_dir: Path, puzzle_data: Any) -> None:
    start, end = plain_run.events[0], plain_run.events[-1]
    assert start["type"] == "run_start" and end["type"] == "run_end"
    assert start["template"] == "plain"  # the tiny model has no chat template
    assert start["model"] == str(tiny_model_dir)
    assert start["max_steps"] == GOLDEN_MAX
    assert start["train_examples"] == len(_records(puzzle_data.train))
    assert start["val_examples"] == len(_records(puzzle_data.val))
    assert start["resumed_from"] is None
    assert start["config"]["train"]["max_steps"] == GOLDEN_MAX
    assert end["status"] == "completed" and end["step"] == GOLDEN_MAX
    assert end["counters"]["evals"] == 3 and end["counters"]["checkpoints"] == 3
    assert end["counters"]["generations"] == 3 * 2


def test_log_events_carry_the_trained_example(plain_run: Run, puzzle_data: Any) -> None:
    train = _records(puzzle_data.train)
    logs = plain_run.of_type("log")
    assert [e["step"] for e in logs] == [2, 4, 6, 7]
    for e in logs:
        ex = e["example"]
        assert ex is not None, f"log@{e['step']} has no example"
        rec = train[ex["index"]]
        assert ex["prompt"] == next(m["content"] for m in rec["messages"] if m["role"] == "user")
        assert ex["golden"] == rec["messages"][-1]["content"]
        assert e["loss"] is not None and e["lr"] == 0.0


def test_example_loss_equals_independent_recomputation(
    plain_run: Run, tiny_model_dir: Path, puzzle_data: Any
) -> None:
    model, tok = _load(tiny_model_dir)
    train = _records(puzzle_data.train)
    for e in plain_run.of_type("log"):
        ex = e["example"]
        p_ids, a_ids = _plain_ids(tok, train[ex["index"]])
        assert (ex["prompt_tokens"], ex["golden_tokens"]) == (len(p_ids), len(a_ids))
        total, n = _loss_sum(model, p_ids, a_ids)
        assert ex["loss"] == pytest.approx(total / n, abs=LOSS_TOL), f"log@{e['step']}"


def test_val_loss_equals_independent_recomputation(
    plain_run: Run, tiny_model_dir: Path, puzzle_data: Any
) -> None:
    model, tok = _load(tiny_model_dir)
    sums = [_loss_sum(model, *_plain_ids(tok, rec)) for rec in _records(puzzle_data.val)]
    # Token-weighted: every answer token counts once, whatever example it is in.
    expected = sum(s for s, _ in sums) / sum(n for _, n in sums)
    evals = plain_run.of_type("eval")
    assert len(evals) == 3
    for e in evals:
        assert e["val_loss"] == pytest.approx(expected, abs=LOSS_TOL), f"eval@{e['step']}"


def test_eval_events_gap_and_samples(plain_run: Run) -> None:
    last_loss = None
    for e in plain_run.events:
        if e["type"] == "log":
            last_loss = e["loss"]
        if e["type"] == "eval":
            assert e["train_loss"] == last_loss
            assert e["gap"] == pytest.approx(e["val_loss"] - e["train_loss"])
            assert len(e["samples"]) == 2
            # The same fixed prompts at every eval.
            assert [s["index"] for s in e["samples"]] == [
                s["index"] for s in plain_run.of_type("eval")[0]["samples"]
            ]
            for s in e["samples"]:
                assert 1 <= s["output_tokens"] <= 12 or s["timed_out"]


def test_checkpoints_are_complete_and_marked(plain_run: Run) -> None:
    for e in plain_run.of_type("checkpoint"):
        path = plain_run.cwd / e["path"]
        marker = json.loads((path / "syllo_checkpoint.json").read_text())
        assert marker["step"] == e["step"]
        assert path.name == f"checkpoint-{e['step']}"


def test_status_snapshot_agrees_with_last_event(plain_run: Run) -> None:
    snap = json.loads((plain_run.status_dir / "training_status.json").read_text())
    last = plain_run.events[-1]
    assert snap["run_id"] == last["run_id"]
    assert snap["step"] == last["step"]
    assert snap["status"] == last["status"] == "completed"
    assert snap["counters"] == last["counters"]
    last_log = plain_run.of_type("log")[-1]
    last_eval = plain_run.of_type("eval")[-1]
    assert snap["val_loss"] == last_eval["val_loss"]
    assert snap["last_checkpoint"]["step"] == plain_run.of_type("checkpoint")[-1]["step"]
    assert snap["total_steps"] == last_log["total_steps"]
    # The pid in the snapshot is the trainer's, not a reader's.
    assert snap["pid"] == plain_run.events[0]["pid"]


def test_train_log_has_log_and_eval_blocks(plain_run: Run) -> None:
    text = (plain_run.status_dir / "train.log").read_text(encoding="utf-8")
    for needle in (
        "📝 prompt",
        "✅ golden",
        "loss on this example:",
        "🤖 model:",
        "Train=",
        "| Val=",
        "| Gap=",
        "💾 checkpoint",
    ):
        assert needle in text, needle
    assert text.count("loss on this example:") == len(plain_run.of_type("log"))
    assert text.count("🔎 EVAL at step") == len(plain_run.of_type("eval"))
    # The human log is echoed to stdout too (no --quiet).
    assert "loss on this example:" in plain_run.proc.stdout


# --- run 2: chat template model, prompt/completion data, one bad record skipped -------------------


@pytest.fixture(scope="module")
def chat_run(
    tmp_path_factory: pytest.TempPathFactory,
    make_config: Callable[..., Path],
    tiny_chat_model_dir: Path,
    puzzle_data: Any,
    run_syllo: Any,
    read_events: Any,
) -> Run:
    cwd = tmp_path_factory.mktemp("chat-run")
    lines = []
    for rec in _records(puzzle_data.train)[:24]:
        user = next(m["content"] for m in rec["messages"] if m["role"] == "user")
        lines.append(json.dumps({"prompt": user, "completion": rec["messages"][-1]["content"]}))
    lines.insert(5, '{"prompt": "no completion here"}')  # skipped, not fatal
    (cwd / "pc.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = make_config(
        cwd,
        model={"name_or_path": str(tiny_chat_model_dir)},
        data={
            "train": "pc.jsonl",
            "val": "",
            "val_fraction": 0.2,
            "on_bad_record": "skip",
            "system_prompt": "Solve it.",
        },
        train={"max_steps": 4, "learning_rate": 0.0},
        monitor={"log_steps": 2, "eval_steps": 0, "eval_samples": 1, "max_new_tokens": 6},
    )
    proc = run_syllo("run", cfg, "--quiet", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Run(cwd, proc, read_events(cwd / "status" / "events.jsonl"))


def test_chat_template_model_uses_its_template(chat_run: Run) -> None:
    _check_all_valid(chat_run.events)
    start = chat_run.events[0]
    assert start["template"] == "chat"
    # The last step is always saved, whatever train.save_steps says.
    assert [(e["type"], e["step"]) for e in chat_run.events] == [
        ("run_start", 0),
        ("log", 2),
        ("log", 4),
        ("eval", 4),
        ("checkpoint", 4),
        ("run_end", 4),
    ]
    assert chat_run.events[-1]["status"] == "completed"
    assert chat_run.proc.stdout == ""  # --quiet


def test_prompt_completion_bad_record_is_skipped_and_counted(chat_run: Run) -> None:
    start = chat_run.events[0]
    assert start["skipped_records"] == 1
    assert start["train_examples"] + start["val_examples"] == 24
    assert "pc.jsonl:6" in (chat_run.status_dir / "train.log").read_text(encoding="utf-8")


def test_chat_example_loss_uses_the_chat_template(chat_run: Run, tiny_chat_model_dir: Path) -> None:
    model, tok = _load(tiny_chat_model_dir)
    for e in chat_run.of_type("log"):
        ex = e["example"]
        messages = [
            {"role": "system", "content": "Solve it."},
            {"role": "user", "content": ex["prompt"]},
        ]
        p_ids, a_ids = _chat_ids(tok, messages, ex["golden"])
        assert (ex["prompt_tokens"], ex["golden_tokens"]) == (len(p_ids), len(a_ids))
        total, n = _loss_sum(model, p_ids, a_ids)
        assert ex["loss"] == pytest.approx(total / n, abs=LOSS_TOL), f"log@{e['step']}"


# --- kill -9, resume, refusals ----------------------------------------------------------------------

KILL_MAX_STEPS, KILL_SAVE, KILL_LOG, KILL_HANG = 30, 4, 2, 10


def _wait_for(
    predicate: Callable[[], bool], proc: subprocess.Popen[str], timeout: float, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    stderr = Path(str(proc.args[-1])).parent / "stderr.txt"  # the config sits in the run's cwd
    tail = stderr.read_text(errors="replace")[-3000:] if stderr.exists() else ""
    raise AssertionError(f"gave up waiting for {what} (exit code {proc.returncode})\n{tail}")


def _proc_field(pid: int, name: str) -> str:
    """A field of the main thread's /proc status (the thread that writes the human log)."""
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    raise AssertionError(f"/proc/{pid}/task/{pid}/status has no {name}")


def _blocked_in_pipe_write(pid: int) -> bool:
    """Is the main thread asleep inside a write to a pipe (wchan pipe_write/anon_pipe_write)?"""
    return "pipe_write" in Path(f"/proc/{pid}/wchan").read_text()


def _main_thread_sleeps(pid: int) -> int:
    return int(_proc_field(pid, "voluntary_ctxt_switches"))


def _signal_pending(pid: int) -> bool:
    return int(_proc_field(pid, "ShdPnd"), 16) != 0 or int(_proc_field(pid, "SigPnd"), 16) != 0


def _has_event(path: Path, etype: str, min_step: int = 0) -> bool:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return False
    for line in data.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue  # a line being written; read again
        if e.get("type") == etype and e.get("step", 0) >= min_step:
            return True
    return False


def _marked(ckpt_root: Path) -> list[int]:
    return sorted(
        int(p.name.split("-")[1])
        for p in ckpt_root.glob("checkpoint-*")
        if (p / "syllo_checkpoint.json").exists()
    )


@dataclass
class KillResume:
    cwd: Path
    killed: list[dict[str, Any]]  # events of the SIGKILLed run
    resumed: list[dict[str, Any]]  # events of the run that resumed
    resumed_proc: subprocess.CompletedProcess[str]
    resume_step: int  # newest complete checkpoint when the first run died
    incomplete: Path  # the planted checkpoint folder without a marker


@pytest.fixture(scope="module")
def kill_resume(
    tmp_path_factory: pytest.TempPathFactory,
    make_config: Callable[..., Path],
    puzzle_data: Any,
    run_syllo: Any,
    start_syllo_bg: Any,
    read_events: Any,
) -> KillResume:
    cwd = tmp_path_factory.mktemp("kill-resume")
    # A private copy: a later test changes it.
    shutil.copy(puzzle_data.train, cwd / "train.jsonl")
    cfg = make_config(
        cwd,
        data={"train": "train.jsonl"},
        train={"max_steps": KILL_MAX_STEPS, "save_steps": KILL_SAVE, "save_total_limit": 0},
        monitor={"log_steps": KILL_LOG, "eval_steps": 0, "eval_at_end": False, "eval_samples": 0},
    )
    events_path = cwd / "status" / "events.jsonl"
    # hang@KILL_HANG: the trainer sticks at a step end after two checkpoints, alive
    # and mid-run, and waits there for the kill; however slow or fast the machine
    # and this test are meanwhile, the run cannot end before it.
    proc = start_syllo_bg("run", cfg, cwd=cwd, fault=f"hang@{KILL_HANG}")
    _wait_for(
        lambda: _has_event(events_path, "checkpoint", min_step=2 * KILL_SAVE),
        proc,
        WAIT_S,
        "the second checkpoint event",
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = read_events(events_path)
    ckpts = cwd / "runs" / "out"
    resume_step = max(_marked(ckpts))
    # Plant an incomplete checkpoint newer than every complete one (a save cut short).
    incomplete = ckpts / f"checkpoint-{resume_step + KILL_SAVE}"
    incomplete.mkdir(exist_ok=True)
    (incomplete / "config.json").write_text("{}")
    (incomplete / "syllo_checkpoint.json").unlink(missing_ok=True)
    resumed_proc = run_syllo("run", cfg, cwd=cwd)
    assert resumed_proc.returncode == 0, resumed_proc.stderr[-4000:]
    all_events = read_events(events_path)
    return KillResume(cwd, killed, all_events[len(killed) :], resumed_proc, resume_step, incomplete)


def test_kill9_happened_mid_run(kill_resume: KillResume) -> None:
    types = [e["type"] for e in kill_resume.killed]
    assert "run_end" not in types  # it really died mid-run
    assert kill_resume.killed[-1]["step"] < KILL_MAX_STEPS
    _check_all_valid(kill_resume.killed)


def test_resume_continues_from_last_checkpoint(kill_resume: KillResume) -> None:
    r, n = kill_resume.resumed, kill_resume.resume_step
    _check_all_valid(r)
    assert r[0]["type"] == "run_start"
    assert r[0]["run_id"] != kill_resume.killed[0]["run_id"]
    assert r[0]["resumed_from"].endswith(f"checkpoint-{n}")
    resumes = [e for e in r if e["type"] == "resume"]
    assert len(resumes) == 1
    assert resumes[0]["step"] == n and resumes[0]["from_checkpoint"].endswith(f"checkpoint-{n}")
    assert r[1] is resumes[0]  # the seam is marked before any training event
    # Steps continue from the checkpoint: no log at or before it, and every log step after it.
    logs = [e["step"] for e in r if e["type"] == "log"]
    assert logs == [s for s in range(n + 1, KILL_MAX_STEPS + 1) if s % KILL_LOG == 0]
    # Only steps after the checkpoint are trained twice across the seam.
    before = [e["step"] for e in kill_resume.killed if e["type"] == "log"]
    assert set(before) & set(logs) == {s for s in before if s > n}
    assert (
        r[-1]["type"] == "run_end"
        and r[-1]["status"] == "completed"
        and r[-1]["step"] == KILL_MAX_STEPS
    )
    snap = json.loads((kill_resume.cwd / "status" / "training_status.json").read_text())
    assert (snap["status"], snap["step"]) == ("completed", KILL_MAX_STEPS)
    # Counters continue the run's totals from the checkpoint across the seam.
    ckpt_event = next(e for e in kill_resume.killed if e["type"] == "checkpoint" and e["step"] == n)
    first_after = next(e for e in r if "counters" in e)
    assert first_after["counters"]["checkpoints"] >= ckpt_event["counters"]["checkpoints"] >= 1
    final = r[-1]["counters"]
    saves_after = sum(1 for e in r if e["type"] == "checkpoint")
    assert final["checkpoints"] == ckpt_event["counters"]["checkpoints"] + saves_after


def test_incomplete_checkpoint_is_skipped_with_a_message(kill_resume: KillResume) -> None:
    name = f"runs/out/{kill_resume.incomplete.name}"  # as train.output_dir spells it
    assert f"skipping {name}: incomplete" in kill_resume.resumed_proc.stdout
    assert f"skipping {name}: incomplete" in (kill_resume.cwd / "status" / "train.log").read_text(
        encoding="utf-8"
    )


def test_changed_dataset_in_same_folder_is_refused(kill_resume: KillResume, run_syllo: Any) -> None:
    cwd = kill_resume.cwd
    events_path = cwd / "status" / "events.jsonl"
    before = events_path.read_bytes()
    ckpts_before = sorted(p.name for p in (cwd / "runs" / "out").iterdir())
    train = cwd / "train.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines()
    train.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")  # one record fewer
    proc = run_syllo("run", cwd / "config.toml", cwd=cwd)
    assert proc.returncode == 2, proc.stderr[-4000:]
    assert "different data" in proc.stderr
    assert "To start fresh" in proc.stderr and "train.output_dir" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert events_path.read_bytes() == before  # the refused run wrote nothing
    assert sorted(p.name for p in (cwd / "runs" / "out").iterdir()) == ckpts_before


# --- SIGTERM ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sigterm_run(
    tmp_path_factory: pytest.TempPathFactory,
    make_config: Callable[..., Path],
    start_syllo_bg: Any,
    read_events: Any,
) -> tuple[Path, int, list[dict[str, Any]]]:
    cwd = tmp_path_factory.mktemp("sigterm")
    # Far more steps than can run before the signal lands, however loaded the machine.
    cfg = make_config(
        cwd,
        train={"max_steps": 100_000, "save_steps": 1_000_000},
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 1},
    )
    events_path = cwd / "status" / "events.jsonl"
    proc = start_syllo_bg("run", cfg, cwd=cwd)
    _wait_for(lambda: _has_event(events_path, "log", min_step=2), proc, 120, "a log event")
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the trainer did not stop within 120 s of SIGTERM") from None
    return cwd, code, read_events(events_path)


def test_sigterm_saves_and_stops(sigterm_run: tuple[Path, int, list[dict[str, Any]]]) -> None:
    cwd, code, events = sigterm_run
    assert code == 0, (cwd / "stderr.txt").read_text()
    _check_all_valid(events)
    end = events[-1]
    assert end["type"] == "run_end" and end["status"] == "stopped"
    stop = end["step"]
    assert 2 <= stop < 100_000
    ckpts = [e for e in events if e["type"] == "checkpoint"]
    assert [e["step"] for e in ckpts] == [stop]  # save_steps is huge: this is the stop's own save
    assert (cwd / "runs" / "out" / f"checkpoint-{stop}" / "syllo_checkpoint.json").exists()
    assert not [e for e in events if e["type"] == "eval"]  # no eval on the way out
    assert "SIGTERM" in end["reason"]
    assert "received SIGTERM" in (cwd / "status" / "train.log").read_text(encoding="utf-8")


@pytest.mark.parametrize("signals", [1, 2], ids=["once", "twice"])
def test_sigterm_while_stdout_is_blocked_does_not_hang(
    signals: int,
    tmp_path: Path,
    make_config: Callable[..., Path],
    start_syllo_bg: Any,
    read_events: Any,
) -> None:
    """SIGTERM while the trainer is blocked writing the human log to a full stdout pipe.

    The test follows the process's own state (/proc: where the main thread
    sleeps, pending signals), never a fixed time, so load cannot change it.

    A stalled reader (``syllo-train run | slow-consumer``) leaves the main thread
    inside the human log's write, holding its lock, when the signal arrives;
    the handler runs on that same thread, so it must not need the lock, or the
    process hangs forever. Once: it stops cleanly when the reader catches up.
    Twice: it exits at once (128 + 15) even though the reader never does.
    """
    import fcntl
    import threading

    cfg = make_config(
        tmp_path,
        train={"max_steps": 5000, "save_steps": 100000},
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 0, "eval_at_end": False},
    )
    events_path = tmp_path / "status" / "events.jsonl"
    proc = start_syllo_bg("run", cfg, cwd=tmp_path, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    # The smallest pipe Linux allows: a few log blocks fill it.
    fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    try:
        _wait_for(lambda: _has_event(events_path, "log", min_step=3), proc, 120, "log events")
        # Blocked: the main thread sleeps in a write to the full pipe (the kernel says
        # so), and stays there: nobody reads stdout.
        _wait_for(lambda: _blocked_in_pipe_write(proc.pid), proc, WAIT_S, "a blocked write")
        for n in range(1, signals + 1):
            sleeps = _main_thread_sleeps(proc.pid)
            proc.send_signal(signal.SIGTERM)
            if n == 2:
                break  # the second one exits at once
            # Delivered, its Python handler run (PEP 475: before the write is retried),
            # and back asleep in the retried write. Only then a second signal: two
            # sent before the handler runs would be one call of it.
            _wait_for(
                lambda sleeps=sleeps: (
                    not _signal_pending(proc.pid)
                    and _main_thread_sleeps(proc.pid) > sleeps
                    and _blocked_in_pipe_write(proc.pid)
                ),
                proc,
                WAIT_S,
                "the handler to run and the write to block again",
            )
        if signals == 1:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
        code = proc.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            "the trainer hung after SIGTERM (a lock taken in the signal handler?)"
        ) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = read_events(events_path)  # whole lines only, even after an exit at once
    if signals == 2:
        assert code == 128 + signal.SIGTERM
        return
    assert code == 0
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "stopped"
    assert events[-2]["type"] == "checkpoint" and events[-2]["step"] == events[-1]["step"]
