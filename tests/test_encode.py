"""data/encode.py: one rendering, one tokenization, labels by position — on tokenizers built here.

tests/_families.py builds tokenizers that behave like the families people
fine-tune (a template that writes BOS beside a post-processor that adds it, a
SentencePiece ``▁`` tokenizer, templates that refuse a system turn or
non-alternating roles, a non-prefix template that opens a think block, one
that inserts an empty think block, one with ``{% generation %}`` markers).
Their vocabularies are word lists, so the ids below are written out
literally: a token's id is its position in the family's vocabulary. Each
family is also checked against transformers itself
(``apply_chat_template(..., tokenize=True)``) and against labels worked out
independently from the rendered text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import _families as F
import pytest

from syllo_train.data import IGNORE_INDEX, DataError
from syllo_train.data.encode import Encoder, RecordRefused, encode_examples
from syllo_train.data.records import Example

Q = "what is 3+3?"


def user(c: str) -> dict[str, str]:
    return {"role": "user", "content": c}


def assistant(c: str) -> dict[str, str]:
    return {"role": "assistant", "content": c}


def system(c: str) -> dict[str, str]:
    return {"role": "system", "content": c}


def example(turns: list[dict[str, str]], golden: str, source: str = "d.jsonl:1") -> Example:
    last_user = next(m["content"] for m in reversed(turns) if m["role"] == "user")
    return Example(0, last_user, golden, turns, source)


def labelled(enc: Any) -> list[int]:
    """Positions that carry a label."""
    return [i for i, x in enumerate(enc.labels) if x != IGNORE_INDEX]


def runs(tok: Any, enc: Any) -> list[str]:
    """The text of each run of labelled tokens."""
    out: list[str] = []
    prev = -2
    for i in labelled(enc):
        piece = tok.decode([enc.input_ids[i]])
        if i == prev + 1:
            out[-1] += piece
        else:
            out.append(piece)
        prev = i
    return out


def check_against_transformers(tok: Any, encoder: Encoder, ex: Example, enc: Any) -> None:
    """Independent checks: transformers' own tokenization, and the labels from the text."""
    conv = encoder.conversation(ex)
    prompt = tok.apply_chat_template(conv[:-1], add_generation_prompt=True, tokenize=True)
    assert enc.prompt_ids == prompt["input_ids"]
    if not enc.non_prefix:
        full = tok.apply_chat_template(conv, tokenize=True)
        assert enc.input_ids == full["input_ids"]
    assert enc.input_ids[:2] != [tok.bos_token_id] * 2 or tok.bos_token_id is None
    # Every label is the token's own id.
    assert all(enc.labels[i] == enc.input_ids[i] for i in labelled(enc))


# --- the documented templates -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_tok(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def chat_tok(tiny_chat_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_chat_model_dir)


def test_plain_template_is_the_documented_text(plain_tok: Any) -> None:
    encoder = Encoder(plain_tok, template="auto")
    assert encoder.name == "plain" and encoder.facts.source == "plain"
    ex = example([system("S"), user("Q")], "A")
    prompt = encoder.render(ex.messages, add_generation_prompt=True)
    assert prompt == "S\n\n### User:\nQ\n\n### Assistant:\n"
    assert (
        encoder.render([user("Q")], add_generation_prompt=True)
        == "### User:\nQ\n\n### Assistant:\n"
    )
    enc = encoder.encode(ex)
    # One tokenization of the whole text; the answer and EOS are what is trained.
    whole = plain_tok(prompt + "A" + plain_tok.eos_token, add_special_tokens=False)["input_ids"]
    assert enc.input_ids == whole
    assert runs(plain_tok, enc) == ["A" + plain_tok.eos_token]
    assert enc.prompt_ids == plain_tok(prompt, add_special_tokens=False)["input_ids"]


def test_chat_template_renders_prompt_and_answer(chat_tok: Any) -> None:
    encoder = Encoder(chat_tok, template="auto")
    assert encoder.name == "chat" and encoder.facts.source == "tokenizer"
    ex = example([system("S"), user("Q")], "A")
    prompt = encoder.render(ex.messages, add_generation_prompt=True)
    assert (
        prompt
        == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
    )
    enc = encoder.encode(ex)
    # The answer and its end-of-turn token train; the newline the template writes after it does not.
    assert runs(chat_tok, enc) == ["A<|im_end|>"]
    assert chat_tok.decode(enc.input_ids[-1:]) == "\n"
    check_against_transformers(chat_tok, encoder, ex, enc)
    # "plain" wins over a chat template.
    assert Encoder(chat_tok, template="plain").name == "plain"


