"""Records → examples: one conversation each, every bad record named by its location.

A source (syllo_train/data/sources.py: a JSONL, JSON, Parquet, CSV or Arrow
file, a folder, a ``save_to_disk`` folder, a hub dataset id) gives records;
a record form (syllo_train/data/forms.py: chat ``messages``,
``prompt``/``completion``, TRL's conversational prompt-completion, ShareGPT,
Alpaca) turns each into a conversation — the prompt is every turn before the
final assistant turn, the golden answer is that final turn (earlier
assistant turns train too, see ``data.train_on`` in
syllo_train/data/encode.py). A bad record is named ``file:line``,
``file:row`` or ``id[split]:row`` with the reason.

How an example becomes token ids and labels is syllo_train/data/encode.py's job.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syllo_train.data import DataError
from syllo_train.data.forms import FormReader
from syllo_train.data.sources import Bad, Source, SourceSpec, resolve
from syllo_train.data.sources import data_fingerprint as sources_fingerprint

if TYPE_CHECKING:
    from syllo_train.config import DataConfig


@dataclass
class Example:
    """One training or validation example, before tokenization."""

    index: int  # position in its dataset (stable: used to find the text of a trained example)
    prompt: str  # the last user turn (what a person reads as "the prompt")
    golden: str  # the answer the model should produce
    messages: list[dict[str, str]]  # every turn before the answer (system/user/assistant…)
    source: str  # its location ("file:line", "file:row", "id[split]:row"), for messages
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadReport:
    """What loading a source found: the good examples and the skipped records."""

    examples: list[Example]
    skipped: list[tuple[str, str]]  # (location, reason)
    source: Source | None = None
    forms: dict[str, int] = field(default_factory=dict)  # records read per form

    def describe(self) -> dict[str, Any]:
        """The source, its forms and counts (``run_start.data_sources``, ``validate``)."""
        described = self.source.describe() if self.source else {}
        return described | {
            "forms": dict(self.forms),
            "records": len(self.examples),
            "skipped": len(self.skipped),
        }

    def summary(self) -> str:
        """One line for train.log and ``validate``: where, what type, which forms, how many."""
        d = self.describe()
        extra = "".join(f", {k} {d[k]}" for k in ("split", "revision") if d.get(k) is not None)
        if len(self.forms) == 1:
            forms = next(iter(self.forms))
        else:
            forms = " + ".join(f"{f} {n}" for f, n in sorted(self.forms.items()))
        return (
            f"{d.get('key', 'data')}: {d.get('source', '?')} ({d.get('type', '?')}{extra}, {forms}): "
            f"{d['records']} records ok, {d['skipped']} skipped"
        )


@dataclass(frozen=True)
class ReadOptions:
    """How records are read: the config's ``data.format``, ``columns``, ``roles``, ``system_prompt``."""

    form: str = "auto"
    columns: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)
    system_prompt: str = ""
    on_bad: str = "error"

    def reader(self) -> FormReader:
        return FormReader(
            self.form, columns=self.columns, roles=self.roles, system_prompt=self.system_prompt
        )


def load_source(spec: SourceSpec, options: ReadOptions = ReadOptions()) -> LoadReport:
    """Read every record of a source into examples.

    A bad record raises DataError naming its location unless ``on_bad`` is
    ``"skip"``, in which case it is counted in the report and left out.
    """
    source = resolve(spec)
    reader = options.reader()
    skip = options.on_bad == "skip"
    examples: list[Example] = []
    skipped: list[tuple[str, str]] = []
    forms: Counter[str] = Counter()
    json_text = reader.json_text_columns() if source.type in ("csv", "folder") else None
    for location, rec in source.records(json_text):
        conv = reader.read(rec) if not isinstance(rec, Bad) else rec.reason
        if isinstance(conv, str):
            if not skip:
                raise DataError(
                    f'{location}: {conv}. Fix the record, or set data.on_bad_record = "skip" to skip bad records.'
                )
            skipped.append((location, conv))
            continue
        forms[conv.form] += 1
        turns = conv.turns
        examples.append(
            Example(
                len(examples),
                conv.prompt,
                turns[-1]["content"],
                turns[:-1],
                location,
                conv.metadata,
            )
        )
    if not examples:
        raise DataError(
            f"{spec.path}: no usable records (records in one of the forms of docs/data.md are expected: "
            "chat 'messages', 'prompt'/'completion', ShareGPT 'conversations', Alpaca 'instruction'/'output')"
        )
    return LoadReport(examples, skipped, source, dict(forms))


def read_options(d: DataConfig) -> ReadOptions:
    """The config's ``[data]`` keys that decide how records are read."""
    return ReadOptions(d.format, d.columns, d.roles, d.system_prompt, d.on_bad_record)


def data_specs(d: DataConfig) -> list[SourceSpec]:
    """``data.train`` and (when set) ``data.val``, with their splits, subset and revision."""
    specs = [SourceSpec(d.train, "data.train", d.train_split, d.subset, d.revision)]
    if d.val:
        specs.append(SourceSpec(d.val, "data.val", d.val_split, d.subset, d.revision))
    return specs


def load_examples(
    path: str | Path, *, on_bad: str = "error", system_prompt: str = ""
) -> LoadReport:
    """Read one local file or folder with the default options (``load_source`` for the rest)."""
    return load_source(
        SourceSpec(str(path)), ReadOptions(system_prompt=system_prompt, on_bad=on_bad)
    )


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


def data_fingerprint(sources: Sequence[Source | str | Path]) -> str:
    """A content hash of the data (a file's bytes, a folder's files, a hub dataset's revision), for resume checks."""
    resolved = [s if isinstance(s, Source) else resolve(SourceSpec(str(s))) for s in sources]
    return sources_fingerprint(resolved)
