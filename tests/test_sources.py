"""data/sources.py: every record form in every file type, each bad record located literally.

The files are written here with the libraries people write them with
(``json``, ``csv``, ``pyarrow``, ``datasets``), then read back through
``load_source``, the one loader ``run`` and ``validate`` use.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _support import SUBPROCESS_ENV

from syllo_train.data import DataError
from syllo_train.data.records import ReadOptions, data_fingerprint, load_source
from syllo_train.data.sources import SourceSpec, resolve


def _msgs(*turns: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in turns]


def _sg(*turns: tuple[str, str]) -> list[dict[str, str]]:
    return [{"from": r, "value": c} for r, c in turns]


# form: (three good records, one bad record, its reason, the first good record as turns)
FORMS: dict[str, tuple[list[dict[str, Any]], dict[str, Any], str, list[dict[str, str]]]] = {
    "chat": (
        [
            {"messages": _msgs(("system", "be brief"), ("user", f"q{i}"), ("assistant", f"a{i}"))}
            for i in range(3)
        ],
        {"messages": _msgs(("system", "be brief"), ("user", "q"), ("user", "again"))},
        "the last message must be the assistant's answer (role 'assistant')",
        _msgs(("system", "be brief"), ("user", "q0"), ("assistant", "a0")),
    ),
    "prompt_completion": (
        [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(3)],
        {"prompt": "q", "completion": "  "},
        "the answer is empty",
        _msgs(("user", "q0"), ("assistant", "a0")),
    ),
    "chat_prompt_completion": (
        [
            {"prompt": _msgs(("user", f"q{i}")), "completion": _msgs(("assistant", f"a{i}"))}
            for i in range(3)
        ],
        {"prompt": _msgs(("user", "q")), "completion": _msgs(("user", "a"))},
        "completion[0] has role 'user': the completion holds the assistant's answer (role 'assistant')",
        _msgs(("user", "q0"), ("assistant", "a0")),
    ),
    "sharegpt": (
        [
            {"conversations": _sg(("system", "be brief"), ("human", f"q{i}"), ("gpt", f"a{i}"))}
            for i in range(3)
        ],
        {"conversations": _sg(("system", "be brief"), ("human", "q"), ("robot", "a"))},
        "conversations[2] has unknown role 'robot' (use human, gpt or system (or user, assistant), "
        "or map it with data.roles)",
        _msgs(("system", "be brief"), ("user", "q0"), ("assistant", "a0")),
    ),
    "alpaca": (
        [
            {"instruction": f"do {i}", "input": f"x{i}", "output": f"a{i}", "system": "s"}
            for i in range(3)
        ],
        {"instruction": "", "input": "", "output": "a", "system": "s"},
        "the prompt is empty",
        _msgs(("system", "s"), ("user", "do 0\nx0"), ("assistant", "a0")),
    ),
}


def _records(form: str) -> list[dict[str, Any]]:
    """Two good records, the bad one (third), a good one: the bad record is row 2 of a table."""
    good, bad, _, _ = FORMS[form]
    return [good[0], good[1], bad, good[2]]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> str:
    """A blank line before the bad record: lines, not records, are counted."""
    lines = [json.dumps(r) for r in records]
    path.write_text("\n".join([*lines[:2], "", *lines[2:]]) + "\n", encoding="utf-8")
    return f"{path}:4"


def write_json(path: Path, records: list[dict[str, Any]]) -> str:
    """One element a line, then the bad one spread over lines: it is named where it starts."""
    first = ",\n".join(json.dumps(r) for r in records[:2])
    rest = ",\n".join(json.dumps(r, indent=2) for r in records[2:])
    path.write_text(f"[\n{first},\n{rest}\n]\n", encoding="utf-8")
    return f"{path}:4"


def write_parquet(path: Path, records: list[dict[str, Any]]) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(records), path)
    return f"{path}:2"


def write_arrow(path: Path, records: list[dict[str, Any]]) -> str:
    """An Arrow IPC stream, as ``datasets`` writes its .arrow files."""
    import pyarrow as pa

    table = pa.Table.from_pylist(records)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return f"{path}:2"


def write_csv(path: Path, records: list[dict[str, Any]]) -> str:
    """Nested values (a list of messages) as JSON text in their cells: a CSV cell holds text."""
    names = list(dict.fromkeys(k for r in records for k in r))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(names)
        for r in records:
            out.writerow(
                [json.dumps(r[k]) if isinstance(r.get(k), list) else r.get(k, "") for k in names]
            )
    return f"{path}:2"


WRITERS: dict[str, tuple[str, Callable[[Path, list[dict[str, Any]]], str]]] = {
    "jsonl": (".jsonl", write_jsonl),
    "json": (".json", write_json),
    "parquet": (".parquet", write_parquet),
    "csv": (".csv", write_csv),
    "arrow": (".arrow", write_arrow),
}


@pytest.mark.parametrize("file_type", list(WRITERS))
@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_in_every_file_type(tmp_path: Path, form: str, file_type: str) -> None:
    suffix, write = WRITERS[file_type]
    path = tmp_path / f"data{suffix}"
    location = write(path, _records(form))
    _, _, reason, first = FORMS[form]
    with pytest.raises(DataError) as err:
        load_source(SourceSpec(str(path)))
    assert str(err.value) == (
        f'{location}: {reason}. Fix the record, or set data.on_bad_record = "skip" to skip bad records.'
    )
    report = load_source(SourceSpec(str(path)), ReadOptions(on_bad="skip"))
    assert report.skipped == [(location, reason)]
    assert report.forms == {form: 3}
    assert report.source is not None and report.source.type == file_type
    ex = report.examples[0]
    assert [*ex.messages, {"role": "assistant", "content": ex.golden}] == first
    assert ex.prompt == next(t["content"] for t in reversed(first) if t["role"] == "user")
    # The forced form reads the same records the same way.
    forced = load_source(SourceSpec(str(path)), ReadOptions(form=form, on_bad="skip"))
    assert [e.messages for e in forced.examples] == [e.messages for e in report.examples]


def test_a_dataset_saved_with_save_to_disk(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    Dataset.from_list(_records("sharegpt")).save_to_disk(str(tmp_path / "one"))
    DatasetDict(
        {
            "train": Dataset.from_list(_records("alpaca")),
            "test": Dataset.from_list(FORMS["alpaca"][0]),
        }
    ).save_to_disk(str(tmp_path / "dict"))
    one = tmp_path / "one"
    with pytest.raises(DataError, match=rf"^{one}:2: conversations\[2\] has unknown role 'robot'"):
        load_source(SourceSpec(str(one)))
    report = load_source(SourceSpec(str(one)), ReadOptions(on_bad="skip"))
    assert report.describe() | {"source": ""} == {
        "key": "data.train",
        "source": "",
        "type": "disk",
        "split": None,
        "revision": None,
        "forms": {"sharegpt": 3},
        "records": 3,
        "skipped": 1,
    }
    folder = tmp_path / "dict"
    with pytest.raises(DataError, match=rf"^{folder}\[train\]:2: the prompt is empty"):
        load_source(SourceSpec(str(folder)))
    test = load_source(SourceSpec(str(folder), "data.val", split="test"))
    assert len(test.examples) == 3 and test.skipped == [] and test.describe()["split"] == "test"
    with pytest.raises(DataError) as err:
        load_source(SourceSpec(str(folder), "data.val", split="validation"))
    assert str(err.value) == (
        f"{folder}: no split 'validation' (its splits: 'train', 'test'); "
        "set data.val_split to one of them"
    )


def test_a_folder_of_split_named_files(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    write_parquet(folder / "train.parquet", _records("chat"))
    write_jsonl(folder / "test.jsonl", _records("prompt_completion"))
    (folder / "README.md").write_text("not data\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{folder / 'train.parquet'}:2: the last message"):
        load_source(SourceSpec(str(folder)))
    with pytest.raises(DataError, match=rf"^{folder / 'test.jsonl'}:4: the answer is empty"):
        load_source(SourceSpec(str(folder), split="test"))
    report = load_source(SourceSpec(str(folder), split="test"), ReadOptions(on_bad="skip"))
    assert report.summary() == (
        f"data.train: {folder} (folder, split test, prompt_completion): 3 records ok, 1 skipped"
    )


def _hub_cache(cache: Path, repo_id: str, sha: str, records: list[dict[str, Any]]) -> None:
    """What ``load_dataset(repo_id)`` leaves in the datasets cache: ns___name/default/0.0.0/<commit>.

    Built by the json builder ``load_dataset`` itself uses for a hub repo of
    JSON files, then placed where a download of that commit would be.
    """
    from datasets.packaged_modules.json.json import Json

    src = cache.parent / "hub-src.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    namespace, name = repo_id.split("/")
    builder = Json(
        cache_dir=str(cache.parent / "build"), dataset_name=name, hash=sha, data_files=str(src)
    )
    builder.download_and_prepare()
    shutil.copytree(builder.cache_dir, cache / f"{namespace}___{name}" / "default" / "0.0.0" / sha)


HUB_PROBE = """
import json, sys
from syllo_train.data import DataError
from syllo_train.data.records import ReadOptions, load_source
from syllo_train.data.sources import SourceSpec
spec = SourceSpec(sys.argv[1], split=sys.argv[2], revision=sys.argv[3])
try:
    r = load_source(spec, ReadOptions(on_bad="skip"))