def test_chat_template_required_but_missing(plain_tok: Any) -> None:
    with pytest.raises(DataError, match=r'data\.template = "chat"'):
        Encoder(plain_tok, template="chat")


def test_too_long_is_refused_skipped_or_cut_from_the_left(plain_tok: Any) -> None:
    short = example([user("Q")], "A", "d.jsonl:1")
    long = example([user("Q " * 300)], "A", "d.jsonl:2")
    refuse = Encoder(plain_tok, template="plain", max_length=64)
    with pytest.raises(
        DataError,
        match=r"d\.jsonl:2: \d+ tokens, longer than data\.max_length = 64.*data\.too_long",
    ):
        encode_examples([short, long], refuse)
    kept, skipped = encode_examples(
        [long, short], Encoder(plain_tok, template="plain", max_length=64, too_long="skip")
    )
    assert [e.prompt for e in kept.examples] == ["Q"] and kept.examples[0].index == 0
    assert skipped == [("d.jsonl:2", skipped[0][1])] and "longer than" in skipped[0][1]

    cutter = Encoder(plain_tok, template="plain", max_length=64, too_long="truncate")
    full = Encoder(plain_tok, template="plain", max_length=10_000).encode(long)
    cut = cutter.encode(long)
    assert len(cut.input_ids) == 64 and cut.cut == len(full.input_ids) - 64
    # Cut from the left: the end, with the whole answer, is untouched.
    assert cut.input_ids == full.input_ids[-64:] and cut.labels == full.labels[-64:]
    assert runs(plain_tok, cut) == runs(plain_tok, full)
    assert cut.prompt_ids == full.prompt_ids[cut.cut :]
    # An answer that alone does not fit is never cut.
    huge_answer = example([user("Q")], "A " * 300)
    with pytest.raises(RecordRefused, match="never cuts the answer"):
        cutter.encode(huge_answer)


# --- the families people fine-tune ---------------------------------------------------------------------


def test_bos_the_template_writes_is_not_added_again() -> None:
    tok = F.bos_twice()
    # The fixture reproduces the trap: tokenizing the rendered text with the
    # tokenizer's own special tokens doubles BOS (2 = <|bot|>).
    rendered = tok.apply_chat_template([user(Q)], tokenize=False, add_generation_prompt=True)
    assert tok(rendered)["input_ids"][:3] == [2, 2, 3]
    encoder = Encoder(tok)
    assert encoder.facts.bos == "template"
    ex = example([user(Q)], "6")
    enc = encoder.encode(ex)
    # <|bot|> <|hdr|> user <|/hdr|> \n\n what ␠ is ␠ 3+3? <|eot|> <|hdr|> assistant <|/hdr|> \n\n 6 <|eot|>
    assert enc.input_ids == [2, 3, 6, 4, 26, 10, 24, 11, 24, 12, 5, 3, 7, 4, 26, 13, 5]
    assert labelled(enc) == [15, 16]  # "6" and <|eot|>
    assert enc.prompt_ids == [2, 3, 6, 4, 26, 10, 24, 11, 24, 12, 5, 3, 7, 4, 26]
    assert (enc.answer_start, enc.answer_tokens) == (15, 2)
    check_against_transformers(tok, encoder, ex, enc)


def test_a_metaspace_answer_is_tokenized_where_the_template_puts_it() -> None:
    tok = F.metaspace()
    # The fixture reproduces the trap: the answer tokenized on its own gets a word-start ▁.
    assert tok.convert_ids_to_tokens(tok("6</s>", add_special_tokens=False)["input_ids"]) == [
        "▁6",
        "</s>",
    ]
    encoder = Encoder(tok)
    ex = example([user(Q)], "6")
    enc = encoder.encode(ex)
    # <s> [INST] ▁what ▁is ▁3+3? ▁ [/INST] 6 </s>: "6" (10), never "▁6" (11)
    assert enc.input_ids == [1, 3, 6, 7, 8, 9, 4, 10, 2]
    assert labelled(enc) == [7, 8]
    assert enc.prompt_ids == [1, 3, 6, 7, 8, 9, 4]
    assert encoder.facts.bos == "template"
    check_against_transformers(tok, encoder, ex, enc)


