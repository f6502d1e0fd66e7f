"""Write a JSON file so that readers see the old file or the new one, never a mix. Pure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson


def write_json_atomic(path: str | os.PathLike[str], data: Any, *, fsync: bool = False) -> None:
    """Write ``data`` as JSON to ``path``: a temp file in the same folder, renamed over.

    ``fsync`` makes the new content durable before the rename; it costs a
    disk flush, so it is used where durability is worth a stall (checkpoint
    markers, the snapshot at a checkpoint and at the end).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = orjson.dumps(
        data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
    )
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if fsync:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
