"""``syllo-train run`` under ``torchrun`` and ``accelerate launch``.

Every run here is real: ``python -m torch.distributed.run --standalone
--nproc_per_node=2 -m syllo_train run`` (or ``accelerate launch``) as a
subprocess, two worker processes on the gloo backend, a tiny model on the
CPU. The checks are the ones that only several processes can break: one
writer, global throughput, a validation loss over both ranks' shares, evals
and forced timeouts, a kill and a resume, a stop signal that reaches one rank
only, and eval generation with sharded (FSDP2) weights.

A hang is the typical multi-process failure; every wait here is bounded and
kills the whole process tree before failing, so a regression fails in minutes,
not after the 30-minute collective timeout. Nothing asserts a duration.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _support import GOLDEN_EVAL, GOLDEN_LOG, GOLDEN_MAX, GOLDEN_SAVE, GOLDEN_SEQUENCE

from syllo_train.events import validate_event

torch_dist = pytest.importorskip("torch.distributed")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (torch_dist.is_available() and torch_dist.is_gloo_available()),
        reason="needs torch.distributed with the gloo backend",
    ),
]

#: One thread a process, no network (two workers share a 2-core box).
ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}
WAIT_S = 150.0  # a launch: two workers importing torch + transformers on a busy 2-core box
BATCH = 4
STATUS_FILES = {"events.jsonl", "train.log", "training_status.json", "heartbeat"}


# --- launching and stopping process trees ---------------------------------------------------------


def _env(fault: str | None = None) -> dict[str, str]:
    env = {**os.environ, **ENV}
    env.pop("SYLLO_FAULT", None)
    if fault:
        env["SYLLO_FAULT"] = (
            fault  # test-only hook (syllo_train/ops/faults.py), inherited by every rank
        )
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun_cmd(*args: str | Path, nproc: int = 2) -> list[str]:
    """The venv's torchrun (``python -m torch.distributed.run``), rendezvous on a free port."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        *map(str, args),
    ]


def start(cmd: list[str], cwd: Path, fault: str | None = None) -> subprocess.Popen[bytes]:
    """Start a launcher; its (and its workers') output goes to stdout.txt / stderr.txt in cwd."""
    with open(cwd / "stdout.txt", "ab") as out, open(cwd / "stderr.txt", "ab") as err:
        # The child has its own copies of the descriptors; ours close on leaving.
        return subprocess.Popen(
            cmd, cwd=cwd, env=_env(fault), stdout=out, stderr=err, start_new_session=True
        )


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a launcher and every process under it.

    torchrun starts each worker in a session of its own, so killing the
    launcher's process group would leave the workers training.
    """
    import psutil

    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for p in reversed(tree):  # workers first: they must not outlive the launcher
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)


def _tail(cwd: Path) -> str:
    err = (cwd / "stderr.txt").read_text(errors="replace") if (cwd / "stderr.txt").exists() else ""
    return err[-4000:]


def wait_exit(proc: subprocess.Popen[bytes], cwd: Path, timeout: float = WAIT_S) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        raise AssertionError(
            f"the launch did not finish within {timeout:.0f} s\n{_tail(cwd)}"
        ) from None


def run_to_end(cmd: list[str], cwd: Path, fault: str | None = None) -> int:
    return wait_exit(start(cmd, cwd, fault), cwd)


def events_now(path: Path) -> list[dict[str, Any]]:
    """The whole lines written so far (a line being written is left for later)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data.split(b"\n")[:-1] if line.strip()]


def wait_for_event(
    proc: subprocess.Popen[bytes], cwd: Path, what: Callable[[dict[str, Any]], bool], desc: str
) -> list[dict[str, Any]]:
    path = cwd / "status" / "events.jsonl"
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
        events = events_now(path)
        if any(what(e) for e in events):
            return events
        time.sleep(0.05)
    kill_tree(proc)
    raise AssertionError(f"gave up waiting for {desc} (exit {proc.returncode})\n{_tail(cwd)}")


# --- reading a run back ---------------------------------------------------------------------------


@dataclass
class Run:
    cwd: Path
    code: int
    events: list[dict[str, Any]]

    def of_type(self, etype: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == etype]

    @property
    def stdout(self) -> str:
        return (self.cwd / "stdout.txt").read_text(encoding="utf-8", errors="replace")

    @property
    def train_log(self) -> str:
        return (self.cwd / "status" / "train.log").read_text(encoding="utf-8")