def test_template_refusals_are_data_errors_with_the_remedy() -> None:
    no_system = Encoder(F.no_system())
    with_system = example([system("be brief."), user(Q)], "6", "d.jsonl:7")
    with pytest.raises(RecordRefused) as refused:
        no_system.encode(with_system)
    assert "System role not supported" in str(refused.value)
    assert 'data.system_turn = "merge"' in str(refused.value)
    with pytest.raises(DataError) as err:
        encode_examples([with_system], no_system)
    assert str(err.value).startswith("d.jsonl:7: the chat template refused this conversation")
    assert 'data.on_bad_record = "skip"' in str(err.value)
    fine = example([user(Q)], "6", "d.jsonl:8")
    kept, skipped = encode_examples([with_system, fine], no_system, on_bad="skip")
    assert [e.source for e in kept.examples] == ["d.jsonl:8"]
    assert [src for src, _ in skipped] == ["d.jsonl:7"] and "System role" in skipped[0][1]

    mistral = Encoder(F.metaspace())
    twice = example([user("hi"), user(Q)], "6", "d.jsonl:3")
    with pytest.raises(DataError, match=r"d\.jsonl:3: .*Conversation roles must alternate"):
        encode_examples([twice], mistral)


def test_system_turn_merge_and_drop() -> None:
    tok = F.no_system()
    ex = example([system("be brief."), user(Q)], "6")
    merged = Encoder(tok, system_turn="merge")
    enc = merged.encode(ex)
    assert merged.conversation(ex)[0] == user("be brief.\n\n" + Q)
    # <bos> <turn> user \n be ␠ brief. \n\n what ␠ is ␠ 3+3? </turn> \n <turn> model \n 6 </turn> \n
    assert enc.input_ids == [
        2,
        4,
        6,
        25,
        14,
        24,
        15,
        26,
        10,
        24,
        11,
        24,
        12,
        5,
        25,
        4,
        9,
        25,
        13,
        5,
        25,
    ]
    assert labelled(enc) == [18, 19]
    check_against_transformers(tok, merged, ex, enc)
    dropped = Encoder(tok, system_turn="drop")
    assert dropped.conversation(ex) == [user(Q), assistant("6")]
    assert runs(tok, dropped.encode(ex)) == ["6</turn>"]


def test_non_prefix_template_trains_what_continues_its_generation_prompt() -> None:
    tok = F.think_opener()
    encoder = Encoder(tok)
    ex = example([user(Q)], "6")
    # The template's own renders: the generation prompt opens a think block that the
    # rendered assistant turn does not have, so it is no prefix of the full render.
    prompt_text = tok.apply_chat_template([user(Q)], tokenize=False, add_generation_prompt=True)
    full_text = tok.apply_chat_template([user(Q), assistant("6")], tokenize=False)
    assert prompt_text.endswith("<|A|><think>\n") and not full_text.startswith(prompt_text)
    enc = encoder.encode(ex)
    assert enc.non_prefix and enc.opens_think and enc.empty_think
    # The eval prompt is exactly the generation prompt ...
    assert enc.prompt_ids == [2, 4, 12, 26, 13, 26, 14, 5, 6, 27]
    # ... and training continues it: the block closed empty, then the answer and <|end|>.
    assert enc.input_ids == [*enc.prompt_ids, 27, 7, 28, 15, 3]
    assert labelled(enc) == [10, 11, 12, 13, 14]
    assert tok.decode(enc.input_ids[10:]) == "\n</think>\n\n6<|end|>"
    check_against_transformers(tok, encoder, ex, enc)
    # A golden with its own reasoning continues the opened block with it.
    reasons = encoder.encode(example([user(Q)], "<think>\nhmm, easy.\n</think>\n\n6"))
    assert reasons.input_ids[: len(enc.prompt_ids)] == enc.prompt_ids and not reasons.empty_think
    assert (
        tok.decode(reasons.input_ids[len(enc.prompt_ids) :]) == "hmm, easy.\n</think>\n\n6<|end|>"
    )
    kept, _ = encode_examples([ex], encoder)
    facts = encoder.facts.as_dict()
    assert facts["prefix"] is False and facts["non_prefix_records"] == 1
    assert "closed empty" in facts["non_prefix_rule"]
    assert kept.items[0].input_ids == enc.input_ids


