"""Example → token ids and labels: rendered once, tokenized once, the answers labelled by position.

The rule (docs/data.md works one conversation through it):

1. **One rendering.** The whole conversation — every turn before the answer,
   then the answer as the final assistant turn — is rendered once, by the
   chat template (the tokenizer's, or ``data.chat_template``; the
   ``data.chat_template_kwargs`` go to every render) or by the plain
   template when there is none (``data.template``).
2. **One tokenization**, exactly as ``tokenizer.apply_chat_template(conversation,
   tokenize=True)`` does it: the tokenizer adds no special tokens of its own,
   because the template writes the BOS its model wants. So BOS can never be
   doubled, and the trained ids are the ids of the text the template renders
   (a SentencePiece ``▁`` lands where the full text puts it, not where a
   separately tokenized answer would). The plain template is plain text: the
   tokenizer's own BOS (if it adds one) goes first, never an EOS at the end.
3. **Labels by position.** An assistant turn is trained from where the
   generation prompt of the conversation before it ends (the render with
   ``add_generation_prompt=True``), through its answer and the special token
   the template writes to end the turn (``<|im_end|>``, ``</s>``,
   ``<end_of_turn>`` …; the whitespace after it is not trained). Positions are
   the character offsets of the one tokenization. Every other token — system,
   user, template text, padding — has label -100. A template with
   ``{% generation %}`` markers says itself what the assistant wrote: its
   spans are used instead.
4. **Which turns.** ``data.train_on = "all"`` (the default) trains every
   assistant turn, as TRL's ``assistant_only_loss`` and Axolotl do;
   ``"last"`` only the final answer. The log tier's example and the eval
   prompt are always the final exchange.
5. **The eval prompt** is the generation-prompt render of every turn before
   the final answer, tokenized the same way: exactly
   ``apply_chat_template(turns, add_generation_prompt=True, tokenize=True)``,
   which is how the model will be used.
6. **Non-prefix templates.** When that generation prompt is not where the
   full render starts the answer (DeepSeek-R1 distills: the prompt ends
   ``<｜Assistant｜><think>\\n`` while a rendered assistant turn has no think
   block), the eval prompt stays the template's generation prompt and the
   trained sequence continues *it*: if the prompt opened a think block the
   golden does not have, the block is closed empty (``\\n</think>\\n\\n``, the
   shape Qwen3's template gives an answer without reasoning) and the answer
   follows as the template renders it; a golden with its own ``<think>``
   continues the opened block with its reasoning. Otherwise the answer as
   the template renders it follows the prompt. Reason: the model is trained
   on exactly what it will see at generation time, followed by what it
   should write.
7. **Too long** (``data.too_long``): refuse the record (``"error"``), skip and
   count it (``"skip"``), or ``"truncate"``: cut the conversation from the
   left (after a leading BOS), never into the final answer.

Nothing here imports torch or transformers at module level.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from syllo_train.data import IGNORE_INDEX, DataError
from syllo_train.data.records import Example
from syllo_train.matching import (
    THINK_OPEN,
    ends_in_open_think,
    has_think_block,
    strip_think,
)

TRAIN_ON = ("all", "last")
SYSTEM_TURN = ("keep", "merge", "drop")
TOO_LONG = ("error", "skip", "truncate")

#: The tokenization rule's version: part of the resume fingerprint, so a
#: checkpoint trained under an older rule is not silently continued under this one.
ENCODING_VERSION = 2

#: The plain template (no chat template): documented text, a prompt per turn.
PLAIN_USER = "### User:\n"
PLAIN_ASSISTANT_HEADER = "### Assistant:\n"
PLAIN_ASSISTANT = "\n\n" + PLAIN_ASSISTANT_HEADER

#: What follows a generation prompt that opened a think block the golden lacks.
EMPTY_THINK_CLOSE = "</think>\n\n"

_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


class RecordRefused(Exception):
    """One record cannot be encoded; the message says why (the caller adds ``file:line``)."""


@dataclass
class Encoded:
    """One example as the model trains on it."""

    input_ids: list[int]
    labels: list[int]  # the id where trained, IGNORE_INDEX elsewhere
    prompt_ids: list[int]  # the eval prompt: the generation-prompt render, tokenized
    answer_start: int  # index of the final answer's first labelled token
    answer_tokens: int  # labelled tokens of the final answer
    cut: int = 0  # tokens cut from the left (data.too_long = "truncate")
    non_prefix: bool = False  # the non-prefix rule made this sequence
    opens_think: bool = False  # the eval prompt ends inside an open <think> block
    empty_think: bool = False  # an empty think block precedes the answer, trained


@dataclass
class EncodedSet:
    """Examples with their encodings; what the Dataset and the eval tier use."""

    examples: list[Example]
    items: list[Encoded]

    def __len__(self) -> int:
        return len(self.examples)


@dataclass
class TemplateFacts:
    """What a person needs to trust the tokenization (``run_start.tokenization``)."""

    template: str  # "chat" or "plain"
    source: str  # "tokenizer", "config" (data.chat_template) or "plain"
    bos: str  # who writes BOS: "template", "tokenizer" or "none" (never both)
    generation_markers: bool  # the template's {% generation %} spans give the labels
    train_on: str
    system_turn: str
    too_long: str
    records: int = 0
    non_prefix_records: int = 0
    empty_think_records: int = 0
    think_prompt_records: int = 0  # eval prompts that end inside an open think block
    truncated_records: int = 0
    first_example_tokens: int | None = None
    first_example_labelled: int | None = None
    non_prefix_rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "source": self.source,
            "bos": self.bos,
            "generation_markers": self.generation_markers,
            "prefix": self.non_prefix_records == 0,
            "non_prefix_records": self.non_prefix_records,
            "non_prefix_rule": self.non_prefix_rule,
            "think": {
                "template_inserts_empty_block": self.empty_think_records > 0,
                "empty_block_labelled": self.empty_think_records > 0,
                "prompts_open_block": self.think_prompt_records,
                "match": "the answer after any <think>…</think> block, when the golden has none",
            },
            "train_on": self.train_on,
            "system_turn": self.system_turn,
            "too_long": self.too_long,
            "truncated_records": self.truncated_records,
            "first_example_tokens": self.first_example_tokens,
            "first_example_labelled": self.first_example_labelled,
        }


NON_PREFIX_RULE = (
    "the template's generation prompt is not where its rendered answer starts: the eval prompt "
    "stays the generation prompt, and training continues it (a think block it opened is closed "
    "empty before the answer, unless the golden has its own reasoning)"
)


def read_chat_template(value: str) -> str:
    """``data.chat_template``: inline Jinja, or the path of a ``.jinja`` file to read."""
    looks_inline = "{%" in value or "{{" in value
    if not looks_inline:
        try:
            with open(value, encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            raise DataError(
                f"data.chat_template = {value!r}: no such file, and not inline Jinja "
                "(no {% or {{ in it); give a .jinja file's path or the template text"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"data.chat_template = {value!r}: cannot read it ({exc})") from None
    return value


class Encoder:
    """Turns examples into ``Encoded`` items by the rule in this module's docstring."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        template: str = "auto",
        chat_template: str = "",
        chat_template_kwargs: dict[str, Any] | None = None,
        train_on: str = "all",
        system_turn: str = "keep",
        too_long: str = "error",
        max_length: int = 1024,
    ) -> None:
        self.tokenizer = tokenizer
        self.kwargs = dict(chat_template_kwargs or {})
        self.train_on, self.system_turn, self.too_long = train_on, system_turn, too_long
        self.max_length = max_length
        own = read_chat_template(chat_template) if chat_template else None
        tokenizer_template = getattr(tokenizer, "chat_template", None)
        if template == "chat" and not (own or tokenizer_template):
            raise DataError(
                'data.template = "chat" but the tokenizer has no chat template; use "plain" or '
                '"auto", or give one with data.chat_template'
            )
        self.use_chat = template != "plain" and bool(own or tokenizer_template)
        self.template_text: str | None = own
        source = "config" if own and self.use_chat else "tokenizer" if self.use_chat else "plain"
        if not getattr(tokenizer, "is_fast", False):
            raise DataError(
                "the tokenizer is a slow (pure-Python) one, which gives no character offsets; syllo "
                "places the labels by offset: load the fast tokenizer (tokenizer.json)"
            )
        self.specials = sorted(_special_strings(tokenizer), key=len, reverse=True)
        self.markers = bool(self.use_chat and _GENERATION_TAG.search(self._template_source()))
        self.bos_id = getattr(tokenizer, "bos_token_id", None)
        self.plain_bos = (not self.use_chat) and self._tokenizer_adds_bos()
        if self.use_chat:
            self._check_template()
        self.facts = TemplateFacts(
            template="chat" if self.use_chat else "plain",
            source=source,
            bos=self._bos_rule(),
            generation_markers=self.markers,
            train_on=train_on,
            system_turn=system_turn,
            too_long=too_long,
        )

    # ---- the template ------------------------------------------------------------------

    @property
    def name(self) -> str:
        return "chat" if self.use_chat else "plain"

    @property
    def template_sha(self) -> str | None:
        """A hash of the template text that renders (None for the plain template)."""
        if not self.use_chat:
            return None
        import hashlib

        return hashlib.sha256(self._template_source().encode("utf-8")).hexdigest()[:16]

    def _template_source(self) -> str:
        if self.template_text is not None:
            return self.template_text
        t = getattr(self.tokenizer, "chat_template", None)
        if isinstance(t, dict):  # several named templates: the default one renders
            return str(t.get("default", next(iter(t.values()), "")))
        return str(t or "")

    def _check_template(self) -> None:
        """A template that does not compile is the config's (or the tokenizer's) error, not a record's."""
        import jinja2

        try:
            self.render([{"role": "user", "content": "hello"}], add_generation_prompt=True)
        except jinja2.TemplateSyntaxError as exc:
            whose = (
                "data.chat_template"
                if self.template_text is not None
                else "the tokenizer's chat template"
            )
            raise DataError(
                f"{whose}: invalid Jinja at line {exc.lineno}: {exc.message}; fix the template"
                + (
                    ""
                    if self.template_text is not None
                    else ", or give one with data.chat_template"
                )
            ) from None
        except Exception:
            pass  # the probe conversation itself may be refused; real records are checked one by one

    def render(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool) -> str:
        """The text of ``messages`` under this encoder's template."""
        if not self.use_chat:
            return _plain_render(messages, add_generation_prompt)
        return str(
            self.tokenizer.apply_chat_template(
                list(messages),
                tokenize=False,
                add_generation_prompt=add_generation_prompt,
                chat_template=self.template_text,
                **self.kwargs,
            )
        )

    def _tokenizer_adds_bos(self) -> bool:
        if self.bos_id is None:
            return False
        with_specials = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        return bool(with_specials) and with_specials[0] == self.bos_id

    def _bos_rule(self) -> str:
        if not self.use_chat:
            return "tokenizer" if self.plain_bos else "none"
        bos = getattr(self.tokenizer, "bos_token", None)
        if not bos:
            return "none"
        try:
            text = self.render([{"role": "user", "content": "hello"}], add_generation_prompt=True)
        except Exception:
            return "unknown"
        return "template" if text.startswith(bos) else "none"

    def tokenize(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids and character offsets of ``text``, the one way every sequence is tokenized."""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = [int(i) for i in enc["input_ids"]]
        offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
        if self.plain_bos and self.bos_id is not None:  # the plain template: the tokenizer's BOS
            ids, offsets = [int(self.bos_id), *ids], [(0, 0), *offsets]
        return ids, offsets

    # ---- one example ---------------------------------------------------------------------

    def conversation(self, ex: Example) -> list[dict[str, str]]:
        """The turns to render: the example's, the answer last, system turns per data.system_turn."""
        turns = [dict(m) for m in ex.messages] + [{"role": "assistant", "content": ex.golden}]
        if self.system_turn == "keep":
            return turns
        system = [m["content"] for m in turns if m["role"] == "system"]
        turns = [m for m in turns if m["role"] != "system"]
        if self.system_turn == "merge" and system:
            first_user = next((m for m in turns if m["role"] == "user"), None)
            if first_user is not None:
                first_user["content"] = "\n\n".join([*system, first_user["content"]])
        return turns

    def encode(self, ex: Example) -> Encoded:
        """Encode one example; ``RecordRefused`` says why a record cannot be."""
        conv = self.conversation(ex)
        last = len(conv) - 1
        try:
            prompt_text = self.render(conv[:last], add_generation_prompt=True)
            if self.use_chat:
                full = self.render(conv, add_generation_prompt=False)
            else:  # the plain template ends the final answer with EOS
                full = prompt_text + conv[last]["content"] + (self.tokenizer.eos_token or "")
        except Exception as exc:
            raise RecordRefused(_refusal(exc, conv)) from None
        prompt_ids, _ = self.tokenize(prompt_text)
        if self.use_chat and not self.markers and not full.startswith(prompt_text):
            enc = self._non_prefix(conv, prompt_text, prompt_ids, full)
        elif self.markers:
            enc = self._by_markers(conv, prompt_ids)
        else:
            enc = self._by_spans(conv, full, prompt_ids)
        enc.opens_think = ends_in_open_think(prompt_text)
        self._check_bos(enc.input_ids)
        return self._fit(enc)

    def _trained_turns(self, conv: list[dict[str, str]]) -> list[int]:
        """Indices of the assistant turns to train, per data.train_on (the final answer last)."""
        turns = [k for k, m in enumerate(conv) if m["role"] == "assistant"]
        return turns[-1:] if self.train_on == "last" else turns

    def _by_spans(self, conv: list[dict[str, str]], full: str, prompt_ids: list[int]) -> Encoded:
        spans = self._answer_spans(conv, full, self._trained_turns(conv))
        ids, offsets = self.tokenize(full)
        labels, first, count = self._label(ids, offsets, spans)
        start, _ = spans[-1]
        enc = Encoded(ids, labels, prompt_ids, first, count)
        enc.empty_think = self._empty_think(full, start, conv[-1]["content"])
        return enc

    def _answer_spans(
        self, conv: list[dict[str, str]], full: str, turns: list[int]
    ) -> list[tuple[int, int]]:
        """Character spans in ``full`` of the assistant turns ``turns``, in order.

        A turn whose history render is not a prefix of ``full`` (Qwen3 drops an
        earlier turn's reasoning) has no place there and is left out.
        """
        starts: list[int] = []
        for k in turns:
            prompt = self.render(conv[:k], add_generation_prompt=True) if k else ""
            starts.append(len(prompt) if full.startswith(prompt) else -1)
        spans: list[tuple[int, int]] = []
        for i, k in enumerate(turns):
            start = starts[i]
            if start < 0 or (spans and start < spans[-1][1]):
                continue  # this earlier turn's history render differs: it is not trained
            limit = next((s for s in starts[i + 1 :] if s > start), len(full))
            end = self._turn_end(full, start, limit, conv[k]["content"])
            spans.append((start, end))
        return spans

    def _turn_end(self, full: str, start: int, limit: int, content: str) -> int:
        """Where the assistant turn starting at ``start`` ends: after its answer and end-of-turn token."""
        candidates = [content, content.strip(), strip_think(content).strip()]
        content_end = -1
        for cand in filter(None, candidates):
            at = full.find(cand, start, limit)
            if at >= 0:
                content_end = at + len(cand)
                break
        if content_end < 0:
            # The template rewrote the answer beyond recognition: up to the first special token.
            for i in range(start, limit):
                special = self._special_at(full, i)
                if special:
                    return i + len(special)
            return limit
        i = content_end
        while i < limit and full[i].isspace():
            i += 1
        special = self._special_at(full, i)
        return i + len(special) if special and i + len(special) <= limit else content_end

    def _special_at(self, text: str, i: int) -> str:
        for special in self.specials:
            if text.startswith(special, i):
                return special
        return ""

    def _label(
        self,
        ids: list[int],
        offsets: list[tuple[int, int]],
        spans: list[tuple[int, int]],
        *,
        final_required: bool = True,
    ) -> tuple[list[int], int, int]:
        """Labels for the tokens overlapping ``spans``; (labels, final answer's first index, its count).

        The final answer is ``spans[-1]``; it must cover a token unless ``final_required`` is off.
        """
        labels = [IGNORE_INDEX] * len(ids)
        first, count = len(ids), 0
        final_start, final_end = spans[-1]
        for t, (a, b) in enumerate(offsets):
            if b <= a:
                continue  # an added BOS (0, 0): never trained
            for s, e in spans:
                if a < e and b > s:
                    labels[t] = ids[t]
                    if a < final_end and b > final_start:
                        first = min(first, t)
                        count += 1
                    break
        if count == 0 and final_required:
            raise RecordRefused(
                "the answer has no tokens in the rendered conversation (the template dropped it?)"
            )
        return labels, first, count

    def _empty_think(self, full: str, start: int, content: str) -> bool:
        at = full.find(content.strip(), start) if content.strip() else -1
        head = full[start:at] if at >= 0 else ""
        return has_think_block(head) and not has_think_block(content)

    def _by_markers(self, conv: list[dict[str, str]], prompt_ids: list[int]) -> Encoded:
        """Labels from the template's own ``{% generation %}`` spans."""
        out = self.tokenizer.apply_chat_template(
            conv,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
            chat_template=self.template_text,
            **self.kwargs,
        )
        ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
        runs: list[list[int]] = []
        for t, m in enumerate(mask):
            if m:
                if runs and runs[-1][-1] == t - 1:
                    runs[-1].append(t)
                else:
                    runs.append([t])
        if not runs:
            raise RecordRefused(
                "the template's {% generation %} spans cover no token of the answer"
            )
        keep = runs[-1:] if self.train_on == "last" else runs
        labels = [IGNORE_INDEX] * len(ids)
        for run in keep:
            for t in run:
                labels[t] = ids[t]
        return Encoded(ids, labels, prompt_ids, runs[-1][0], len(runs[-1]))

    def _non_prefix(
        self, conv: list[dict[str, str]], prompt_text: str, prompt_ids: list[int], full: str
    ) -> Encoded:
        """The documented non-prefix rule: train what continues the generation prompt."""
        # A character prefix of two strings, not of paths.
        common = len(os.path.commonprefix([prompt_text, full]))  # noqa: RUF071
        tail = prompt_text[common:]
        golden = conv[-1]["content"]
        end = self._turn_end(full, common, len(full), golden)
        rendered = full[
            common:end
        ]  # the answer (and its end-of-turn token) as the template writes it
        answer = strip_think(golden).strip()
        at = rendered.find(answer) if answer else -1
        answer_and_end = rendered[at:] if at >= 0 else rendered
        empty = False
        if not ends_in_open_think(tail):
            continuation = answer_and_end
        elif golden.lstrip().startswith(THINK_OPEN):
            # The golden reasons: it continues the block the prompt opened.
            body = golden.lstrip()[len(THINK_OPEN) :]
            continuation = (body.lstrip("\n") if tail.endswith("\n") else body) + (
                self._trailing_special(rendered)
            )
        else:
            continuation = ("\n" if tail.endswith("\n") else "\n\n") + EMPTY_THINK_CLOSE
            continuation += answer_and_end
            empty = True
        # The trained sequence starts with exactly the eval prompt's ids. Tokenized in one
        # piece when that keeps them; when the prompt's last token would merge with the
        # continuation's first (a newline run), the continuation is tokenized on its own.
        whole, _ = self.tokenize(prompt_text + continuation)
        if whole[: len(prompt_ids)] == prompt_ids:
            rest = whole[len(prompt_ids) :]
        else:
            rest = [
                int(i) for i in self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
            ]
        ids = prompt_ids + rest
        labels = [IGNORE_INDEX] * len(prompt_ids) + rest
        earlier = self._trained_turns(conv)[:-1]
        spans = [s for s in self._answer_spans(conv, full, earlier) if s[1] <= common]
        if spans:  # earlier assistant turns lie in the prompt: label them by their offsets
            _, offsets = self.tokenize(prompt_text)
            spans.append((len(prompt_text), len(prompt_text)))  # the final answer: set above
            earlier_labels, _, _ = self._label(prompt_ids, offsets, spans, final_required=False)
            labels[: len(prompt_ids)] = earlier_labels
        return Encoded(
            ids, labels, prompt_ids, len(prompt_ids), len(rest), non_prefix=True, empty_think=empty
        )

    def _trailing_special(self, rendered: str) -> str:
        stripped = rendered.rstrip()
        for special in self.specials:
            if stripped.endswith(special):
                return special
        return ""

    def _check_bos(self, ids: list[int]) -> None:
        if self.bos_id is not None and ids[:2] == [self.bos_id, self.bos_id]:
            raise RecordRefused(
                "the rendered conversation starts with two BOS tokens (does the text or the "
                "template write BOS twice?)"
            )

    def _fit(self, enc: Encoded) -> Encoded:
        """Apply data.max_length: refuse, or cut from the left (after BOS), never into the answer."""
        n = len(enc.input_ids)
        if n <= self.max_length:
            return enc
        over = f"{n} tokens, longer than data.max_length = {self.max_length}"
        if self.too_long != "truncate":
            raise RecordRefused(over)
        keep = 1 if enc.input_ids[:1] == [self.bos_id] and self.bos_id is not None else 0
        cut = n - self.max_length
        if enc.answer_start - keep < cut:
            raise RecordRefused(
                f"{over}, and the final answer alone does not fit: truncation never cuts the answer"
            )

        def left_cut(seq: list[int]) -> list[int]:
            return seq[:keep] + seq[keep + cut :]

        enc.input_ids, enc.labels = left_cut(enc.input_ids), left_cut(enc.labels)
        p = enc.prompt_ids
        p_keep = 1 if p[:1] == [self.bos_id] and self.bos_id is not None else 0
        enc.prompt_ids = p[:p_keep] + p[p_keep + cut :]
        enc.answer_start -= cut
        enc.cut = cut
        return enc


def _plain_render(messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> str:
    """The plain template: the documented text (docs/data.md)::

    {system}\\n\\n            (only when there is a system text)
    ### User:\\n{prompt}\\n\\n### Assistant:\\n{answer}{eos}

    Earlier turns appear the same way, joined by a blank line; ``{eos}`` after
    the final answer is added by ``Encoder.encode``.
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = "\n\n".join(
        (PLAIN_USER if m["role"] == "user" else PLAIN_ASSISTANT_HEADER) + m["content"]
        for m in messages
        if m["role"] != "system"
    )
    text = (system + "\n\n" if system else "") + turns
    return text + PLAIN_ASSISTANT if add_generation_prompt else text


def _special_strings(tokenizer: Any) -> set[str]:
    """Every special token's text: the candidates for a template's end-of-turn token."""
    found = {str(t) for t in getattr(tokenizer, "all_special_tokens", []) if t}
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    found |= {str(t.content) for t in decoder.values() if getattr(t, "special", False)}
    return found


def _refusal(exc: BaseException, conv: list[dict[str, str]]) -> str:
    """A template refusal as a data error's reason, with the usual remedy."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    said = f"the chat template refused this conversation: {message}"
    low = message.lower()
    if "system" in low and any(m["role"] == "system" for m in conv):
        return (
            f'{said}. Set data.system_turn = "merge" (the system text joins the first user turn) '
            'or "drop", or remove the system turn'
        )
    if "alternate" in low or "order" in low:
        return (
            f"{said}. The template needs user and assistant turns in turn: fix the record's roles"
        )
    return f"{said}. Fix the record, or give another template with data.chat_template"


def encode_examples(
    examples: list[Example], encoder: Encoder, *, on_bad: str = "error"
) -> tuple[EncodedSet, list[tuple[str, str]]]:
    """Encode every example; a refused one is an error naming ``file:line`` (or skipped).

    A record is skipped instead of refused when ``on_bad`` is ``"skip"`` (a
    template refusal, data.on_bad_record) or when it is too long and
    ``data.too_long = "skip"``.
    """
    kept: list[Example] = []
    items: list[Encoded] = []
    skipped: list[tuple[str, str]] = []
    facts = encoder.facts
    for ex in examples:
        try:
            enc = encoder.encode(ex)
        except RecordRefused as exc:
            reason = str(exc)
            too_long = "longer than data.max_length" in reason
            skip = encoder.too_long == "skip" if too_long else on_bad == "skip"
            if not skip:
                fix = (
                    'Raise data.max_length, shorten the record, or set data.too_long = "skip" or "truncate".'
                    if too_long
                    else 'Fix the record, or set data.on_bad_record = "skip" to skip bad records.'
                )
                raise DataError(f"{ex.source}: {reason}. {fix}") from None
            skipped.append((ex.source, reason))
            continue
        ex.index = len(kept)
        kept.append(ex)
        items.append(enc)
        facts.records += 1
        facts.non_prefix_records += enc.non_prefix
        facts.empty_think_records += enc.empty_think
        facts.think_prompt_records += enc.opens_think
        facts.truncated_records += enc.cut > 0
        if facts.first_example_tokens is None:
            facts.first_example_tokens = len(enc.input_ids)
            facts.first_example_labelled = sum(1 for x in enc.labels if x != IGNORE_INDEX)
    if facts.non_prefix_records:
        facts.non_prefix_rule = NON_PREFIX_RULE
    if not kept:
        # Name the file(s), like every other data error (sources are "file:line").
        files = ", ".join(sorted({ex.source.rsplit(":", 1)[0] for ex in examples})) or "the data"
        why = f"; the first: {skipped[0][1]}" if skipped else ""
        raise DataError(f"{files}: no record could be encoded{why}")
    return EncodedSet(kept, items), skipped
