"""``syllo-train data convert IN OUT``: any source syllo reads, written as chat JSONL.

For people who want to look at what syllo sees: each record as the
conversation syllo trains on, ``{"messages": [...], "metadata": {...}}`` one
a line, the answer last. Every record is read and checked before OUT is
written (to a temporary file, then renamed), so a bad record leaves nothing
behind; ``--on-bad-record skip`` leaves bad records out and counts them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from syllo_train.data import DataError

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _pairs(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=VALUE")
    return name, value


def _parser() -> argparse.ArgumentParser:
    from syllo_train.data.forms import COLUMN_KEYS, FORMS

    p = argparse.ArgumentParser(
        prog="syllo-train data convert",
        description="Write any data source syllo reads (JSONL, JSON, Parquet, CSV, Arrow, a folder, "
        "a save_to_disk folder, a hub dataset id) as chat JSONL: one {messages} record a line, "
        "exactly the conversations syllo trains on.",
    )
    p.add_argument("input", metavar="IN", help="a data file, folder or hub dataset id")
    p.add_argument("output", metavar="OUT", help="the chat JSONL file to write")
    p.add_argument("--format", default="auto", choices=["auto", *FORMS], help="record form")
    p.add_argument(
        "--column",
        dest="columns",
        action="append",
        type=_pairs,
        default=[],
        metavar="SYLLO=YOURS",
        help=f"rename a key, as data.columns (repeatable); syllo's names: {', '.join(COLUMN_KEYS)}",
    )
    p.add_argument(
        "--role",
        dest="roles",
        action="append",
        type=_pairs,
        default=[],
        metavar="YOURS=ROLE",
        help="map a role name to system, user or assistant, as data.roles (repeatable)",
    )
    p.add_argument("--split", default="train", help="split, for a source with splits")
    p.add_argument("--subset", default="", help="a hub dataset's configuration")
    p.add_argument("--revision", default="main", help="a hub dataset's branch, tag or commit")
    p.add_argument(
        "--system-prompt", default="", help="system turn for prompt/completion and Alpaca records"
    )
    p.add_argument("--on-bad-record", choices=["error", "skip"], default="error")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    return p


def main(argv: list[str] | None = None) -> int:
    """Convert; 0 on success, 2 on bad input (nothing written)."""
    from syllo_train.data.forms import COLUMN_KEYS, ROLES
    from syllo_train.data.records import ReadOptions, load_source
    from syllo_train.data.sources import SourceSpec

    parser = _parser()
    args = parser.parse_args(argv)
    out = Path(args.output)
    for name, _ in args.columns:
        if name not in COLUMN_KEYS:
            parser.error(f"--column {name}=…: {name!r} is not one of {', '.join(COLUMN_KEYS)}")
    for name, role in args.roles:
        if role not in ROLES:
            parser.error(f"--role {name}={role}: the role must be one of {', '.join(ROLES)}")
    if Path(args.input).exists() and out.resolve() == Path(args.input).resolve():
        parser.error("OUT is the input itself; write somewhere else")
    if out.exists() and not args.force:
        parser.error(f"{out} exists; use --force to overwrite it")
    options = ReadOptions(
        args.format, dict(args.columns), dict(args.roles), args.system_prompt, args.on_bad_record
    )
    spec = SourceSpec(args.input, "IN", args.split, args.subset, args.revision)
    try:
        report = load_source(spec, options)
    except DataError as exc:
        message = str(exc).replace('set data.on_bad_record = "skip"', "use --on-bad-record skip")
        print(f"syllo-train: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    tmp = ""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for ex in report.examples:
                rec: dict[str, object] = {
                    "messages": [*ex.messages, {"role": "assistant", "content": ex.golden}]
                }
                if ex.metadata:
                    rec["metadata"] = ex.metadata
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
    except OSError as exc:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        print(f"syllo-train: error: {out}: cannot write it ({exc.strerror})", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{report.summary()}; wrote {len(report.examples)} chat records to {out}")
    return EXIT_OK
