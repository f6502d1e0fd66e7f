"""SylloCallback's run life (failure, signal, resume) and its settings, and the Run API's checks.

The life-cycle tests run examples/integrations/trainer_callback.py as a real
subprocess (through tests/_integration_driver.py); the settings and Run API
tests call the library directly, as a script would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _support import SUBPROCESS_ENV, WAIT_S, decode_events

from syllo_train.events import validate_event

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "integrations" / "trainer_callback.py"
DRIVER = Path(__file__).resolve().parent / "_integration_driver.py"


def _command(cwd: Path, model: Path, data: Any, *extra: str) -> list[str]:
    return [
        sys.executable, str(DRIVER), str(cwd / "rows.json"), str(SCRIPT),
        "--model", str(model), "--train", str(data.train), "--val", str(data.val),
        "--status", str(cwd / "status"), "--out", str(cwd / "out"),
        "--log-every", "2", "--eval-every", "4", *extra,
    ]  # fmt: skip


def _events(cwd: Path) -> list[dict[str, Any]]:
    events = decode_events(cwd / "status" / "events.jsonl")
    assert [p for e in events for p in validate_event(e)] == []
    return events


@pytest.mark.slow
def test_an_exception_in_training_ends_the_run_failed_with_an_error(
    tmp_path: Path, tiny_model_dir: Path, puzzle_data: Any
) -> None:
    env = {**os.environ, **SUBPROCESS_ENV, "SYLLO_TEST_RAISE_AT": "3"}
    proc = subprocess.run(
        _command(tmp_path, tiny_model_dir, puzzle_data, "--max-steps", "8"),
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "deliberate failure at step 3" in proc.stderr  # the user's traceback still shows
    events = _events(tmp_path)
    error, end = events[-2], events[-1]
    assert error["type"] == "error" and error["error_type"] == "RuntimeError"
    assert "deliberate failure at step 3" in error["message"] and error["traceback"]
    assert end["type"] == "run_end" and end["status"] == "failed"
    assert end["reason"] == "RuntimeError: deliberate failure at step 3"
    snapshot = json.loads((tmp_path / "status" / "training_status.json").read_text())
    assert snapshot["status"] == "failed"


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_ends_the_run_stopped(
    tmp_path: Path, tiny_model_dir: Path, puzzle_data: Any
) -> None:
    proc = subprocess.Popen(
        _command(tmp_path, tiny_model_dir, puzzle_data, "--max-steps", "100000"),
        env={**os.environ, **SUBPROCESS_ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    events_file = tmp_path / "status" / "events.jsonl"
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if events_file.exists() and '"type":"log"' in events_file.read_text():
            break
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err[-3000:]
    events = _events(tmp_path)
    end = events[-1]
    assert (
        end["type"] == "run_end"
        and end["status"] == "stopped"
        and end["reason"] == "SIGTERM received"
    )
    saved = [e for e in events if e["type"] == "checkpoint"]
    assert saved and saved[-1]["step"] == end["step"]
    assert (Path(saved[-1]["path"]) / "syllo_checkpoint.json").is_file()


@pytest.mark.slow
def test_a_resumed_trainer_continues_the_stream_and_its_counters(
    tmp_path: Path, tiny_model_dir: Path, puzzle_data: Any
) -> None:
    env = {**os.environ, **SUBPROCESS_ENV}
    first = subprocess.run(
        _command(tmp_path, tiny_model_dir, puzzle_data, "--max-steps", "8"),
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    second = subprocess.run(
        _command(tmp_path, tiny_model_dir, puzzle_data, "--max-steps", "12", "--resume"),
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    events = _events(tmp_path)
    starts = [i for i, e in enumerate(events) if e["type"] == "run_start"]
    assert len(starts) == 2
    again = events[starts[1]]
    assert again["step"] == 8 and again["resumed_from"].endswith("checkpoint-8")
    assert events[starts[1] + 1]["type"] == "resume"
    before = events[starts[1] - 1]["counters"]  # the first run's run_end
    evals = [e for e in events[starts[1] :] if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [12]
    assert evals[0]["counters"]["evals"] == before["evals"] + 1  # totals continue
    assert events[-1]["status"] == "completed" and events[-1]["step"] == 12


def test_bad_settings_are_refused_by_name() -> None:
    from syllo_train import SylloCallback
    from syllo_train.config import ConfigError

    with pytest.raises(ConfigError, match=r"monitor\.eval_samples"):
        SylloCallback(eval_samples=-1)
    with pytest.raises(ConfigError, match=r"did you mean 'monitor\.eval_samples'"):
        SylloCallback(eval_sample=3)
    with pytest.raises(TypeError, match="logging_steps"):
        SylloCallback(log_steps=5)
    with pytest.raises(ValueError, match="together"):
        SylloCallback(eval_prompts=["2+2="])


def test_run_refuses_an_event_that_breaks_the_contract_and_writes_nothing_of_it(
    tmp_path: Path,
) -> None:
    from syllo_train import EventError, Run

    with Run(tmp_path, model="my-model", max_steps=10) as run:
        run.log(
            1,
            loss=2.5,
            lr=1e-3,
            example={"prompt": "Q", "golden": "A", "prompt_tokens": 3, "golden_tokens": 1},
        )
        size = (tmp_path / "events.jsonl").stat().st_size
        with pytest.raises(EventError, match=r"log\.example: field 'prompt_tokens' has type str"):
            run.log(
                2,
                loss=2.4,
                example={"prompt": "Q", "golden": "A", "prompt_tokens": "3", "golden_tokens": 1},
            )
        assert (tmp_path / "events.jsonl").stat().st_size == size
        with pytest.raises(EventError, match="prompt_tokens and golden_tokens, or a tokenizer"):
            run.log(3, loss=2.3, example={"prompt": "Q", "golden": "A"})
        run.eval(
            4,
            val_loss=2.0,
            samples=[
                {"prompt": "Q", "golden": "A", "output": "A"},
                {"prompt": "Q2", "golden": "B", "output": "C"},
            ],
        )
    events = decode_events(tmp_path / "events.jsonl")
    assert [e["type"] for e in events] == ["run_start", "log", "eval", "run_end"]
    assert [p for e in events for p in validate_event(e)] == []
    ev = events[2]
    assert [s["match"] for s in ev["samples"]] == [True, False] and ev["accuracy"] == 0.5
    assert ev["counters"]["generations"] == 2 and ev["counters"]["matches"] == 1
    assert ev["train_loss"] == 2.5 and ev["gap"] == pytest.approx(-0.5)
    assert events[-1]["status"] == "completed"


def test_run_ends_failed_on_an_exception_and_stopped_on_ctrl_c(tmp_path: Path) -> None:
    from syllo_train import Run

    with pytest.raises(ZeroDivisionError), Run(tmp_path / "a", model="m") as run:
        run.log(1, loss=1.0)
        _ = 1 / 0
    events = decode_events(tmp_path / "a" / "events.jsonl")
    assert [e["type"] for e in events] == ["run_start", "log", "error", "run_end"]
    assert (
        events[-1]["status"] == "failed"
        and events[-1]["reason"] == "ZeroDivisionError: division by zero"
    )
    with pytest.raises(KeyboardInterrupt), Run(tmp_path / "b", model="m"):
        raise KeyboardInterrupt
    end = decode_events(tmp_path / "b" / "events.jsonl")[-1]
    assert end["status"] == "stopped" and end["reason"] == "KeyboardInterrupt"


def test_run_health_asks_a_custom_loop_to_stop_after_non_finite_losses(tmp_path: Path) -> None:
    from syllo_train import Run

    with Run(tmp_path, model="m", stop_after_nonfinite=2) as run:
        run.log(1, loss=1.0)
        run.log(2, loss=float("nan"))
        assert not run.should_stop
        run.log(3, loss=float("inf"))
        assert run.should_stop
    events = decode_events(tmp_path / "events.jsonl")
    kinds = [e["kind"] for e in events if e["type"] == "anomaly"]
    assert kinds == ["nonfinite_loss", "nonfinite_loss"]
    assert [e["loss"] for e in events if e["type"] == "log"] == [1.0, None, None]


@pytest.mark.slow
def test_generations_past_their_limit_are_timeout_events_with_their_text_so_far(
    tmp_path: Path, tiny_model_dir: Path, puzzle_data: Any
) -> None:
    proc = subprocess.run(
        _command(tmp_path, tiny_model_dir, puzzle_data, "--max-steps", "4", "--generation-timeout", "0.05"),
        env={**os.environ, **SUBPROCESS_ENV}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _events(tmp_path)
    timeouts = [e for e in events if e["type"] == "timeout"]
    (ev,) = [e for e in events if e["type"] == "eval"]
    assert len(timeouts) == len(ev["samples"]) == 3  # the fresh tiny model never stops in time
    # A cut-off generation has no output (nor a match); its text so far is the timeout's partial.
    assert all(s["timed_out"] and s["output"] is None and s["match"] is None for s in ev["samples"])
    assert all(t["limit_s"] == 0.05 and isinstance(t["partial"], str) for t in timeouts)
    assert events[-1]["counters"]["timeouts"] == 3 and events[-1]["status"] == "completed"