def read_run(cwd: Path, code: int, read_events: Callable[[Path], list[dict[str, Any]]]) -> Run:
    return Run(cwd, code, read_events(cwd / "status" / "events.jsonl"))


def check_valid(events: list[dict[str, Any]]) -> None:
    for e in events:
        problems = validate_event(e)
        assert not problems, f"{e['type']}@{e['step']}: {problems}"


def check_one_writer(events: list[dict[str, Any]]) -> None:
    """One process wrote these: no event twice, one run id, time never goes back."""
    keys = [(e["type"], e["step"], e.get("sample")) for e in events]
    assert len(keys) == len(set(keys)), f"duplicated events: {keys}"
    assert len({e["run_id"] for e in events}) == 1
    ts = [e["ts"] for e in events]
    assert ts == sorted(ts)


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _plain_ids(tok: Any, rec: dict[str, Any]) -> tuple[list[int], list[int]]:
    """data.py's documented plain template, rebuilt by hand (not with syllo's formatter)."""
    msgs = rec["messages"]
    system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
    user = next(m["content"] for m in msgs if m["role"] == "user")
    prompt = (system + "\n\n" if system else "") + "### User:\n" + user + "\n\n### Assistant:\n"
    answer = msgs[-1]["content"] + tok.eos_token
    return tok(prompt)["input_ids"], tok(answer, add_special_tokens=False)["input_ids"]


def independent_val_loss(model_dir: Path, val_path: Path) -> float:
    """Token-weighted answer loss over the whole validation file, in this process."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32").eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    total, count = 0.0, 0
    for rec in _records(val_path):
        p_ids, a_ids = _plain_ids(tok, rec)
        ids = torch.tensor([p_ids + a_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].double()
        pred = logits[len(p_ids) - 1 : len(p_ids) + len(a_ids) - 1]
        total += float(
            torch.nn.functional.cross_entropy(pred, ids[0, len(p_ids) :], reduction="sum")
        )
        count += len(a_ids)
    return total / count


def example_lengths(model_dir: Path, train_path: Path) -> tuple[int, int]:
    """(shortest, longest) training example in tokens, prompt + answer."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    lengths = [sum(map(len, _plain_ids(tok, rec))) for rec in _records(train_path)]
    return min(lengths), max(lengths)


# --- run 1: a complete two-rank run with evals, learning rate 0 -----------------------------------


@pytest.fixture(scope="module")
def ddp_run(
    tmp_path_factory: pytest.TempPathFactory, make_config: Callable[..., Path], read_events: Any
) -> Run:
    cwd = tmp_path_factory.mktemp("ddp-run")
    cfg = make_config(
        cwd,
        train={
            "device": "cpu",
            "max_steps": GOLDEN_MAX,
            "save_steps": GOLDEN_SAVE,
            "batch_size": BATCH,
            "learning_rate": 0.0,  # the weights never move: val loss can be recomputed here
            "save_total_limit": 0,
        },
        monitor={
            "log_steps": GOLDEN_LOG,
            "eval_steps": GOLDEN_EVAL,
            "eval_samples": 2,
            "max_new_tokens": 12,
        },
    )
    code = run_to_end(torchrun_cmd("-m", "syllo_train", "run", cfg), cwd)
    assert code == 0, _tail(cwd)
    return read_run(cwd, code, read_events)


def test_two_ranks_write_the_single_process_golden_sequence(ddp_run: Run) -> None:
    assert [(e["type"], e["step"]) for e in ddp_run.events] == GOLDEN_SEQUENCE
    check_valid(ddp_run.events)
    check_one_writer(ddp_run.events)
    assert ddp_run.events[-1]["status"] == "completed"
    assert ddp_run.events[-1]["counters"]["generations"] == 3 * 2


def test_only_rank_zero_writes(ddp_run: Run) -> None:
    start = ddp_run.events[0]
    # The human log, in its file and echoed to the launcher's stdout (both
    # workers share it): every block once, though two processes ran.
    n_logs, n_evals = len(ddp_run.of_type("log")), len(ddp_run.of_type("eval"))
    for text in (ddp_run.train_log, ddp_run.stdout):
        assert text.count("loss on this example:") == n_logs
        assert text.count("🔎 EVAL at step") == n_evals
        assert text.count("▶ run") == 1
    # Nothing else in the status folder: no second snapshot, log, probe or lock left behind.
    assert {p.name for p in (ddp_run.cwd / "status").iterdir()} == STATUS_FILES
    snap = json.loads((ddp_run.cwd / "status" / "training_status.json").read_text())
    assert snap["pid"] == start["pid"] and snap["run_id"] == start["run_id"]
    assert (snap["status"], snap["step"]) == ("completed", GOLDEN_MAX)


