"""Data sources: where records come from, each one named by its location.

``data.train`` / ``data.val`` name one of:

==============================  ===========  ==================================
what                            type         a record's location
==============================  ===========  ==================================
``x.jsonl`` (any other suffix)  ``jsonl``    ``x.jsonl:LINE``
``x.json``: a JSON array        ``json``     ``x.json:LINE`` (where it starts)
``x.json``: one record a line   ``jsonl``    ``x.json:LINE``
``x.parquet``                   ``parquet``  ``x.parquet:ROW``
``x.csv``                       ``csv``      ``x.csv:ROW``
``x.arrow``                     ``arrow``    ``x.arrow:ROW``
a folder of such files          ``folder``   each file's own location
a ``save_to_disk`` folder       ``disk``     ``DIR:ROW`` / ``DIR[split]:ROW``
a hub dataset id                ``hub``      ``id[split]:ROW``
==============================  ===========  ==================================

Lines count from 1 as editors do; rows count from 0 as ``datasets``,
pandas and the hub's viewer do (``ds[ROW]``, ``df.iloc[ROW]``).

JSONL and JSON are read here, with the standard library: that keeps the
exact ``file:line`` of every record (``datasets`` knows rows, not lines), a
record of the wrong type stays one bad record instead of failing the file's
Arrow schema, and plain JSONL loads as fast as it always did. Parquet, CSV,
Arrow, folders and hub ids go through the ``datasets`` library, imported
only when such a source is read (the CLI's ``--help`` and the TUI never pay
for it). No exception of ``datasets`` or ``pyarrow`` escapes: each becomes a
``DataError`` naming the source and what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syllo_train.data import DataError

#: File suffixes and their type; any other file is read as JSONL (as syllo always did).
SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".arrow": "arrow",
}
FILE_TYPES = ("jsonl", "json", "parquet", "csv", "arrow")
#: A hub dataset id as ``load_dataset`` takes it: ``name`` or ``namespace/name``.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


class Bad:
    """A record that could not even be decoded; ``reason`` says why."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass(frozen=True)
class SourceSpec:
    """One source as the config names it."""

    path: str  # data.train / data.val as written
    key: str = "data.train"  # the config key, for messages
    split: str = "train"  # for sources with splits (hub id, DatasetDict folder, folder of files)
    subset: str = ""  # the hub dataset's configuration ("" = its default)
    revision: str = "main"  # the hub dataset's branch, tag or commit


@dataclass
class Source:
    """A resolved source: its type, its files, and (for the hub) the revision that was read."""

    spec: SourceSpec
    type: str
    files: list[Path] = field(default_factory=list)
    revision: str | None = None  # the commit a hub dataset was read at
    _rows: Any = None  # the loaded dataset of a disk or hub source
    label: str = ""  # the location prefix of its rows (disk, hub)
    split_read: bool = False  # spec.split chose what was read (the source has splits)

    def describe(self) -> dict[str, Any]:
        """What ``run_start.data_sources`` and ``validate`` say about it."""
        return {
            "key": self.spec.key,
            "source": self.spec.path,
            "type": self.type,
            "split": self.spec.split if self.split_read else None,
            "revision": self.revision,
        }

    def records(
        self, json_text: Mapping[str, re.Pattern[str]] | None = None
    ) -> Iterator[tuple[str, Any]]:
        """``(location, record)`` for every record; a record that cannot be decoded is a ``Bad``.

        ``json_text``: for CSV files, the columns whose cells hold JSON text
        (a list of messages), with the pattern that marks a cell as JSON.
        """
        if self.type in ("disk", "hub"):
            yield from _dataset_rows(self._rows, self.label, self.spec)
            return
        for path in self.files:
            kind = self.type if self.type in FILE_TYPES else file_type(path)
            if kind == "jsonl":
                yield from _jsonl_records(path)
            elif kind == "json":
                yield from _json_records(path)
            else:
                yield from _columnar_records(path, kind, json_text or {})

    def fingerprint(self, h: Any) -> None:
        """Feed what identifies this source's data into the hash ``h``.

        A plain file feeds its bytes only, exactly as syllo always hashed
        data files, so checkpoints made before other sources existed still resume.
        """
        if self.type in FILE_TYPES:
            _hash_file(h, self.files[0])
            return
        h.update(f"\0{self.type}\0{self.spec.split}\0".encode())
        if self.type == "hub":
            rev = self.revision or getattr(self._rows, "_fingerprint", "")
            h.update(f"{self.spec.path}\0{self.spec.subset}\0{rev}\0".encode())
            return
        root = Path(self.spec.path)
        files = (
            self.files
            if self.type == "folder"
            else sorted(p for p in root.rglob("*") if p.is_file())
        )
        for p in files:
            h.update(str(p.relative_to(root)).encode() + b"\0")
            _hash_file(h, p)


