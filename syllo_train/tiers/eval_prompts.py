"""The fixed prompts the eval tier generates from, wherever they come from.

An ``EvalPrompt`` is what a round needs: the token ids to prompt the model
with (as it will be used), the golden answer to compare with, and whether the
prompt opens a ``<think>`` block (the matching rule). They come from

* syllo's own validation set (``from_encoded``: the eval prompt each example's
  encoding already made, with its chat template's generation prompt);
* prompts given to ``SylloCallback``/``Run`` (``from_given``): a string is
  prompted exactly as written (tokenized like TRL tokenizes a plain
  prompt: the tokenizer's own special tokens added), a list of
  ``{role, content}`` messages through the tokenizer's chat template with
  its generation prompt (as TRL renders a conversational prompt);
* rows of a dataset (``from_rows``): ``prompt``/``completion`` (strings or
  messages, TRL's two prompt-completion forms), ``messages`` (the last
  assistant turn is the golden, the turns before it the prompt), or rows
  already tokenized by the Trainer (``input_ids`` with ``labels``,
  ``completion_mask`` or ``assistant_masks``: the prompt is every token
  before the last trained run, the golden that run, as tiers/rows.py reads a
  training row). A row with none of these (plain ``text``, every token
  trained) has no prompt to generate from and is passed over.

Which rows: ``monitor.eval_samples`` of them, seeded by ``monitor.eval_seed``
(the same every eval and every run). Only the standard library at import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syllo_train.data import IGNORE_INDEX
from syllo_train.data.records import seeded_subset
from syllo_train.matching import ends_in_open_think
from syllo_train.tiers.rows import read_sequence


class EvalPromptError(ValueError):
    """Eval prompts that cannot be used; the message names which one and what to do."""


@dataclass(frozen=True)
class EvalPrompt:
    index: int  # the example's place in its source (validation set, list given, dataset row)
    prompt: str  # shown: the record's prompt text, or the rendered prompt
    golden: str
    prompt_ids: list[int]  # what the model is prompted with
    golden_tokens: int  # the golden's tokens (as trained, where known)
    opens_think: bool  # the prompt ends inside an open <think> block


def from_encoded(val_set: Any, ids: Sequence[int]) -> list[EvalPrompt]:
    """syllo's own eval prompts: examples of the validation set, as their encodings prompt."""
    out = []
    for i in ids:
        ex, enc = val_set.examples[i], val_set.items[i]
        out.append(
            EvalPrompt(
                i, ex.prompt, ex.golden, list(enc.prompt_ids), enc.answer_tokens, enc.opens_think
            )
        )
    return out


def from_given(
    prompts: Sequence[Any], goldens: Sequence[Any], tokenizer: Any, *, where: str = "eval_prompts"
) -> list[EvalPrompt]:
    """Prompts given by hand: strings as written, message lists through the chat template."""
    if isinstance(prompts, (str, bytes)) or isinstance(goldens, (str, bytes)):
        raise EvalPromptError(
            f"{where} and goldens must be lists (one entry per prompt), not a single string"
        )
    if len(prompts) != len(goldens):
        raise EvalPromptError(
            f"{where} has {len(prompts)} entries but goldens has {len(goldens)}: give one golden answer per prompt"
        )
    out = []
    for k, (prompt, golden) in enumerate(zip(prompts, goldens, strict=True)):
        if not isinstance(golden, str):
            raise EvalPromptError(
                f"goldens[{k}] is {type(golden).__name__}: give the expected answer as a string"
            )
        out.append(_prompt(k, prompt, golden, None, tokenizer, f"{where}[{k}]"))
    return out


def from_rows(
    rows: Any, tokenizer: Any, *, count: int, seed: int, where: str = "eval_dataset"
) -> tuple[list[EvalPrompt], int]:
    """(prompts, candidates passed over) from ``count`` seeded rows of a dataset (a list or 🤗 Dataset).

    Of packed rows (TRL's packing: a ``seq_lengths`` column), each sequence is a candidate.
    """
    if count <= 0 or len(rows) == 0:
        return [], 0
    first = rows[0]
    if not isinstance(first, Mapping):
        raise EvalPromptError(f"{where}[0] is {type(first).__name__}, not a row of named columns")
    made: list[EvalPrompt | None] = []
    if first.get("seq_lengths"):
        spans = [
            (r, sum(lengths[:j]), int(n))
            for r in range(len(rows))
            for lengths in [[int(x) for x in rows[r]["seq_lengths"]]]
            for j, n in enumerate(lengths)
        ]
        for k in seeded_subset(len(spans), count, seed):
            r, at, n = spans[k]
            row = rows[r]
            one = {c: list(row[c])[at : at + n] for c in _TOKEN_COLUMNS if row.get(c) is not None}
            made.append(_from_tokens(k, one, tokenizer))
    else:
        for i in seeded_subset(len(rows), count, seed):
            row = rows[i]
            if not isinstance(row, Mapping):
                raise EvalPromptError(
                    f"{where}[{i}] is {type(row).__name__}, not a row of named columns"
                )
            made.append(_from_row(i, row, tokenizer, f"{where}[{i}]"))
    found = [p for p in made if p is not None]
    return found, len(made) - len(found)