def test_run_start_records_the_launch(ddp_run: Run) -> None:
    start = ddp_run.events[0]
    assert start["world_size"] == 2
    d = start["distributed"]
    assert d["backend"] == "gloo" and d["launcher"] == "torchrun"
    assert (d["world_size"], d["local_world_size"], d["nnodes"]) == (2, 2, 1)
    assert d["global_batch_size"] == BATCH * 2
    assert (
        d["ddp_timeout"] == 1800
    )  # the Trainer's default, what the eval budget was checked against
    assert d["sharding"] is None and d["restart_count"] == 0


def test_val_loss_covers_both_ranks_shares(
    ddp_run: Run, tiny_model_dir: Path, puzzle_data: Any
) -> None:
    # Each rank computes half of the validation set; the reported figure is the
    # whole set's, as one process computes it (here, outside syllo).
    expected = independent_val_loss(tiny_model_dir, puzzle_data.val)
    evals = ddp_run.of_type("eval")
    assert len(evals) == 3
    for e in evals:
        assert e["val_loss"] == pytest.approx(expected, abs=1e-4), f"eval@{e['step']}"
        assert len(e["samples"]) == 2 and all(not s["timed_out"] for s in e["samples"])


def test_throughput_counts_both_ranks(ddp_run: Run, tiny_model_dir: Path, puzzle_data: Any) -> None:
    shortest, longest = example_lengths(tiny_model_dir, puzzle_data.train)
    # Two ranks' batches outweigh one rank's, whatever the padding, when no example
    # is twice another's length; the check is meaningless otherwise.
    assert longest < 2 * shortest
    rated = [e for e in ddp_run.of_type("log") if e["steps_per_s"] and e["tokens_per_s"]]
    assert rated
    for e in rated:
        # tokens_per_s / steps_per_s = tokens per step over the window (the same clock).
        per_step = e["tokens_per_s"] / e["steps_per_s"]
        assert per_step > BATCH * longest * 1.001, (
            f"log@{e['step']}: {per_step:.0f} tokens/step is one rank's"
        )
        assert per_step <= 2 * BATCH * longest * 1.001


def test_checkpoints_hold_every_ranks_files(ddp_run: Run) -> None:
    for e in ddp_run.of_type("checkpoint"):
        folder = ddp_run.cwd / e["path"]
        names = {p.name for p in folder.iterdir()}
        assert {"rng_state_0.pth", "rng_state_1.pth", "syllo_checkpoint.json"} <= names


# --- run 2: every generation cut off by its time limit ------------------------------------------


def test_forced_timeouts_are_recorded_once_and_training_goes_on(
    tmp_path: Path, make_config: Callable[..., Path], read_events: Any
) -> None:
    cfg = make_config(
        tmp_path,
        train={"device": "cpu", "max_steps": 4, "batch_size": BATCH},
        # 1 ms: the first token alone takes longer, so every generation times out.
        monitor={
            "log_steps": 2,
            "eval_steps": 2,
            "eval_samples": 2,
            "max_new_tokens": 16,
            "generation_timeout_s": 0.001,
        },
    )
    code = run_to_end(torchrun_cmd("-m", "syllo_train", "run", cfg, "--quiet"), tmp_path)
    assert code == 0, _tail(tmp_path)
    run = read_run(tmp_path, code, read_events)
    check_valid(run.events)
    check_one_writer(run.events)
    assert [(e["type"], e["step"]) for e in run.events if e["type"] != "timeout"] == [
        ("run_start", 0),
        ("log", 2),
        ("eval", 2),
        ("checkpoint", 2),  # the first eval is the best so far: its step gets a checkpoint
        ("log", 4),
        ("eval", 4),
        ("checkpoint", 4),
        ("run_end", 4),
    ]
    timeouts = run.of_type("timeout")
    assert [(e["step"], e["sample"]) for e in timeouts] == [(2, 0), (2, 1), (4, 0), (4, 1)]
    for e in run.of_type("eval"):
        assert [(s["output"], s["match"], s["timed_out"]) for s in e["samples"]] == [
            (None, None, True)
        ] * 2
        assert e["val_loss"] is not None  # validation loss does not depend on generation
    end = run.events[-1]
    assert end["status"] == "completed"
    assert (end["counters"]["timeouts"], end["counters"]["generations"]) == (4, 4)
    assert run.train_log.count("⚠️ TIMEOUT") == 4  # one line each, from one writer


