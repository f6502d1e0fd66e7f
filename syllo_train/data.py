"""Training data: JSONL records → examples → token ids with the prompt masked.

Two record forms are accepted, one JSON object a line:

* chat: ``{"messages": [{"role": "system"?}, {"role": "user"}, …, {"role": "assistant"}], "metadata": {…}}``
  — the prompt is every turn before the final assistant turn, the golden
  answer is that final assistant turn;
* ``{"prompt": "…", "completion": "…"}``.

The loss covers answer tokens only: prompt tokens and padding get label -100,
in training and in validation alike (an unmasked, padded validation loss is
the classic bug that makes validation look ten times worse than training).

With a tokenizer that has a chat template, the template renders the prompt
(with the generation prompt) and the answer is whatever the full conversation
adds after it. Without one, the documented plain template is used::

    {system}\\n\\n            (only when there is a system text)
    ### User:\\n{prompt}\\n\\n### Assistant:\\n{answer}{eos}
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLAIN_USER = "### User:\n"
PLAIN_ASSISTANT = "\n\n### Assistant:\n"
IGNORE_INDEX = -100  # label value the cross-entropy skips


class DataError(ValueError):
    """A bad data file or record; the message names ``file:line`` and the fix."""


@dataclass
class Example:
    """One training or validation example, before tokenization."""

    index: int  # position in its dataset (stable: used to find the text of a trained example)
    prompt: str  # the last user turn (what a person reads as "the prompt")
    golden: str  # the answer the model should produce
    messages: list[dict[str, str]]  # the prompt turns (system/user/…), for chat templates
    source: str  # "file:line", for messages
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadReport:
    """What loading a file found: the good examples and the skipped records."""

    examples: list[Example]
    skipped: list[tuple[str, str]]  # (file:line, reason)


def _record_to_example(rec: Any, source: str, system_prompt: str) -> Example | str:
    """Turn one decoded record into an Example, or return the reason it is bad."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
    if "messages" in rec:
        msgs = rec["messages"]
        if not isinstance(msgs, list) or not msgs:
            return "'messages' must be a non-empty list of {role, content} objects"
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                return f"messages[{i}] has no 'role'"
            if not isinstance(m.get("content"), str):
                return f"messages[{i}] ({m['role']}) has no string 'content'"
            if m["role"] not in ("system", "user", "assistant"):
                return (
                    f"messages[{i}] has unknown role {m['role']!r} (use system, user or assistant)"
                )
        if msgs[-1]["role"] != "assistant":
            return "the last message must be the assistant's answer (role 'assistant')"
        prompt_msgs = [{"role": m["role"], "content": m["content"]} for m in msgs[:-1]]
        users = [m for m in prompt_msgs if m["role"] == "user"]
        if not users:
            return "no 'user' message before the assistant's answer"
        golden = msgs[-1]["content"]
        prompt = users[-1]["content"]
    elif "prompt" in rec or "completion" in rec:
        prompt, golden = rec.get("prompt"), rec.get("completion")
        if not isinstance(prompt, str) or not isinstance(golden, str):
            return "'prompt' and 'completion' must both be strings"
        prompt_msgs = [{"role": "user", "content": prompt}]
        if system_prompt:
            prompt_msgs.insert(0, {"role": "system", "content": system_prompt})
    else:
        return "a record needs 'messages' (chat form) or 'prompt' and 'completion'"
    if not golden.strip():
        return "the answer is empty"
    if not prompt.strip():
        return "the prompt is empty"
    for m in [*prompt_msgs, {"role": "assistant", "content": golden}]:
        if not _is_unicode(m["content"]):
            # Issue #9 (fuzzing): JSON can spell a lone surrogate (\ud800); the tokenizer then
            # raised a TypeError deep inside training setup.
            return f"the {m['role']} text holds an unpaired surrogate escape (\\ud800-\\udfff): not valid Unicode"
    return Example(0, prompt, golden, prompt_msgs, source, meta)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def load_examples(
    path: str | Path, *, on_bad: str = "error", system_prompt: str = ""
) -> LoadReport:
    """Read a JSONL file into examples.

    A bad record raises DataError naming ``file:line`` unless ``on_bad`` is
    ``"skip"``, in which case it is counted in the report and left out.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such data file (check data.train / data.val)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read data file: {exc.strerror}") from None
    examples: list[Example] = []
    skipped: list[tuple[str, str]] = []
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        source = f"{path}:{lineno}"
        try:
            rec = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            result: Example | str = "not valid UTF-8"
        except ValueError as exc:
            result = f"invalid JSON ({exc.args[0] if exc.args else exc})"
        except RecursionError:  # issue #9 (fuzzing): json recurses once per [ or {
            result = "invalid JSON (nested too deeply)"
        else:
            result = _record_to_example(rec, source, system_prompt)
        if isinstance(result, str):
            if on_bad != "skip":
                raise DataError(
                    f'{source}: {result}. Fix the record, or set data.on_bad_record = "skip" to skip bad records.'
                )
            skipped.append((source, result))
            continue
        result.index = len(examples)
        examples.append(result)
    if not examples:
        raise DataError(
            f"{path}: no usable records (a JSONL file with 'messages' or 'prompt'/'completion' objects is expected)"
        )
    return LoadReport(examples, skipped)


def split_train_val(
    examples: list[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """A seeded split; both parts are re-indexed so ``index`` is the position in each."""
    if len(examples) < 2:
        raise DataError(
            "data.train has fewer than 2 records: cannot split off a validation set; set data.val"
        )
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_val = min(len(examples) - 1, max(1, round(fraction * len(examples))))
    val_ids = set(order[:n_val])
    train = [e for i, e in enumerate(examples) if i not in val_ids]
    val = [e for i, e in enumerate(examples) if i in val_ids]
    for part in (train, val):
        for i, e in enumerate(part):
            e.index = i
    return train, val


def seeded_subset(n: int, k: int, seed: int) -> list[int]:
    """``k`` distinct indices out of ``n``, seeded and sorted (the same every run)."""
    if k <= 0 or k >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), k))


class PromptFormatter:
    """Renders examples to token ids with the tokenizer's chat template or the plain template."""

    def __init__(self, tokenizer: Any, template: str = "auto") -> None:
        has_chat = bool(getattr(tokenizer, "chat_template", None))
        if template == "chat" and not has_chat:
            raise DataError(
                'data.template = "chat" but the tokenizer has no chat template; use "plain" or "auto"'
            )
        self.tokenizer = tokenizer
        self.use_chat = has_chat and template != "plain"
        self.eos = tokenizer.eos_token or ""

    @property
    def name(self) -> str:
        return "chat" if self.use_chat else "plain"

    def prompt_text(self, ex: Example) -> str:
        """The text the model is given at generation time (ends where the answer starts)."""
        if self.use_chat:
            return str(
                self.tokenizer.apply_chat_template(
                    ex.messages, tokenize=False, add_generation_prompt=True
                )
            )
        system = "\n\n".join(m["content"] for m in ex.messages if m["role"] == "system")
        turns = "\n\n".join(
            (PLAIN_USER + m["content"])
            if m["role"] == "user"
            else ("### Assistant:\n" + m["content"])
            for m in ex.messages
            if m["role"] != "system"
        )
        return (system + "\n\n" if system else "") + turns + PLAIN_ASSISTANT

    def answer_text(self, ex: Example, prompt_text: str) -> str:
        """The text the loss is computed on: the golden answer plus end-of-turn."""
        if self.use_chat:
            full = str(
                self.tokenizer.apply_chat_template(
                    [*ex.messages, {"role": "assistant", "content": ex.golden}], tokenize=False
                )
            )
            if full.startswith(prompt_text):
                return full[len(prompt_text) :]
        return ex.golden + self.eos

    def encode(self, examples: Sequence[Example]) -> list[tuple[list[int], list[int]]]:
        """(prompt_ids, answer_ids) for each example, tokenized in one batch call."""
        if not examples:
            return []
        prompts = [self.prompt_text(e) for e in examples]
        answers = [self.answer_text(e, p) for e, p in zip(examples, prompts, strict=True)]
        tok = self.tokenizer
        p_ids = tok(prompts, add_special_tokens=True)["input_ids"]
        a_ids = tok(answers, add_special_tokens=False)["input_ids"]
        return list(zip(p_ids, a_ids, strict=True))


