"""The event contract between the trainer and every reader.

One JSON object a line (NDJSON), UTF-8, ``\\n``-terminated, appended whole with a
single ``write`` call. This module is the single definition of that contract:
the schema version, every event type with its fields, the cumulative counters,
the text cap, and the writer. It imports only the standard library and orjson
so that the TUI (and any script) can use it without paying for torch.

``docs/events.md`` documents the same contract for humans; a test keeps the two
in step.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import orjson

#: Bumped, together with docs/events.md, on any change to the published
#: contract: a field or type added, removed or changing meaning. Version 1 is
#: the first published contract; 2 added ``run_start.tokenization`` and
#: ``eval.samples[].think_opened`` and redefined the log example's token counts.
#: Readers must accept unknown fields and unknown types whatever the version.
SCHEMA_VERSION = 2

#: The output folder's files (``output.dir``): their names are part of the contract,
#: spelled here only.
EVENTS_FILE = "events.jsonl"  # this contract: one event a line
SNAPSHOT_FILE = "training_status.json"  # the status snapshot (sinks/snapshot.py)
HUMAN_LOG_FILE = "train.log"  # the human log (sinks/humanlog.py)

#: Default cap on long texts (prompt, golden, output, traceback), in characters.
DEFAULT_MAX_TEXT_CHARS = 4000

#: Appended to a capped text so a human sees it was cut; the sibling
#: ``<field>_cut`` key carries the original length for programs.
CUT_MARKER = "…[cut]"

# A field spec: (allowed JSON types, nullable). "number" accepts int and float.
_T = tuple[tuple[type, ...], bool]
_STR: _T = ((str,), False)
_STR_N: _T = ((str,), True)
_NUM: _T = ((int, float), False)
_NUM_N: _T = ((int, float), True)
_INT: _T = ((int,), False)
_INT_N: _T = ((int,), True)
_BOOL: _T = ((bool,), False)
_BOOL_N: _T = ((bool,), True)
_DICT: _T = ((dict,), False)
_DICT_N: _T = ((dict,), True)
_LIST: _T = ((list,), False)

#: Fields every event carries.
COMMON_FIELDS: dict[str, _T] = {
    "v": _INT,
    "type": _STR,
    "ts": _NUM,
    "run_id": _STR,
    "step": _INT,
}

#: Required fields of each event type (beyond COMMON_FIELDS). Writers may add
#: more; readers must ignore fields they do not know.
EVENT_FIELDS: dict[str, dict[str, _T]] = {
    "run_start": {
        "config": _DICT,
        "model": _STR,
        "params_total": _INT,
        "params_trainable": _INT,
        "train_examples": _INT,
        "val_examples": _INT_N,  # null: not known at the start (SylloCallback, Run)
        "eval_prompts": _INT,
        "max_steps": _INT,
        "world_size": _INT,
        "resumed_from": _STR_N,
        "device": _STR,
        "pid": _INT,
        "versions": _DICT,
    },
    "log": {
        "total_steps": _INT,
        "epoch": _NUM,
        "loss": _NUM_N,
        "lr": _NUM_N,
        "grad_norm": _NUM_N,
        "steps_per_s": _NUM_N,
        "tokens_per_s": _NUM_N,
        "eta_s": _NUM_N,
        "elapsed_s": _NUM,
        "peak_mem_bytes": _INT_N,
        "mem_kind": _STR,
        "example": _DICT_N,
        "counters": _DICT,
    },
    "eval": {
        "total_steps": _INT,
        "epoch": _NUM,
        "val_loss": _NUM_N,
        "train_loss": _NUM_N,
        "gap": _NUM_N,
        "accuracy": _NUM_N,
        "samples": _LIST,
        "seconds": _NUM,
        "counters": _DICT,
    },
    "timeout": {
        "sample": _INT,
        "limit_s": _NUM,
        "elapsed_s": _NUM,
        "tokens": _INT,
        "partial": _STR_N,
        "stall": _BOOL,
        "counters": _DICT,
    },
    "checkpoint": {
        "path": _STR,
        "seconds": _NUM,
        "counters": _DICT,
    },
    "resume": {
        "from_checkpoint": _STR_N,
        "reason": _STR,
    },
    "run_end": {
        "status": _STR,
        "reason": _STR_N,
        "elapsed_s": _NUM,
        "counters": _DICT,
    },
    "error": {
        "error_type": _STR,
        "message": _STR,
        "traceback": _STR_N,
    },
    "anomaly": {
        "kind": _STR,
        "value": _NUM_N,
        "threshold": _NUM_N,
        "examples": _LIST,
        "counters": _DICT,
    },
}

#: ``anomaly.kind``: a raw per-step value that was not finite, or a loss far above its running level.
ANOMALY_KINDS = ("nonfinite_loss", "nonfinite_grad_norm", "loss_spike")

EVENT_TYPES: tuple[str, ...] = tuple(EVENT_FIELDS)

#: Fields of the ``example`` object on a ``log`` event (log tier: no output).
LOG_EXAMPLE_FIELDS: dict[str, _T] = {
    "index": _INT_N,  # null: a row of someone else's Trainer batch (SylloCallback), no record
    "prompt": _STR,
    "golden": _STR,
    "prompt_tokens": _INT,
    "golden_tokens": _INT,
    "loss": _NUM_N,
}

#: Fields of each entry of ``samples`` on an ``eval`` event.
EVAL_SAMPLE_FIELDS: dict[str, _T] = {
    "sample": _INT,
    "index": _INT,
    "prompt": _STR,
    "golden": _STR,
    "output": _STR_N,
    "match": _BOOL_N,
    "prompt_tokens": _INT,
    "golden_tokens": _INT,
    "output_tokens": _INT,
    "seconds": _NUM,
    "timed_out": _BOOL,
}

RUN_END_STATUSES = ("completed", "stopped", "failed")

#: Keys whose string values are capped at the writer's text limit.
TEXT_KEYS = frozenset({"prompt", "golden", "output", "partial", "traceback", "message"})


@dataclass
class Counters:
    """Cumulative counters that ride on every log/eval/timeout/checkpoint/run_end.

    They make the tail of the file self-sufficient: the state of a run can be
    rebuilt from its last few events without reading the whole file.
    """

    generations: int = 0  # eval generations attempted (timeouts included)
    timeouts: int = 0  # generations cut off by the time limit (stalls included)
    stalls: int = 0  # timeouts where one forward pass itself ran past the limit
    evals: int = 0  # eval rounds completed
    matches: int = 0  # generations whose output matched the golden answer
    checkpoints: int = 0  # checkpoints saved
    dropped_events: int = 0  # events the writer could not write (disk full, …)
    anomalies: int = 0  # anomaly events: non-finite losses or grad norms, loss spikes

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timeout_pct"] = (
            round(100.0 * self.timeouts / self.generations, 2) if self.generations else 0.0
        )
        d["accuracy"] = round(self.matches / self.generations, 4) if self.generations else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Counters:
        """Rebuild counters from an event's ``counters`` object (unknown keys ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in d.items() if k in known and isinstance(v, int)})