except DataError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({"describe": r.describe(), "skipped": r.skipped, "golden": r.examples[0].golden}))
"""


def _hub(tmp_path: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, **SUBPROCESS_ENV, "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    env.pop("HF_HOME", None)
    out = subprocess.run(
        [sys.executable, "-c", HUB_PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_a_hub_id_reads_the_local_cache_offline_and_names_its_revision(tmp_path: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    _hub_cache(tmp_path / "cache", "syllo-test/alpaca-mini", sha, _records("alpaca"))
    got = _hub(tmp_path, "syllo-test/alpaca-mini", "train", "main")
    assert got["describe"] == {
        "key": "data.train",
        "source": "syllo-test/alpaca-mini",
        "type": "hub",
        "split": "train",
        "revision": sha,
        "forms": {"alpaca": 3},
        "records": 3,
        "skipped": 1,
    }
    assert got["skipped"] == [["syllo-test/alpaca-mini[train]:2", "the prompt is empty"]]
    assert got["golden"] == "a0"
    # A commit the cache does not hold is not silently replaced by the one it does.
    other = "f" * 40
    assert got["describe"]["revision"] != other
    wrong = _hub(tmp_path, "syllo-test/alpaca-mini", "train", other)["error"]
    assert f"data.revision = '{other}' was asked for" in wrong and sha in wrong
    missing = _hub(tmp_path, "syllo-test/alpaca-mini", "validation", "main")["error"]
    assert missing.startswith("data.train = 'syllo-test/alpaca-mini': Unknown split")


def test_a_hub_id_offline_and_not_cached_is_one_clear_line(tmp_path: Path) -> None:
    got = _hub(tmp_path, "someone/not-here", "train", "main")["error"]
    assert got == (
        "data.train = 'someone/not-here': not a local file or folder, so read as a hub dataset id, "
        "but HF_HUB_OFFLINE is set and the local datasets cache has no copy of it. Where the hub is "
        "reachable, run datasets.load_dataset('someone/not-here').save_to_disk(DIR), bring DIR here "
        "and point data.train at it (or fix the path, if it is meant to be a file)"
    )
    assert "\n" not in got


def test_a_missing_file_is_not_taken_for_a_hub_id(tmp_path: Path) -> None:
    for name in ("data/train.parquet", "./train", str(tmp_path / "x.csv")):
        with pytest.raises(DataError, match="no such data file"):
            resolve(SourceSpec(name))


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        ("bad.parquet", b"PAR1 not really", "bad.parquet: cannot read it as Parquet ("),
        ("bad.arrow", b"\x00\x01 not arrow", "bad.arrow: cannot read it as Arrow ("),
        ("latin1.csv", b"prompt,completion\ncaf\xe9,x\n", "latin1.csv:1: not valid UTF-8"),
        ("ragged.csv", b'prompt,completion\n"a,b\n', "ragged.csv: cannot read it as CSV ("),
        ("dup.csv", b"prompt,prompt\na,b\n", "dup.csv: the CSV file's first line must name"),
        ("broken.json", b'[{"prompt": "a",\n "completion": }]', "broken.json:2: invalid JSON ("),
        ("trail.json", b'[{"prompt": "a", "completion": "b"}] x', "trail.json:1: invalid JSON ("),
        ("latin1.json", b'[\n{"prompt": "caf\xe9"}]', "latin1.json:2: not valid UTF-8"),
    ],
)
def test_an_unreadable_file_is_a_data_error_not_a_traceback(
    tmp_path: Path, name: str, content: bytes, expect: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        load_source(SourceSpec(str(path)), ReadOptions(on_bad="skip"))
    assert str(err.value).startswith(f"{tmp_path}/{expect}"), str(err.value)


def test_a_damaged_save_to_disk_folder_is_a_data_error(tmp_path: Path) -> None:
    from datasets import Dataset

    folder = tmp_path / "saved"
    Dataset.from_list(_records("chat")).save_to_disk(str(folder))
    (folder / "state.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{folder}: cannot read it as a save_to_disk folder \("):
        load_source(SourceSpec(str(folder)))


def test_a_json_file_of_json_lines_is_read_as_lines(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    write_jsonl(path, _records("prompt_completion"))
    report = load_source(SourceSpec(str(path)), ReadOptions(on_bad="skip"))
    assert report.skipped == [(f"{path}:4", "the answer is empty")]
    assert report.source is not None and report.source.type == "jsonl"


def test_the_fingerprint_follows_every_source(tmp_path: Path) -> None:
    parquet = tmp_path / "d.parquet"
    write_parquet(parquet, _records("sharegpt"))
    before = data_fingerprint([parquet])
    write_parquet(parquet, _records("sharegpt")[:3])
    assert data_fingerprint([parquet]) != before
    # A plain file is hashed by its bytes alone, as before other sources existed.
    import hashlib

    jsonl = tmp_path / "d.jsonl"
    write_jsonl(jsonl, _records("chat"))
    assert data_fingerprint([jsonl]) == hashlib.sha256(jsonl.read_bytes()).hexdigest()[:16]
    from datasets import Dataset

    saved = tmp_path / "saved"
    Dataset.from_list(FORMS["chat"][0]).save_to_disk(str(saved))
    first = data_fingerprint([saved])
    Dataset.from_list(FORMS["chat"][0][:2]).save_to_disk(str(saved))
    assert data_fingerprint([saved]) != first