@dataclass
class EncodedSet:
    """Examples with their token ids; what the Dataset and the eval tier use."""

    examples: list[Example]
    prompt_ids: list[list[int]]
    answer_ids: list[list[int]]

    def __len__(self) -> int:
        return len(self.examples)


def encode_examples(
    examples: list[Example], formatter: PromptFormatter, max_length: int, *, on_bad: str = "error"
) -> tuple[EncodedSet, list[tuple[str, str]]]:
    """Tokenize; a record longer than ``max_length`` is an error (or skipped and reported)."""
    kept: list[Example] = []
    p_out: list[list[int]] = []
    a_out: list[list[int]] = []
    skipped: list[tuple[str, str]] = []
    for ex, (p, a) in zip(examples, formatter.encode(examples), strict=True):
        n = len(p) + len(a)
        if n > max_length:
            reason = f"{n} tokens, longer than data.max_length = {max_length}"
            if on_bad != "skip":
                raise DataError(
                    f"{ex.source}: {reason}. Raise data.max_length, shorten the record, "
                    'or set data.on_bad_record = "skip".'
                )
            skipped.append((ex.source, reason))
            continue
        ex.index = len(kept)
        kept.append(ex)
        p_out.append(list(p))
        a_out.append(list(a))
    if not kept:
        # Issue #9: name the file(s), like every other data error (sources are "file:line").
        files = ", ".join(sorted({ex.source.rsplit(":", 1)[0] for ex in examples})) or "the data"
        raise DataError(
            f"{files}: every record is longer than data.max_length = {max_length}; raise data.max_length"
        )
    return EncodedSet(kept, p_out, a_out), skipped


class TokenDataset:
    """A map-style dataset (torch-compatible) of ``{input_ids, labels, idx}`` items."""

    def __init__(self, encoded: EncodedSet) -> None:
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, i: int) -> dict[str, Any]:
        p, a = self.encoded.prompt_ids[i], self.encoded.answer_ids[i]
        return {"input_ids": p + a, "labels": [IGNORE_INDEX] * len(p) + a, "idx": i}


class PadCollator:
    """Right-pads a batch; padding is masked out of attention and loss.

    ``idx`` (dataset positions) and ``n_tokens`` stay plain Python values so
    the Trainer leaves them on the host: the log tier reads them without a
    device sync.
    """

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, it in enumerate(items):
            n = len(it["input_ids"])
            ids[row, :n] = torch.tensor(it["input_ids"], dtype=torch.long)
            labels[row, :n] = torch.tensor(it["labels"], dtype=torch.long)
            mask[row, :n] = 1
        return {
            "input_ids": ids,
            "labels": labels,
            "attention_mask": mask,
            "idx": [int(it["idx"]) for it in items],
            "n_tokens": sum(len(it["input_ids"]) for it in items),
        }


def data_fingerprint(paths: Sequence[str | Path]) -> str:
    """A content hash of the data files (sha256 over their bytes), for resume checks."""
    import hashlib

    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]
