"""data/records.py: JSONL records → examples, every bad record named file:line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syllo_train.data import DataError
from syllo_train.data.records import (
    Example,
    data_fingerprint,
    load_examples,
    seeded_subset,
    split_train_val,
)


def _write(path: Path, *records: Any) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


def _chat(*turns: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


# --- loading ------------------------------------------------------------------------------------


def test_chat_and_prompt_completion_records(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "d.jsonl",
        _chat(
            ("system", "S"),
            ("user", "Q1"),
            ("assistant", "A1"),
            ("user", "Q2"),
            ("assistant", "A2"),
            metadata={"k": 1},
        ),
        {"prompt": "P", "completion": "C"},
    )
    rep = load_examples(path, system_prompt="SYS")
    chat, pc = rep.examples
    assert (chat.index, chat.prompt, chat.golden, chat.metadata) == (0, "Q2", "A2", {"k": 1})
    # Every turn before the final answer is prompt; the record's own system turn is kept.
    assert [m["role"] for m in chat.messages] == ["system", "user", "assistant", "user"]
    assert chat.source == f"{path}:1"
    # data.system_prompt applies to prompt/completion records only.
    assert (pc.index, pc.prompt, pc.golden) == (1, "P", "C")
    assert pc.messages == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "P"}]
    assert rep.skipped == []


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "a"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:3: 'prompt' and 'completion'"):
        load_examples(path)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("{nope", "invalid JSON"),
        ("[]", "expected a JSON object"),
        ({"messages": []}, "non-empty list"),
        ({"messages": [{"content": "x"}]}, "has no 'role'"),
        ({"messages": [{"role": "user"}]}, "no string 'content'"),
        (_chat(("robot", "x"), ("assistant", "y")), "unknown role 'robot'"),
        (
            _chat(("user", "x"), ("assistant", "y"), ("user", "z")),
            "last message must be the assistant",
        ),
        (_chat(("system", "x"), ("assistant", "y")), "no 'user' message"),
        (_chat(("user", "x"), ("assistant", "")), "answer is empty"),
        (_chat(("user", " "), ("assistant", "y")), "prompt is empty"),
        ({"prompt": "x", "completion": 3}, "must both be strings"),
        ({"text": "x"}, "needs 'messages'"),
    ],
)
def test_bad_record_names_file_and_line(tmp_path: Path, record: Any, reason: str) -> None:
    path = _write(tmp_path / "d.jsonl", {"prompt": "ok", "completion": "ok"}, record)
    with pytest.raises(DataError) as err:
        load_examples(path)
    assert f"{path}:2: " in str(err.value) and reason in str(err.value)
    rep = load_examples(path, on_bad="skip")
    assert len(rep.examples) == 1 and len(rep.skipped) == 1
    assert rep.skipped[0][0] == f"{path}:2" and reason in rep.skipped[0][1]


def test_non_utf8_empty_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(
        b'{"prompt": "ok", "completion": "ok"}\n{"prompt": "caf\xe9", "completion": "x"}\n'
    )
    with pytest.raises(DataError, match=rf"{bad}:2: not valid UTF-8"):
        load_examples(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n\n")
    with pytest.raises(DataError, match="no usable records"):
        load_examples(empty)
    with pytest.raises(DataError, match="no such data file"):
        load_examples(tmp_path / "missing.jsonl")


def test_skipping_every_record_is_still_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", "{x", "{y")
    with pytest.raises(DataError, match="no usable records"):
        load_examples(path, on_bad="skip")


# --- split and subsets ------------------------------------------------------------------------------


def _examples(n: int) -> list[Example]:
    return [
        Example(i, f"p{i}", f"g{i}", [{"role": "user", "content": f"p{i}"}], f"f:{i + 1}")
        for i in range(n)
    ]


def test_split_is_seeded_disjoint_and_reindexed() -> None:
    train, val = split_train_val(_examples(40), 0.1, seed=7)
    again_train, again_val = split_train_val(_examples(40), 0.1, seed=7)
    assert [e.prompt for e in val] == [e.prompt for e in again_val]
    assert [e.prompt for e in train] == [e.prompt for e in again_train]
    assert len(val) == 4 and len(train) == 36
    assert {e.prompt for e in train}.isdisjoint({e.prompt for e in val})
    assert [e.index for e in train] == list(range(36)) and [e.index for e in val] == list(range(4))
    _, other_val = split_train_val(_examples(40), 0.1, seed=8)
    assert [e.prompt for e in other_val] != [e.prompt for e in val]


def test_split_keeps_at_least_one_on_each_side() -> None:
    train, val = split_train_val(_examples(2), 0.9, seed=0)
    assert len(train) == 1 and len(val) == 1
    with pytest.raises(DataError, match="fewer than 2"):
        split_train_val(_examples(1), 0.5, seed=0)


def test_seeded_subset() -> None:
    sub = seeded_subset(100, 5, seed=3)
    assert sub == sorted(set(sub)) and len(sub) == 5 and all(0 <= i < 100 for i in sub)
    assert seeded_subset(100, 5, seed=3) == sub
    assert seeded_subset(100, 5, seed=4) != sub
    assert seeded_subset(4, 10, seed=0) == [0, 1, 2, 3]
    assert seeded_subset(4, 0, seed=0) == [0, 1, 2, 3]  # 0 = all


def test_data_fingerprint_follows_content(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", {"prompt": "x", "completion": "y"})
    b = _write(tmp_path / "b.jsonl", {"prompt": "x", "completion": "y"})
    assert data_fingerprint([a]) == data_fingerprint([b])
    _write(b, {"prompt": "x", "completion": "z"})
    assert data_fingerprint([a]) != data_fingerprint([b])
    assert data_fingerprint([a, b]) != data_fingerprint([a])