def test_an_empty_think_block_the_template_inserts_is_trained() -> None:
    tok = F.empty_think()
    assert not any(t.special for t in tok.added_tokens_decoder.values() if t.content == "<think>")
    encoder = Encoder(tok)
    ex = example([user(Q)], "6")
    enc = encoder.encode(ex)
    # <|im_start|> user \n what ␠ is ␠ 3+3? <|im_end|> \n <|im_start|> assistant \n
    #   <think> \n\n </think> \n\n 6 <|im_end|> \n
    assert enc.input_ids == [3, 7, 26, 11, 25, 12, 25, 13, 4, 26, 3, 8, 26, 5, 27, 6, 27, 14, 4, 26]
    assert labelled(enc) == [13, 14, 15, 16, 17, 18]
    assert runs(tok, enc) == ["<think>\n\n</think>\n\n6<|im_end|>"]
    assert enc.empty_think and not enc.non_prefix and not enc.opens_think
    check_against_transformers(tok, encoder, ex, enc)


def test_every_assistant_turn_trains_by_default_and_last_on_request() -> None:
    tok = F.empty_think()
    turns = [user("hi"), assistant("hello"), user(Q)]
    ex = example(turns, "6")
    every = Encoder(tok).encode(ex)
    # The earlier turn is rendered without a think block (its history form), the final one with.
    assert runs(tok, every) == ["hello<|im_end|>", "<think>\n\n</think>\n\n6<|im_end|>"]
    assert labelled(every) == [9, 10, 25, 26, 27, 28, 29, 30]
    check_against_transformers(tok, Encoder(tok), ex, every)
    last = Encoder(tok, train_on="last").encode(ex)
    assert last.input_ids == every.input_ids
    assert labelled(last) == [25, 26, 27, 28, 29, 30]
    # The log tier's counts are the final exchange's.
    assert (
        (every.answer_start, every.answer_tokens)
        == (last.answer_start, last.answer_tokens)
        == (25, 6)
    )

    llama = F.bos_twice()
    both = Encoder(llama).encode(ex)
    assert runs(llama, both) == ["hello<|eot|>", "6<|eot|>"]
    check_against_transformers(llama, Encoder(llama), ex, both)


def test_generation_markers_give_the_labels() -> None:
    tok = F.markers()
    encoder = Encoder(tok)
    assert encoder.markers and encoder.facts.generation_markers
    ex = example([user("hi"), assistant("hello"), user(Q)], "6")
    enc = encoder.encode(ex)
    out = tok.apply_chat_template(
        encoder.conversation(ex), tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert (
        labelled(enc) == [i for i, m in enumerate(out["assistant_masks"]) if m] == [9, 10, 25, 26]
    )
    assert runs(tok, enc) == ["hello<|im_end|>", "6<|im_end|>"]
    check_against_transformers(tok, encoder, ex, enc)
    assert labelled(Encoder(tok, train_on="last").encode(ex)) == [25, 26]


# --- the template from the config -------------------------------------------------------------------------


def test_chat_template_from_the_config_inline_or_a_file(tmp_path: Path, plain_tok: Any) -> None:
    template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% if brief %}Short: {% endif %}{% endif %}"
    )
    inline = Encoder(plain_tok, chat_template=template, chat_template_kwargs={"brief": True})
    assert inline.name == "chat" and inline.facts.source == "config"
    assert inline.render([user("Q")], add_generation_prompt=True) == "<user>Q<assistant>Short: "
    path = tmp_path / "t.jinja"
    path.write_text(template, encoding="utf-8")
    from_file = Encoder(plain_tok, chat_template=str(path))
    assert from_file.render([user("Q")], add_generation_prompt=True) == "<user>Q<assistant>"
    with pytest.raises(DataError, match=r"data\.chat_template = .*no such file"):
        Encoder(plain_tok, chat_template=str(tmp_path / "missing.jinja"))
    with pytest.raises(DataError, match=r"data\.chat_template: invalid Jinja at line 2"):
        Encoder(plain_tok, chat_template="{% for m in messages %}\n{% if %}{% endfor %}")