def file_type(path: Path) -> str:
    return SUFFIXES.get(path.suffix.lower(), "jsonl")


def _hash_file(h: Any, path: Path) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)


def data_fingerprint(sources: list[Source]) -> str:
    """A content hash of every source (bytes of files and folders; a hub dataset's revision)."""
    h = hashlib.sha256()
    for s in sources:
        s.fingerprint(h)
    return h.hexdigest()[:16]


# --- resolving ----------------------------------------------------------------------------------


def resolve(spec: SourceSpec) -> Source:
    """What ``spec.path`` names: a file, a folder, a ``save_to_disk`` folder or a hub id."""
    path = Path(spec.path)
    if path.is_file():
        kind = file_type(path)
        if kind == "json" and not _starts_with_array(path):
            kind = "jsonl"  # a .json file of JSON Lines, as datasets reads it too
        return Source(spec, kind, [path])
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return _disk(spec, path)
        return _folder(spec, path)
    if path.exists():
        raise DataError(f"{path}: not a file or a folder ({spec.key})")
    looks_like_file = path.suffix.lower() in SUFFIXES or spec.path.startswith((".", "/", "~"))
    if looks_like_file or not _HUB_ID.match(spec.path):
        raise DataError(f"{path}: no such data file (check data.train / data.val)")
    return _hub(spec)


def _starts_with_array(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 12).lstrip(b" \t\r\n\xef\xbb\xbf")
    except OSError:
        return True  # reading it fails later, with the message for that
    return head.startswith(b"[") or not head


def _datasets() -> Any:
    """``datasets``, imported on first need, quiet: syllo reports what it read itself."""
    import logging

    import datasets

    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity(logging.CRITICAL)
    return datasets


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _folder(spec: SourceSpec, path: Path) -> Source:
    """A folder of data files: its files for ``spec.split``, by ``datasets``' naming rules."""
    ds = _datasets()
    from datasets.data_files import DataFilesDict, get_data_patterns

    try:
        patterns = get_data_patterns(str(path))
        by_split = DataFilesDict.from_patterns(patterns, base_path=str(path))
    except Exception as exc:  # EmptyDatasetError and fsspec's errors alike: say what is there
        raise DataError(
            f"{path}: a folder with no data files ({_first_line(exc)}); put .jsonl, .json, "
            f".parquet, .csv or .arrow files in it, or point {spec.key} at a file"
        ) from None
    splits = [str(s) for s in by_split]
    if spec.split not in splits:
        raise DataError(_no_split(spec, path, splits))
    # Named as the config wrote the folder (datasets resolves them to absolute paths).
    root = path.resolve()
    files = sorted(
        path / Path(f).relative_to(root)
        for f in by_split[ds.NamedSplit(spec.split)]
        if Path(f).suffix.lower() in SUFFIXES
    )
    if not files:
        raise DataError(
            f"{path}: no .jsonl, .json, .parquet, .csv or .arrow file for split {spec.split!r}"
        )
    return Source(spec, "folder", files, split_read=True)


def _no_split(spec: SourceSpec, where: Path | str, splits: list[str]) -> str:
    split_key = "data.val_split" if spec.key == "data.val" else "data.train_split"
    listed = ", ".join(repr(s) for s in splits) or "none"
    return (
        f"{where}: no split {spec.split!r} (its splits: {listed}); set {split_key} to one of them"
    )