def test_eval_round_longer_than_the_collective_timeout_is_refused(
    tmp_path: Path, make_config: Callable[..., Path]
) -> None:
    cfg = make_config(
        tmp_path,
        train={"device": "cpu", "max_steps": 4},
        monitor={"eval_steps": 2, "eval_samples": 2, "generation_timeout_s": 30},
        trainer_args={"ddp_timeout": 20},
    )
    code = run_to_end(torchrun_cmd("-m", "syllo_train", "run", cfg), tmp_path)
    assert code != 0
    err = (tmp_path / "stderr.txt").read_text(errors="replace")
    assert "trainer_args.ddp_timeout" in err and "monitor.eval_timeout_s" in err
    assert not (tmp_path / "status" / "events.jsonl").exists()  # refused before any output


# --- run 3: SIGKILL everything after a checkpoint, then run again -----------------------------------

KILL_MAX, KILL_SAVE, KILL_LOG, KILL_HANG = 20, 4, 2, 10


@dataclass
class KillResume:
    cwd: Path
    killed: list[dict[str, Any]]
    resumed: list[dict[str, Any]]
    resume_step: int


def _marked(ckpt_root: Path) -> list[int]:
    return sorted(
        int(p.name.split("-")[1])
        for p in ckpt_root.glob("checkpoint-*")
        if (p / "syllo_checkpoint.json").exists()
    )


@pytest.fixture(scope="module")
def kill_resume(
    tmp_path_factory: pytest.TempPathFactory, make_config: Callable[..., Path], read_events: Any
) -> KillResume:
    cwd = tmp_path_factory.mktemp("kill-resume")
    cfg = make_config(
        cwd,
        train={
            "device": "cpu",
            "max_steps": KILL_MAX,
            "save_steps": KILL_SAVE,
            "save_total_limit": 0,
        },
        monitor={"log_steps": KILL_LOG, "eval_steps": 0, "eval_at_end": False, "eval_samples": 0},
    )
    cmd = torchrun_cmd("-m", "syllo_train", "run", cfg, "--quiet")
    # hang@KILL_HANG: both ranks stick at a step end after two checkpoints, alive and
    # mid-run, and wait there for the kill: the run cannot end before it.
    proc = start(cmd, cwd, fault=f"hang@{KILL_HANG}")
    try:
        events = wait_for_event(
            proc,
            cwd,
            lambda e: e["type"] == "checkpoint" and e["step"] == 2 * KILL_SAVE,
            "the second checkpoint",
        )
        lock = json.loads((cwd / "status" / "trainer.lock").read_text())
    finally:
        kill_tree(proc)
    # Rank 0, and only rank 0, held the folder's lock: rank 1 was not refused.
    assert lock["pid"] == events[0]["pid"]
    killed = read_events(cwd / "status" / "events.jsonl")
    resume_step = max(_marked(cwd / "runs" / "out"))
    code = run_to_end(cmd, cwd)
    assert code == 0, _tail(cwd)
    everything = read_events(cwd / "status" / "events.jsonl")
    return KillResume(cwd, killed, everything[len(killed) :], resume_step)


def test_kill_left_a_run_without_an_end(kill_resume: KillResume) -> None:
    check_valid(kill_resume.killed)
    assert "run_end" not in [e["type"] for e in kill_resume.killed]
    assert kill_resume.killed[-1]["step"] < KILL_MAX


