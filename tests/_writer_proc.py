"""A separate writer process for the stream tests.

Usage: ``python _writer_proc.py TARGET`` where TARGET is a file path or ``-``
(write to stdout). Reads one JSON command a line on stdin and answers ``ok``
(or ``error: ...``) on stderr after each, so the test knows the bytes are in
the file before it polls. Commands::

    {"op": "append", "hex": "..."}    one os.write of those bytes (O_APPEND, like EventWriter)
    {"op": "truncate"}                cut the file to 0 bytes (the fd stays open)
    {"op": "replace", "hex": "..."}   write a temp file next to it, os.replace it over
    {"op": "delete"}                  unlink the path
    {"op": "close"}                   close the output (for "-": end of stream)
    {"op": "exit"}
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    target = sys.argv[1]
    fd: int | None = 1 if target == "-" else None

    def out_fd() -> int:
        nonlocal fd
        if fd is None:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return fd

    for raw in sys.stdin:
        cmd = json.loads(raw)
        op = cmd["op"]
        try:
            if op == "append":
                data = bytes.fromhex(cmd["hex"])
                written = os.write(out_fd(), data)
                if written != len(data):
                    raise OSError(f"short write: {written} of {len(data)}")
            elif op == "truncate":
                os.truncate(target, 0)
            elif op == "replace":
                tmp = target + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(bytes.fromhex(cmd["hex"]))
                os.replace(tmp, target)
                if fd is not None:
                    os.close(fd)
                    fd = None
            elif op == "delete":
                os.unlink(target)
                if fd is not None:
                    os.close(fd)
                    fd = None
            elif op == "close":
                if fd is not None:
                    os.close(fd)
                    fd = None
            elif op == "exit":
                sys.stderr.write("ok\n")
                sys.stderr.flush()
                return 0
            else:
                raise ValueError(f"unknown op {op!r}")
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"error: {exc!r}\n")
            sys.stderr.flush()
            return 1
        sys.stderr.write("ok\n")
        sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