def _disk(spec: SourceSpec, path: Path) -> Source:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    ds = _datasets()
    try:
        loaded = ds.load_from_disk(str(path))
    except Exception as exc:  # FileNotFoundError, JSON and Arrow errors of a damaged folder
        raise DataError(
            f"{path}: cannot read it as a save_to_disk folder ({_first_line(exc)})"
        ) from None
    if isinstance(loaded, ds.DatasetDict):
        if spec.split not in loaded:
            raise DataError(_no_split(spec, path, list(loaded)))
        return Source(
            spec, "disk", _rows=loaded[spec.split], label=f"{path}[{spec.split}]", split_read=True
        )
    return Source(spec, "disk", _rows=loaded, label=str(path))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub(spec: SourceSpec) -> Source:
    """A hub dataset id, read with ``load_dataset`` (the hub, or its local cache)."""
    ds = _datasets()
    name = spec.path
    where = f"{spec.key} = {name!r}"
    try:
        loaded = ds.load_dataset(
            name, spec.subset or None, split=spec.split, revision=spec.revision
        )
    except ConnectionError as exc:
        if _offline():
            why = "HF_HUB_OFFLINE is set and the local datasets cache has no copy of it"
        else:
            why = (
                f"the hub could not be reached ({_first_line(exc)}; HF_HUB_OFFLINE=1 fails at once)"
            )
        raise DataError(
            f"{where}: not a local file or folder, so read as a hub dataset id, but {why}. "
            f"Where the hub is reachable, run datasets.load_dataset({name!r}).save_to_disk(DIR), "
            f"bring DIR here and point {spec.key} at it (or fix the path, if it is meant to be a file)"
        ) from None
    except ValueError as exc:
        msg = _first_line(exc)
        if "split" in msg.lower():
            split_key = "data.val_split" if spec.key == "data.val" else "data.train_split"
            raise DataError(f"{where}: {msg}; set {split_key}") from None
        raise DataError(f"{where}: the hub dataset could not be loaded ({msg})") from None
    except Exception as exc:  # DatasetNotFoundError, FileNotFoundError, HTTP errors, Arrow errors
        raise DataError(
            f"{where}: not a local file or folder, and not a hub dataset that could be loaded "
            f"({_first_line(exc)}); check the path or the id"
        ) from None
    cached = [Path(f["filename"]) for f in getattr(loaded, "cache_files", []) if "filename" in f]
    # A hub dataset's cache folder is named after the commit it was read at.
    revision = cached[0].parent.name if cached and _SHA.match(cached[0].parent.name) else None
    if _SHA.match(spec.revision) and revision and revision != spec.revision:
        raise DataError(
            f"{where}: data.revision = {spec.revision!r} was asked for, but the only copy that could be "
            f"read (the local cache) is of revision {revision}; fetch the revision you want, or set "
            "data.revision to it"
        )
    if _offline() and spec.revision != "main" and not _SHA.match(spec.revision):
        raise DataError(
            f"{where}: data.revision = {spec.revision!r} cannot be checked offline (the local cache "
            f"holds revision {revision or 'unknown'}); give the commit id as data.revision"
        )
    return Source(
        spec, "hub", revision=revision, _rows=loaded, label=f"{name}[{spec.split}]", split_read=True
    )


# --- reading --------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such data file (check data.train / data.val)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read data file: {exc.strerror}") from None