COUNTER_FIELDS: tuple[str, ...] = (*(f.name for f in fields(Counters)), "timeout_pct", "accuracy")

#: Counters added after v1: written on every event, but an older file lacks them (read as 0).
LATER_COUNTERS = frozenset({"anomalies"})


def cap_text(text: str, limit: int) -> tuple[str, int | None]:
    """Cap ``text`` at ``limit`` characters.

    Returns the (possibly cut) text and the original length when it was cut,
    else None. The cut text ends with CUT_MARKER and is at most ``limit`` long.
    """
    if limit <= 0 or len(text) <= limit:
        return text, None
    keep = max(0, limit - len(CUT_MARKER))
    return text[:keep] + CUT_MARKER, len(text)


def cap_texts(obj: Any, limit: int) -> Any:
    """Return a copy of ``obj`` with every TEXT_KEYS string capped.

    A capped key ``k`` gets a sibling ``k_cut`` holding the original length.
    """
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key in TEXT_KEYS and isinstance(value, str):
                capped, original = cap_text(value, limit)
                out[key] = capped
                if original is not None:
                    out[f"{key}_cut"] = original
            else:
                out[key] = cap_texts(value, limit)
        return out
    if isinstance(obj, list):
        # Long lists of plain values (a log example's token view) are copied, not walked.
        return [cap_texts(v, limit) if isinstance(v, (dict, list)) else v for v in obj]
    return obj