#: The per-token columns of a tokenized row (a packed row's sequence is a slice of each).
_TOKEN_COLUMNS = ("input_ids", "labels", "completion_mask", "assistant_masks")


def _from_row(i: int, row: Mapping[str, Any], tokenizer: Any, where: str) -> EvalPrompt | None:
    if "prompt" in row and "completion" in row:
        return _prompt(
            i, row["prompt"], _golden_text(row["completion"], where), None, tokenizer, where
        )
    if isinstance(row.get("messages"), list) and row["messages"]:
        turns = list(row["messages"])
        last = max((t for t, m in enumerate(turns) if _role(m) == "assistant"), default=None)
        if last is None or last == 0:
            return None  # no assistant turn to be the golden, or nothing before it
        return _prompt(i, turns[:last], _content(turns[last], where), None, tokenizer, where)
    if "input_ids" in row:
        return _from_tokens(i, row, tokenizer)
    return None


def _from_tokens(i: int, row: Mapping[str, Any], tokenizer: Any) -> EvalPrompt | None:
    """A tokenized row: the prompt is what comes before its last trained run."""
    ids = [int(t) for t in row["input_ids"]]
    if row.get("labels") is not None:
        labels = [int(t) for t in row["labels"]]
    else:
        mask = row.get("completion_mask") or row.get("assistant_masks")
        if mask is None:
            return None
        labels = [t if m else IGNORE_INDEX for t, m in zip(ids, mask, strict=False)]
    seq = read_sequence(labels)
    if seq.trained == 0 or seq.answer_start == 0:
        return None  # every token trained (plain language modelling): no prompt to generate from
    prompt_ids = ids[: seq.answer_start]
    prompt = tokenizer.decode(prompt_ids, skip_special_tokens=False)
    golden = tokenizer.decode(ids[seq.answer_start : seq.answer_end], skip_special_tokens=True)
    return EvalPrompt(
        i, prompt, golden, prompt_ids, seq.answer_end - seq.answer_start, ends_in_open_think(prompt)
    )


def _prompt(
    k: int, prompt: Any, golden: str, golden_tokens: int | None, tokenizer: Any, where: str
) -> EvalPrompt:
    if isinstance(prompt, str):
        ids = list(tokenizer(text=prompt)["input_ids"])
        shown = prompt
    elif isinstance(prompt, list) and prompt:
        messages = [{"role": _role(m), "content": _content(m, where)} for m in prompt]
        if not getattr(tokenizer, "chat_template", None):
            raise EvalPromptError(
                f"{where} is a list of messages but the tokenizer has no chat template: "
                "give the prompt as a string, or a tokenizer with a chat template"
            )
        try:
            rendered = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        except Exception as exc:  # jinja's errors: the template refused these messages
            raise EvalPromptError(
                f"{where}: the chat template refused it ({type(exc).__name__}: {exc})"
            ) from exc
        ids = list(tokenizer(text=rendered, add_special_tokens=False)["input_ids"])
        shown = rendered
    else:
        raise EvalPromptError(
            f"{where} is {type(prompt).__name__}: give a string, or a list of {{role, content}} messages"
        )
    tokens = (
        golden_tokens
        if golden_tokens is not None
        else len(tokenizer(text=golden, add_special_tokens=False)["input_ids"])
    )
    return EvalPrompt(k, shown, golden, ids, tokens, ends_in_open_think(shown))


def _golden_text(completion: Any, where: str) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        answers = [m for m in completion if _role(m) == "assistant"]
        if answers:
            return _content(answers[-1], where)
    raise EvalPromptError(
        f"{where}: completion must be a string or a list of messages with an assistant turn"
    )


def _role(message: Any) -> str:
    return str(message.get("role", "")) if isinstance(message, Mapping) else ""


def _content(message: Any, where: str) -> str:
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, str):
        raise EvalPromptError(f"{where}: every message needs a string 'content' (got {content!r})")
    return content