def test_rerun_resumes_once_from_the_last_checkpoint(kill_resume: KillResume) -> None:
    r, n = kill_resume.resumed, kill_resume.resume_step
    check_valid(r)
    check_one_writer(r)
    assert r[0]["type"] == "run_start" and r[0]["resumed_from"].endswith(f"checkpoint-{n}")
    assert r[0]["distributed"]["world_size"] == 2
    every = kill_resume.killed + r
    resumes = [e for e in every if e["type"] == "resume"]
    assert len(resumes) == 1 and resumes[0] is r[1] and resumes[0]["step"] == n
    logs = [e["step"] for e in r if e["type"] == "log"]
    assert logs == list(range(n + KILL_LOG, KILL_MAX + 1, KILL_LOG))
    assert [e["type"] for e in every].count("run_end") == 1
    assert (r[-1]["type"], r[-1]["status"], r[-1]["step"]) == ("run_end", "completed", KILL_MAX)
    final = kill_resume.cwd / "runs" / "out" / f"checkpoint-{KILL_MAX}"
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in final.iterdir()}


# --- run 4: a stop signal that reaches rank 0 only ---------------------------------------------------


def test_sigterm_to_rank_zero_stops_every_rank_at_the_same_step(
    tmp_path: Path, make_config: Callable[..., Path], read_events: Any
) -> None:
    """What ``syllo-train stop`` does: SIGTERM to the lock holder (rank 0) alone.

    Rank 1 never sees a signal; had it not stopped at rank 0's step, it would
    wait forever in the next collective (the launch would not end), or the
    checkpoint would lack its RNG state.
    """
    log_steps = 2
    # Far more steps than can run before the stop lands, however loaded the machine
    # (slow@1 keeps the run from racing through them meanwhile).
    cfg = make_config(
        tmp_path,
        train={"device": "cpu", "max_steps": 100_000, "save_steps": 1_000_000},
        monitor={"log_steps": log_steps, "eval_steps": 0, "eval_samples": 1},
    )
    proc = start(
        torchrun_cmd("-m", "syllo_train", "run", cfg, "--quiet"), tmp_path, fault="slow@1:secs=0.25"
    )
    try:
        events = wait_for_event(proc, tmp_path, lambda e: e["type"] == "log", "a log event")
        os.kill(events[0]["pid"], signal.SIGTERM)  # run_start's pid: rank 0's
        code = wait_exit(proc, tmp_path)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    assert code == 0, _tail(tmp_path)  # every worker exited 0
    run = read_run(tmp_path, code, read_events)
    check_valid(run.events)
    check_one_writer(run.events)
    end = run.events[-1]
    assert end["type"] == "run_end" and end["status"] == "stopped" and "SIGTERM" in end["reason"]
    stop = end["step"]
    assert stop < 100_000 and stop % log_steps == 0  # agreed at a log step
    assert [e["step"] for e in run.of_type("checkpoint")] == [stop]
    assert not run.of_type("eval")  # no eval on the way out
    folder = tmp_path / "runs" / "out" / f"checkpoint-{stop}"
    names = {p.name for p in folder.iterdir()}
    assert {"rng_state_0.pth", "rng_state_1.pth", "syllo_checkpoint.json"} <= names
    assert json.loads((folder / "trainer_state.json").read_text())["global_step"] == stop
    assert "received SIGTERM (on 1 of 2 processes)" in run.train_log


# --- run 5: accelerate launch ------------------------------------------------------------------------


def test_accelerate_launch_smoke(
    tmp_path: Path, make_config: Callable[..., Path], read_events: Any
) -> None:
    cfg = make_config(
        tmp_path,
        train={"device": "cpu", "max_steps": 2, "save_steps": 100},
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 1},
    )
    # --multi_gpu is accelerate's multi-process launcher (torchrun underneath);
    # train.device = "cpu" keeps both workers on gloo, with or without GPUs.
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes=2",
        "--num_machines=1",
        "--mixed_precision=no",
        "--dynamo_backend=no",
        f"--main_process_port={_free_port()}",
        "-m",
        "syllo_train",
        "run",
        str(cfg),
        "--quiet",
    ]
    code = run_to_end(cmd, tmp_path)
    assert code == 0, _tail(tmp_path)
    run = read_run(tmp_path, code, read_events)
    check_valid(run.events)
    check_one_writer(run.events)
    assert [(e["type"], e["step"]) for e in run.events] == [
        ("run_start", 0),
        ("log", 1),
        ("log", 2),
        ("eval", 2),
        ("checkpoint", 2),
        ("run_end", 2),
    ]
    assert run.events[0]["distributed"]["launcher"] == "accelerate"
    assert run.events[0]["distributed"]["world_size"] == 2


# --- run 6: eval with sharded weights (FSDP2 on gloo), outside the Trainer ----------------------------