def _check_fields(obj: Mapping[str, Any], spec: Mapping[str, _T], where: str) -> list[str]:
    problems = []
    for name, (types, nullable) in spec.items():
        if name not in obj:
            problems.append(f"{where}: missing field {name!r}")
            continue
        value = obj[name]
        if value is None:
            if not nullable:
                problems.append(f"{where}: field {name!r} is null")
            continue
        # bool is an int subclass: keep the two apart.
        if isinstance(value, bool) and bool not in types:
            problems.append(f"{where}: field {name!r} is a bool")
        elif not isinstance(value, types):
            problems.append(f"{where}: field {name!r} has type {type(value).__name__}")
    return problems


def validate_event(event: Any) -> list[str]:
    """Check one decoded event against the contract; return the problems (empty = valid).

    Unknown event types are valid if their common fields are (readers skip them).
    """
    if not isinstance(event, dict):
        return ["event is not a JSON object"]
    problems = _check_fields(event, COMMON_FIELDS, "event")
    etype = event.get("type")
    spec = EVENT_FIELDS.get(etype) if isinstance(etype, str) else None
    if spec is None:
        return problems
    where = f"{etype}"
    problems += _check_fields(event, spec, where)
    counters = event.get("counters")
    if "counters" in spec and isinstance(counters, dict):
        for name in COUNTER_FIELDS:
            if name not in counters and name not in LATER_COUNTERS:
                problems.append(f"{where}: counters missing {name!r}")
    if etype == "log" and isinstance(event.get("example"), dict):
        problems += _check_fields(event["example"], LOG_EXAMPLE_FIELDS, "log.example")
    if etype == "eval" and isinstance(event.get("samples"), list):
        for i, sample in enumerate(event["samples"]):
            if not isinstance(sample, dict):
                problems.append(f"eval.samples[{i}] is not an object")
                continue
            problems += _check_fields(sample, EVAL_SAMPLE_FIELDS, f"eval.samples[{i}]")
            if sample.get("output") is None and sample.get("match") is not None:
                problems.append(f"eval.samples[{i}]: match must be null when output is null")
    if etype == "anomaly" and event.get("kind") not in ANOMALY_KINDS:
        problems.append(f"anomaly: kind {event.get('kind')!r} not in {ANOMALY_KINDS}")
    if etype == "run_end" and event.get("status") not in RUN_END_STATUSES:
        problems.append(f"run_end: status {event.get('status')!r} not in {RUN_END_STATUSES}")
    return problems


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(obj: Any) -> Any:
    """``obj`` with every lone surrogate in its strings written as the text ``\\udXXX``.

    UTF-8 cannot encode one, and orjson refuses it; it comes from a file name
    that is not UTF-8 (os.fsdecode's surrogateescape) or an exception's message.
    """
    if isinstance(obj, str):
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", obj)
    if isinstance(obj, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_surrogates(v) for v in obj]
    return obj


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Serialize one event as a single NDJSON line (with the trailing newline)."""
    # OPT_SERIALIZE_NUMPY lets callers hand over numpy scalars; non-str keys are
    # refused by orjson, which is what we want for a public format.
    return orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY)


def new_run_id() -> str:
    """A short, sortable, unique-enough run id: UTC time plus random hex."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