def _jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    """One JSON value a line; blank lines count as lines but hold no record.

    orjson parses a line first (the hot path of every JSONL run); a line it
    refuses is parsed again by the standard library, which decides what is
    accepted (NaN, big integers, lone surrogates it reads and the record
    check names) and words the error, as it always did.
    """
    import orjson

    fast, loads = orjson.loads, json.loads
    for lineno, line in enumerate(_read_bytes(path).split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            rec: Any = fast(line)
        except orjson.JSONDecodeError:
            pass
        else:
            yield f"{path}:{lineno}", rec
            continue
        try:
            rec = loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            rec = Bad("not valid UTF-8")
        except ValueError as exc:
            rec = Bad(f"invalid JSON ({exc.args[0] if exc.args else exc})")
        except RecursionError:  # json recurses once per [ or {
            rec = Bad("invalid JSON (nested too deeply)")
        yield f"{path}:{lineno}", rec


_WS = re.compile(r"[ \t\n\r]*")


def _json_records(path: Path) -> Iterator[tuple[str, Any]]:
    """A JSON array of records, each located at the line where it starts; else JSON Lines."""
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")  # a BOM is not part of the array (nor of line 1's count)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}:{line}: not valid UTF-8") from None
    start = _WS.match(text, 0).end()  # type: ignore[union-attr]
    if not text.startswith("[", start):
        yield from _jsonl_records(path)  # in a folder: a .json file of JSON Lines
        return
    decoder = json.JSONDecoder()
    pos, line, counted = start + 1, 1, 0

    def syntax_error(at: int, what: str) -> DataError:
        where = text.count("\n", 0, at) + 1
        return DataError(
            f"{path}:{where}: invalid JSON ({what}); a JSON array cannot be read past a syntax "
            "error, so the whole file is refused: fix it there"
        )

    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith("]", pos):
            break
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            rec, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise syntax_error(exc.pos, exc.msg) from None
        except RecursionError:
            raise syntax_error(pos, "nested too deeply") from None
        yield f"{path}:{line}", rec
        pos = _WS.match(text, end).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("]", pos):
            raise syntax_error(pos, "expected ',' or ']' after an element")
    rest = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    if rest != len(text):
        raise syntax_error(rest, "text after the array's closing ']'")


def _columnar_records(
    path: Path, kind: str, json_text: Mapping[str, re.Pattern[str]]
) -> Iterator[tuple[str, Any]]:
    """Parquet, CSV or Arrow rows through ``datasets``, streamed (nothing cached, nothing copied)."""
    ds = _datasets()
    what = {"parquet": "Parquet", "csv": "CSV", "arrow": "Arrow"}[kind]
    kwargs: dict[str, Any] = {}
    if kind == "csv":
        # Every cell is text, as a CSV file holds it: no 42 → 42.0, no "" or "NA" → missing.
        header = _csv_header(path)
        kwargs = {
            "features": ds.Features({name: ds.Value("string") for name in header}),
            "keep_default_na": False,
            "na_filter": False,
        }
    # datasets takes a lock in its cache folder even when streaming: keep it out of the user's cache.
    with tempfile.TemporaryDirectory(prefix="syllo-datasets-") as cache:
        try:
            rows = ds.load_dataset(
                kind, data_files=str(path), split="train", streaming=True, cache_dir=cache, **kwargs
            )
            for row_no, row in enumerate(rows):
                rec = {k: v for k, v in row.items() if v is not None}
                if kind == "csv" and json_text:  # only CSV cells are text-only
                    _decode_json_cells(rec, json_text)
                yield f"{path}:{row_no}", rec
        except DataError:
            raise
        except Exception as exc:  # ArrowInvalid, pandas' ParserError, UnicodeDecodeError, …
            raise DataError(
                f"{path}: cannot read it as {what} ({_first_line(exc)}); check the file, or give it "
                "the suffix of what it holds (.jsonl, .json, .parquet, .csv, .arrow)"
            ) from None


def _csv_header(path: Path) -> list[str]:
    import csv

    try:
        with open(path, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
    except UnicodeDecodeError:
        raise DataError(f"{path}:1: not valid UTF-8 (a CSV file must be UTF-8 text)") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read it as CSV ({exc})") from None
    if not header or len(set(header)) != len(header):
        raise DataError(
            f"{path}: the CSV file's first line must name its columns, each once (it has {header!r})"
        )
    return header


def _decode_json_cells(rec: dict[str, Any], json_text: Mapping[str, re.Pattern[str]]) -> None:
    """Read the JSON text of nested columns (a CSV cell holds text, not a list of messages)."""
    for key, pattern in json_text.items():
        cell = rec.get(key)
        if isinstance(cell, str) and pattern.match(cell):
            with contextlib.suppress(ValueError, RecursionError):
                rec[key] = json.loads(cell)  # text that is not JSON stays text: the form says why


def _dataset_rows(rows: Any, label: str, spec: SourceSpec) -> Iterator[tuple[str, Any]]:
    try:
        for row_no, row in enumerate(rows):
            yield f"{label}:{row_no}", {k: v for k, v in row.items() if v is not None}
    except Exception as exc:  # a damaged Arrow shard is found only when it is read
        raise DataError(
            f"{label}: cannot read its rows ({_first_line(exc)}); check {spec.key}"
        ) from None
