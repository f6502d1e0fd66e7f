"""data/forms.py: each record form's own rules, the column and role mapping, the auto rule."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from syllo_train.config.schema import RecordForm
from syllo_train.data.forms import FORMS, Conversation, FormReader


def _turns(conv: Conversation | str) -> list[tuple[str, str]]:
    assert isinstance(conv, Conversation), conv
    return [(t["role"], t["content"]) for t in conv.turns]


def test_the_config_offers_every_form() -> None:
    assert get_args(RecordForm) == ("auto", *FORMS)


def test_alpaca_joins_instruction_and_input_with_a_newline_and_keeps_history() -> None:
    reader = FormReader(system_prompt="SYS")
    rec = {
        "instruction": "Translate.",
        "input": "chat",
        "output": "cat",
        "history": [["hi", "hello"]],
    }
    assert _turns(reader.read(rec)) == [
        ("system", "SYS"),  # data.system_prompt, as for prompt/completion records
        ("user", "hi"),
        ("assistant", "hello"),
        ("user", "Translate.\nchat"),
        ("assistant", "cat"),
    ]
    own = reader.read({"instruction": "Say hi.", "output": "hi", "system": "be kind"})
    assert _turns(own) == [("system", "be kind"), ("user", "Say hi."), ("assistant", "hi")]
    assert reader.read({"instruction": "x", "output": 3}) == (
        "an Alpaca record needs 'output' (the answer) as a string"
    )
    assert reader.read({"instruction": "x", "output": "y", "history": [["a"]]}) == (
        "history[0] must be a pair of strings [instruction, answer]"
    )


def test_sharegpt_roles_system_field_and_chat_style_keys() -> None:
    reader = FormReader()
    rec = {"conversations": [{"from": "user", "value": "q"}, {"from": "assistant", "value": "a"}]}
    assert _turns(reader.read(rec)) == [("user", "q"), ("assistant", "a")]
    with_system = {
        "system": "S",
        "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
    }
    assert _turns(reader.read(with_system))[0] == ("system", "S")
    both = {
        **with_system,
        "conversations": [{"from": "system", "value": "T"}, *rec["conversations"]],
    }
    assert reader.read(both) == (
        "the record has both a 'system' field and a system turn in 'conversations': keep one"
    )
    chat_keys = {
        "conversations": [{"role": "user", "content": "q"}, {"role": "gpt", "content": "a"}]
    }
    assert _turns(reader.read(chat_keys)) == [("user", "q"), ("assistant", "a")]


def test_columns_rename_keys_and_errors_use_the_files_names() -> None:
    reader = FormReader(columns={"instruction": "question", "output": "answer"})
    assert _turns(reader.read({"question": "2+2?", "answer": "4"})) == [
        ("user", "2+2?"),
        ("assistant", "4"),
    ]
    assert reader.read({"question": "2+2?"}) == (
        "an Alpaca record needs 'answer' (the answer) as a string"
    )
    sg = FormReader(columns={"conversations": "dialog", "from": "speaker", "value": "text"})
    rec = {"dialog": [{"speaker": "human", "text": "q"}, {"speaker": "gpt", "text": 1}]}
    assert sg.read(rec) == "dialog[1] (gpt) has no string 'text'"


def test_roles_add_names_to_every_message_form() -> None:
    reader = FormReader(roles={"bot": "assistant", "person": "user"})
    chat = {"messages": [{"role": "person", "content": "q"}, {"role": "bot", "content": "a"}]}
    assert _turns(reader.read(chat)) == [("user", "q"), ("assistant", "a")]
    sg = {"conversations": [{"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]}
    assert _turns(reader.read(sg)) == [("user", "q"), ("assistant", "a")]
    assert "unknown role 'person'" in str(FormReader().read(chat))


def test_trl_prompt_completion_keeps_every_prompt_turn() -> None:
    rec = {
        "prompt": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "2+2?"},
        ],
        "completion": [{"role": "assistant", "content": "4"}],
    }
    conv = FormReader().read(rec)
    assert _turns(conv)[-2:] == [("user", "2+2?"), ("assistant", "4")]
    assert isinstance(conv, Conversation) and conv.form == "chat_prompt_completion"
    assert conv.prompt == "2+2?"
    mixed = {"prompt": rec["prompt"], "completion": "4"}
    assert "must both be lists of messages" in str(FormReader().read(mixed))


@pytest.mark.parametrize(
    ("record", "form"),
    [
        ({"messages": []}, "chat"),
        ({"conversations": []}, "sharegpt"),
        ({"prompt": "a", "completion": "b"}, "prompt_completion"),
        ({"prompt": [], "completion": []}, "chat_prompt_completion"),
        ({"instruction": "a", "output": "b"}, "alpaca"),
        ({"output": "b"}, "alpaca"),
        ({"text": "a"}, None),
    ],
)
def test_auto_recognises_a_record_by_its_keys(record: dict[str, Any], form: str | None) -> None:
    assert FormReader().detect(record) == form


def test_a_forced_form_reads_every_record_as_that_form() -> None:
    reader = FormReader("alpaca")
    assert reader.read({"prompt": "a", "completion": "b"}) == (
        "an Alpaca record needs 'instruction' as a string"
    )
    unknown = FormReader().read({"text": "a", "label": 1})
    assert unknown == (
        "a record needs 'messages' (chat), 'prompt' and 'completion', 'conversations' (ShareGPT) "
        "or 'instruction' and 'output' (Alpaca); its keys are 'text', 'label' "
        "(map other names with data.columns)"
    )


def test_metadata_travels_with_every_form() -> None:
    rec = {"instruction": "a", "output": "b", "metadata": {"id": 7}}
    conv = FormReader().read(rec)
    assert isinstance(conv, Conversation) and conv.metadata == {"id": 7}


def test_every_example_record_in_the_docs_is_read_as_its_form() -> None:
    """docs/data.md's literal records, in the order the forms are documented."""
    import json
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text(encoding="utf-8")
    section = doc.split("### Record forms", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```json\n(.*?)```", section, flags=re.S)
    forms = []
    for block in blocks:
        conv = FormReader().read(json.loads(block))
        assert isinstance(conv, Conversation), (block, conv)
        assert conv.turns[-1]["role"] == "assistant"
        forms.append(conv.form)
    assert forms == list(FORMS)