def end_torn_line(path: str | os.PathLike[str]) -> bool:
    """Terminate a last line left without its newline; True when the file now ends cleanly.

    An event is one write call, but a kill -9 during a write of more
    than a page, or a short write on a full disk, can leave part of it. Glued
    onto that fragment, the next event (a restarted trainer's run_start, the
    first event after the disk has room again, a supervisor's run_end) would be
    unreadable too; ended here, only the fragment is lost (and it was counted).
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return True
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return True
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            return os.write(fd, b"\n") == 1
        finally:
            os.close(fd)
    except FileNotFoundError:
        return True
    except OSError:
        # Still unwritable: the EventWriter counts the events it drops meanwhile,
        # and the caller tries again before the next event.
        return False


class EventError(ValueError):
    """An event that does not follow the contract (docs/events.md), refused before it is written."""


class EventWriter:
    """Appends events to an NDJSON file, one whole line per ``os.write``.

    The file is opened with O_APPEND so concurrent appenders (a supervisor and
    its child) never interleave within a line. Each event is one ``write``
    system call; there is no user-space buffer to flush. A failed write (disk
    full, file made read-only) never raises into training: the event is
    counted in ``dropped`` and that count rides on the next event that gets
    through (``counters.dropped_events``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        run_id: str | None = None,
        *,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        enabled: bool = True,
        strict: bool = False,
    ) -> None:
        self.path = Path(path)
        # strict: an event that breaks the contract raises (EventError) and is not written;
        # for callers' own events (the Run API). syllo's trainers never raise into training.
        self.strict = strict
        self.run_id = run_id or new_run_id()
        self.max_text_chars = max_text_chars
        self.enabled = enabled  # False on non-main ranks: one writer per run
        self.counters = Counters()
        self.dropped = 0
        self._lock = threading.Lock()  # the stall watchdog writes from its own thread
        self._fd: int | None = None
        # The file may end in a fragment (a writer killed mid-line, a
        # failed write); it is ended before the next event so only it is lost.
        self._maybe_torn = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def build(self, etype: str, step: int, **fields_: Any) -> dict[str, Any]:
        """Build an event dict: common fields first, texts capped, counters attached."""
        event: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "type": etype,
            "ts": round(time.time(), 3),
            "run_id": self.run_id,
            "step": int(step),
        }
        if (
            etype in EVENT_FIELDS
            and "counters" in EVENT_FIELDS[etype]
            and "counters" not in fields_
        ):
            self.counters.dropped_events = self.dropped
            fields_["counters"] = self.counters.as_dict()
        event.update(cap_texts(fields_, self.max_text_chars))
        return event

    def emit(self, etype: str, step: int, **fields_: Any) -> dict[str, Any]:
        """Build, write and return one event. Never raises on I/O errors."""
        with self._lock:
            event = self.build(etype, step, **fields_)
            if self.strict:
                problems = validate_event(event)
                if problems:
                    raise EventError(
                        f"not written, the {etype!r} event breaks docs/events.md: "
                        + "; ".join(problems)
                    )
            try:
                line = encode_event(event)
            except TypeError:  # a lone surrogate somewhere (rare: looked for only then)
                event = without_surrogates(event)
                line = encode_event(event)
            self._write(line)
            return event

    def _write(self, line: bytes) -> None:
        if not self.enabled:
            return
        try:
            if self._maybe_torn:
                self._maybe_torn = not end_torn_line(self.path)
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(f"short write to {self.path}")
        except OSError:
            self.dropped += 1
            self._maybe_torn = True
            # Reopen next time: the file may have been replaced or fixed.
            if self._fd is not None:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = None

    def fsync(self) -> None:
        """Force the file to disk (at checkpoints and at the end, where a stall is worth it)."""
        with self._lock:
            if self._fd is not None:
                try:
                    os.fsync(self._fd)
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                try:
                    os.close(self._fd)
                finally:
                    self._fd = None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode_event(line: bytes | str) -> Any:
    """Parse one line; raises ValueError (orjson.JSONDecodeError) on bad JSON."""
    return orjson.loads(line)


def read_last_events(
    path: str | os.PathLike[str], max_bytes: int = 262_144
) -> list[dict[str, Any]]:
    """The decodable events among a file's last ``max_bytes`` (oldest first); [] without a file.

    For the writers' own bookkeeping (the supervisor, ``stop --now``); readers
    that follow a live file use syllo_tui's stream, which also reports what it
    could not read.
    """
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    if size > max_bytes:
        lines = lines[1:]  # the first line is probably cut
    out = []
    for line in lines:
        if line.strip():
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a torn last line of a killed writer
            if isinstance(event, dict):
                out.append(event)
    return out
