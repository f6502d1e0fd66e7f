"""Records → examples: one conversation each, every bad record named ``file:line``.

Two record forms are accepted, one JSON object a line:

* chat: ``{"messages": [{"role": "system"?}, {"role": "user"}, …, {"role": "assistant"}], "metadata": {…}}``
  — the prompt is every turn before the final assistant turn, the golden
  answer is that final assistant turn (earlier assistant turns train too,
  see ``data.train_on`` in syllo_train/data/encode.py);
* ``{"prompt": "…", "completion": "…"}``.

How an example becomes token ids and labels is syllo_train/data/encode.py's job.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syllo_train.data import DataError


@dataclass
class Example:
    """One training or validation example, before tokenization."""

    index: int  # position in its dataset (stable: used to find the text of a trained example)
    prompt: str  # the last user turn (what a person reads as "the prompt")
    golden: str  # the answer the model should produce
    messages: list[dict[str, str]]  # every turn before the answer (system/user/assistant…)
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
    meta: dict[str, Any] = rec["metadata"] if isinstance(rec.get("metadata"), dict) else {}
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
            # Found by fuzzing: JSON can spell a lone surrogate (\ud800); the tokenizer then
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
        except RecursionError:  # found by fuzzing: json recurses once per [ or {
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


def data_fingerprint(paths: Sequence[str | Path]) -> str:
    """A content hash of the data files (sha256 over their bytes), for resume checks."""
    import hashlib

    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]