# The Trainer drops FSDP on a CPU (accelerate treats it as plain multi-CPU), so
# this drives the eval tier (EvalTier.run) directly on a model sharded with fully_shard.
FSDP_SCRIPT = r"""
import json, sys
from pathlib import Path

import torch.distributed as dist
from torch.distributed.fsdp import fully_shard

from syllo_train.config import load_config
from syllo_train.distributed import is_sharded
from syllo_train.prepare import load_model, load_tokenizer, prepare_data
from syllo_train.sinks.reporter import Reporter
from syllo_train.tiers.eval_prompts import from_encoded
from syllo_train.tiers.eval_tier import EvalTier
from syllo_train.tiers.timing import TrainClock
from syllo_train.tiers.validation import ValidationLoss

dist.init_process_group("gloo")
rank = dist.get_rank()
cfg_path, out_path = sys.argv[1], Path(sys.argv[2])
cfg = load_config(cfg_path)
tok = load_tokenizer(cfg)
data = prepare_data(cfg, tok)
model = load_model(cfg, use_cuda=False)
reporter = Reporter(cfg.output.dir, enabled=rank == 0)
world = dist.get_world_size()
validation = ValidationLoss(data.val, data.val_loss_ids, pad_token_id=tok.pad_token_id,
                            batch_size=cfg.monitor.eval_batch_size, rank=rank, world_size=world)
mon = EvalTier(reporter, cfg.monitor, tokenizer=tok, prompts=from_encoded(data.val, data.eval_prompt_ids),
               validation=validation, clock=TrainClock(), max_steps=3, rank=rank, world_size=world)
out = {"plain_val_loss": validation(model), "sharded_before": is_sharded(model)}
for layer in model.model.layers:
    fully_shard(layer)
fully_shard(model)
out["sharded_after"] = is_sharded(model)
# Eval 1: rank 1 stops after one token, rank 0 goes on: rank 1 must keep
# joining rank 0's forward passes until both are done, batch after batch.
mon.monitor = load_config(cfg_path, [f"monitor.max_new_tokens={12 if rank == 0 else 1}"]).monitor
mon.run(model, 1, 0.0)
# Eval 2: only rank 1 has a round budget, already spent: the ranks agree, and
# rank 0 skips too instead of generating alone.
mon.monitor = load_config(cfg_path, [f"monitor.eval_timeout_s={0 if rank == 0 else 1e-9}"]).monitor
mon.run(model, 2, 0.0)
if rank == 0:
    out_path.write_text(json.dumps(out))
reporter.close()
dist.destroy_process_group()
"""


def test_sharded_eval_keeps_ranks_in_step(
    tmp_path: Path, make_config: Callable[..., Path], read_events: Any
) -> None:
    cfg = make_config(
        tmp_path,
        train={"device": "cpu"},
        # 5 validation examples on 2 ranks, one a batch: 3 forward passes on one, 2 on the other.
        data={"val_max_examples": 5},
        # 3 prompts in batches of 2: a full batch and a batch of one, both in lockstep.
        monitor={
            "eval_samples": 3,
            "generation_batch_size": 2,
            "eval_batch_size": 1,
            "max_new_tokens": 12,
            "generation_timeout_s": 30,
        },
    )
    script = tmp_path / "fsdp_eval.py"
    script.write_text(FSDP_SCRIPT, encoding="utf-8")
    code = run_to_end(torchrun_cmd(script, cfg, tmp_path / "out.json"), tmp_path)
    assert code == 0, _tail(tmp_path)
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["sharded_before"] is False and out["sharded_after"] is True
    events = read_events(tmp_path / "status" / "events.jsonl")
    check_valid(events)
    evals = [e for e in events if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [1, 2]
    for e in evals:
        # Unequal shares, one figure: the same as before sharding.
        assert e["val_loss"] == pytest.approx(out["plain_val_loss"], abs=1e-6)
    # Rank 0 generated its full answers while rank 1 had stopped after one token.
    first = evals[0]["samples"]
    assert all(not s["timed_out"] and s["output"] is not None for s in first)
    assert any(s["output_tokens"] > 1 for s in first)
    # Rank 1's spent budget was agreed: rank 0 skipped both samples as well.
    second = [e for e in events if e["type"] == "timeout" and e["step"] == 2]
    assert [(e["sample"], e["skipped"]) for e in second] == [(0, True), (1, True), (2, True)]
