"""Tokenizers that behave like the model families people fine-tune, built here with no download.

Each imitates a published behaviour that syllo must get right (written for
these tests from the documented behaviour, not copied from any model):

* ``bos_twice``: the template writes ``{{ bos_token }}`` *and* the tokenizer's
  post-processor adds BOS (Llama 3, Gemma, Mistral, DeepSeek);
* ``metaspace``: a SentencePiece-style ``▁`` word-start tokenizer whose
  template glues the answer to ``[/INST]`` (Mistral, Llama 2, Phi): ``6`` in
  the full text, ``▁6`` if the answer were tokenized alone; the template
  refuses roles that do not alternate (Mistral's "Conversation roles must
  alternate …");
* ``no_system``: a template that raises on a system turn (Gemma's "System role
  not supported");
* ``think_opener``: a non-prefix template: its generation prompt opens a think
  block (``…<|A|><think>\\n``) while a rendered assistant turn has none, its
  reasoning stripped (the DeepSeek-R1 distills);
* ``empty_think``: a ChatML template that writes an empty ``<think>\\n\\n</think>\\n\\n``
  before the final assistant turn's answer and strips earlier turns'
  reasoning; ``<think>`` and ``</think>`` are added to the vocabulary but are
  not special tokens (Qwen3);
* ``markers``: a ChatML template with ``{% generation %}`` markers around what
  the assistant writes (the form TRL's ``assistant_only_loss`` relies on).

The vocabularies are small word lists (a token's id is its position), so a
test can write the ids it expects literally. Text pieces are whitespace runs
and the words between them; ``[decode(ids)]`` gives the text back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

WORDS = [
    "user",
    "assistant",
    "system",
    "model",
    "what",
    "is",
    "3+3?",
    "6",
    "be",
    "brief.",
    "hi",
    "hello",
    "and",
    "2+2?",
    "4",
    "hmm,",
    "easy.",
    "ok",
]
SPACES = [" ", "\n", "\n\n"]

CHATML_SPECIALS = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]

BOS_TWICE_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|hdr|>{{ m['role'] }}<|/hdr|>\n\n"
    "{{ m['content'] }}<|eot|>{% endfor %}"
    "{% if add_generation_prompt %}<|hdr|>assistant<|/hdr|>\n\n{% endif %}"
)

METASPACE_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
    "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)

NO_SYSTEM_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "<turn>{{ role }}\n{{ m['content'] }}</turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<turn>model\n{% endif %}"
)

THINK_OPENER_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}<|U|>{{ m['content'] }}"
    "{% else %}{% set c = m['content'] %}{% if '</think>' in c %}"
    "{% set c = c.split('</think>')[-1] %}{% endif %}<|A|>{{ c }}<|end|>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|A|><think>\n{% endif %}"
)

EMPTY_THINK_TEMPLATE = (
    "{% set ns = namespace(last_user=-1) %}{% for m in messages %}"
    "{% if m['role'] == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}{% endfor %}"
    "{% for m in messages %}{% if m['role'] != 'assistant' %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% else %}{% set c = m['content'] %}{% if '</think>' in c %}"
    "{% set c = c.split('</think>')[-1].lstrip('\n') %}{% endif %}"
    "<|im_start|>assistant\n{% if loop.index0 > ns.last_user %}<think>\n\n</think>\n\n{% endif %}"
    "{{ c }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

MARKERS_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}<|im_start|>assistant\n"
    "{% generation %}{{ m['content'] }}<|im_end|>{% endgeneration %}{{ '\\n' }}"
    "{% else %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _word_level(
    specials: list[str], words: list[str], *, metaspace: bool = False, added: list[str] = ()
) -> Any:
    """A WordLevel tokenizer: id = position in ``specials + added + words``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab_list = [*specials, *added, *words]
    tok = Tokenizer(
        models.WordLevel({w: i for i, w in enumerate(vocab_list)}, unk_token=specials[0])
    )
    if metaspace:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    else:
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\s+|\S+"), behavior="isolated")
        tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if added:
        tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in added])
    return tok


def _with_bos_post_processor(tok: Any, bos: str, bos_id: int) -> None:
    from tokenizers import processors

    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
    )


def _fast(tok: Any, template: str, **special: str) -> Any:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, **special)
    fast.chat_template = template
    return fast


def bos_twice() -> Any:
    specials = ["<unk>", "<|pad|>", "<|bot|>", "<|hdr|>", "<|/hdr|>", "<|eot|>"]
    tok = _word_level(specials, [*WORDS, *SPACES])
    _with_bos_post_processor(tok, "<|bot|>", 2)
    return _fast(
        tok,
        BOS_TWICE_TEMPLATE,
        bos_token="<|bot|>",
        eos_token="<|eot|>",
        pad_token="<|pad|>",
        unk_token="<unk>",
    )


METASPACE_WORDS = ["▁what", "▁is", "▁3+3?", "▁", "6", "▁6", "▁hi", "hello", "▁hello", "4", "▁2+2?"]


def metaspace() -> Any:
    specials = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "<pad>"]
    tok = _word_level(specials, METASPACE_WORDS, metaspace=True)
    _with_bos_post_processor(tok, "<s>", 1)
    return _fast(
        tok,
        METASPACE_TEMPLATE,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def no_system() -> Any:
    specials = ["<unk>", "<pad>", "<bos>", "<eos>", "<turn>", "</turn>"]
    tok = _word_level(specials, [*WORDS, *SPACES])
    _with_bos_post_processor(tok, "<bos>", 2)
    return _fast(
        tok,
        NO_SYSTEM_TEMPLATE,
        bos_token="<bos>",
        eos_token="</turn>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def think_opener() -> Any:
    specials = ["<unk>", "<pad>", "<|bos|>", "<|end|>", "<|U|>", "<|A|>"]
    tok = _word_level(specials, [*WORDS, *SPACES], added=["<think>", "</think>"])
    _with_bos_post_processor(tok, "<|bos|>", 2)
    return _fast(
        tok,
        THINK_OPENER_TEMPLATE,
        bos_token="<|bos|>",
        eos_token="<|end|>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def empty_think() -> Any:
    specials = ["<unk>", *CHATML_SPECIALS]
    tok = _word_level(specials, [*WORDS, *SPACES], added=["<think>", "</think>"])
    return _fast(
        tok, EMPTY_THINK_TEMPLATE, eos_token="<|im_end|>", pad_token="<|pad|>", unk_token="<unk>"
    )


def markers() -> Any:
    specials = ["<unk>", *CHATML_SPECIALS]
    tok = _word_level(specials, [*WORDS, *SPACES])
    return _fast(
        tok, MARKERS_TEMPLATE, eos_token="<|im_end|>", pad_token="<|pad|>", unk_token="<unk>"
    )


FAMILIES = {
    "bos_twice": bos_twice,
    "metaspace": metaspace,
    "no_system": no_system,
    "think_opener": think_opener,
    "empty_think": empty_think,
    "markers": markers,
}


def save_family(name: str, out: Path, *, seed: int = 0) -> Path:
    """The family's tokenizer and a tiny Llama built on it, saved like a hub model."""
    from syllo_train.demo.tiny_model import build_model

    tok = FAMILIES[name]()
    model = build_model(tok, preset="tiny", seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    model.save_pretrained(out)
    return out
