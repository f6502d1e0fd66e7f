"""Real runs of the CLI on the data people already have: ShareGPT Parquet, an Alpaca JSON array.

What is checked against transformers alone (tests/_reference.py), never
against syllo's own code: the conversation each record converts to is written
out here by hand, ``apply_chat_template(conversation, tokenize=True)`` gives
the ids it must train on, and the log tier's example loss (learning rate 0:
the saved weights) is that conversation's loss.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _reference import reference_ids, reference_loss
from _support import SUBPROCESS_ENV

from syllo_train.events import validate_event

pytestmark = pytest.mark.slow

EOT = "<|im_end|>"  # the tiny chat model's ChatML end of turn
QUESTIONS = [("what is 3+3?", "6"), ("name a red fruit", "apple"), ("2 times 4?", "8")]


def _sharegpt(i: int) -> dict[str, Any]:
    q, a = QUESTIONS[i % len(QUESTIONS)]
    return {
        "conversations": [
            {"from": "system", "value": "Answer in one word."},
            {"from": "human", "value": q},
            {"from": "gpt", "value": a},
        ]
    }


def _sharegpt_as_chat(rec: dict[str, Any]) -> list[dict[str, str]]:
    role = {"system": "system", "human": "user", "gpt": "assistant"}
    return [{"role": role[m["from"]], "content": m["value"]} for m in rec["conversations"]]


def _alpaca(i: int) -> dict[str, Any]:
    q, a = QUESTIONS[i % len(QUESTIONS)]
    return {"instruction": "Answer the question.", "input": q, "output": a}


def _alpaca_as_chat(rec: dict[str, Any]) -> list[dict[str, str]]:
    # LLaMA-Factory's conversion: instruction and input joined by a newline, one user turn.
    user = f"{rec['instruction']}\n{rec['input']}"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": rec["output"]}]


def _write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def _write_json_array(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    return path


def _events(cwd: Path) -> list[dict[str, Any]]:
    events = [json.loads(x) for x in (cwd / "status" / "events.jsonl").read_text().splitlines()]
    for e in events:
        assert validate_event(e) == [], e
    return events


def _config(
    make_config: Any, cwd: Path, model_dir: Path, train: Path, val: Path, **train_keys: Any
) -> Path:
    return make_config(
        cwd,
        model={"name_or_path": str(model_dir)},
        data={"train": str(train), "val": str(val), "max_length": 128},
        train={"batch_size": 1, "learning_rate": 0.0, "save_steps": 2, **train_keys},
        monitor={"log_steps": 1, "eval_steps": 0, "eval_samples": 1, "max_new_tokens": 2},
    )


def _check_run(
    cwd: Path, model_dir: Path, by_prompt: dict[str, list[dict[str, str]]], steps: int
) -> list[dict[str, Any]]:
    """Every log example shows its record's prompt and golden, and the conversation's own loss."""
    events = _events(cwd)
    logs = [e for e in events if e["type"] == "log"]
    assert len(logs) == steps
    for e in logs:
        ex = e["example"]
        conversation = by_prompt[ex["prompt"]]
        assert ex["golden"] == conversation[-1]["content"]
        loss, prompt_tokens, golden_tokens = reference_loss(model_dir, EOT, conversation)
        assert (ex["prompt_tokens"], ex["golden_tokens"]) == (prompt_tokens, golden_tokens)
        assert ex["loss"] == pytest.approx(loss, abs=1e-4), f"log@{e['step']}"
    return events


@pytest.fixture(scope="module")
def sharegpt_run(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_chat_model_dir: Path,
    make_config: Any,
    run_syllo: Any,
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    cwd = tmp_path_factory.mktemp("sharegpt-parquet")
    train = _write_parquet(cwd / "train.parquet", [_sharegpt(i) for i in range(6)])
    val = _write_parquet(cwd / "val.parquet", [_sharegpt(i) for i in range(3)])
    cfg = _config(make_config, cwd, tiny_chat_model_dir, train, val, max_steps=4)
    proc = run_syllo("run", cfg, "--quiet", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, cfg, proc


def test_a_sharegpt_parquet_file_trains_the_converted_conversations(
    sharegpt_run: tuple[Path, Path, Any], tiny_chat_model_dir: Path
) -> None:
    cwd, _, _ = sharegpt_run
    by_prompt = {
        _sharegpt(i)["conversations"][1]["value"]: _sharegpt_as_chat(_sharegpt(i)) for i in range(3)
    }
    events = _check_run(cwd, tiny_chat_model_dir, by_prompt, steps=4)
    start = events[0]
    assert start["data_sources"] == [
        {
            "key": "data.train",
            "source": str(cwd / "train.parquet"),
            "type": "parquet",
            "split": None,
            "revision": None,
            "forms": {"sharegpt": 6},
            "records": 6,
            "skipped": 0,
        },
        {
            "key": "data.val",
            "source": str(cwd / "val.parquet"),
            "type": "parquet",
            "split": None,
            "revision": None,
            "forms": {"sharegpt": 3},
            "records": 3,
            "skipped": 0,
        },
    ]
    first = _sharegpt_as_chat(_sharegpt(0))
    assert start["tokenization"]["first_example_tokens"] == len(
        reference_ids(tiny_chat_model_dir, first)
    )
    log = (cwd / "status" / "train.log").read_text(encoding="utf-8")
    assert (
        f"data.train: {cwd / 'train.parquet'} (parquet, sharegpt): 6 records ok, 0 skipped" in log
    )


def test_a_resumed_run_is_refused_when_the_parquet_file_changed(
    sharegpt_run: tuple[Path, Path, Any], run_syllo: Any
) -> None:
    cwd, cfg, _ = sharegpt_run
    assert (cwd / "runs" / "out" / "checkpoint-4").is_dir()
    events_before = (cwd / "status" / "events.jsonl").read_bytes()
    # Resuming the same data is fine (already at max_steps: completes at once)...
    again = run_syllo("run", cfg, "--quiet", "--set", "train.max_steps=4", cwd=cwd)
    assert again.returncode == 0, again.stderr[-2000:]
    events_before = (cwd / "status" / "events.jsonl").read_bytes()
    # ...one row fewer in the Parquet file is different data.
    _write_parquet(cwd / "train.parquet", [_sharegpt(i) for i in range(5)])
    proc = run_syllo("run", cfg, "--quiet", "--set", "train.max_steps=6", cwd=cwd)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "was trained on different data" in proc.stderr and "To start fresh" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (cwd / "status" / "events.jsonl").read_bytes() == events_before


def test_an_alpaca_json_array_trains_the_converted_conversations(
    tmp_path: Path, tiny_chat_model_dir: Path, make_config: Any, run_syllo: Any
) -> None:
    train = _write_json_array(tmp_path / "train.json", [_alpaca(i) for i in range(6)])
    val = _write_json_array(tmp_path / "val.json", [_alpaca(i) for i in range(3)])
    cfg = _config(make_config, tmp_path, tiny_chat_model_dir, train, val, max_steps=3)
    proc = run_syllo("run", cfg, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_prompt = {
        f"Answer the question.\n{q}": _alpaca_as_chat(_alpaca(i))
        for i, (q, _) in enumerate(QUESTIONS)
    }
    events = _check_run(tmp_path, tiny_chat_model_dir, by_prompt, steps=3)
    assert events[0]["data_sources"][0]["forms"] == {"alpaca": 6}
    assert events[0]["data_sources"][0]["type"] == "json"


def test_the_trained_ids_are_the_chat_template_render_of_every_converted_record(
    tmp_path: Path, tiny_chat_model_dir: Path, make_config: Any
) -> None:
    """The whole pipeline ``run`` uses (prepare_data), every example, id for id."""
    from syllo_train.config import load_config
    from syllo_train.prepare import load_tokenizer, prepare_data

    train = _write_parquet(tmp_path / "train.parquet", [_sharegpt(i) for i in range(3)])
    val = _write_json_array(tmp_path / "val.json", [_alpaca(i) for i in range(3)])
    cfg = load_config(_config(make_config, tmp_path, tiny_chat_model_dir, train, val, max_steps=1))
    data = prepare_data(cfg, load_tokenizer(cfg))
    for enc, i in zip(data.train.items, range(3), strict=True):
        assert enc.input_ids == reference_ids(tiny_chat_model_dir, _sharegpt_as_chat(_sharegpt(i)))
    for enc, i in zip(data.val.items, range(3), strict=True):
        assert enc.input_ids == reference_ids(tiny_chat_model_dir, _alpaca_as_chat(_alpaca(i)))


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "syllo_train", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **SUBPROCESS_ENV},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_bad_sources_exit_2_with_one_line_and_nothing_written(
    tmp_path: Path, make_config: Any
) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    offline = "someone/not-cached"
    sharegpt = _write_parquet(tmp_path / "sg.parquet", [_sharegpt(0), {"conversations": []}])
    cases = {
        str(bad): f"{bad}: cannot read it as Parquet (",
        offline: f"data.train = '{offline}': not a local file or folder, so read as a hub dataset id, "
        "but HF_HUB_OFFLINE is set",
        str(sharegpt): f"{sharegpt}:1: 'conversations' must be a non-empty list",
    }
    for train, expect in cases.items():
        cfg = make_config(tmp_path, data={"train": train, "val": ""})
        for command in ("validate", "run"):
            proc = _cli(command, cfg, cwd=tmp_path)
            assert proc.returncode == 2, (command, proc.stderr)
            assert "Traceback" not in proc.stderr
            (line,) = [x for x in proc.stderr.splitlines() if x.startswith("syllo-train: error:")]
            assert line.startswith(f"syllo-train: error: {expect}"), line
    assert not (tmp_path / "status" / "events.jsonl").exists()
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("checkpoint-*"))


def test_convert_writes_what_syllo_trains_on(tmp_path: Path) -> None:
    from syllo_train.data.records import load_examples

    src = _write_parquet(
        tmp_path / "sg.parquet", [_sharegpt(0), {"conversations": []}, _sharegpt(1)]
    )
    out = tmp_path / "chat.jsonl"
    refused = _cli("data", "convert", src, out, cwd=tmp_path)
    assert refused.returncode == 2 and not out.exists()
    assert f"{src}:1: 'conversations' must be a non-empty list" in refused.stderr
    assert "--on-bad-record skip" in refused.stderr and "Traceback" not in refused.stderr
    done = _cli("data", "convert", src, out, "--on-bad-record", "skip", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"wrote 2 chat records to {out}" in done.stdout
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"messages": _sharegpt_as_chat(_sharegpt(i))} for i in (0, 1)]
    # Reading the converted file gives the same examples as reading the source.
    a = load_examples(out).examples
    b = load_examples(src, on_bad="skip").examples
    assert [(e.messages, e.golden) for e in a] == [(e.messages, e.golden) for e in b]
    again = _cli("data", "convert", src, out, cwd=tmp_path)
    assert again.returncode == 2 and "use --force" in again.stderr
