"""Bad input, fuzzed: the config loader, the data loader and the event reader.

Hypothesis generates ``FUZZ`` cases per target (``SYLLO_TORTURE_FUZZ``;
10,000 under ``make torture``): structured documents that are nearly right,
mutations of good ones, and plain garbage. The contract under test:

* config: ``load_config`` returns a Config or raises ``ConfigError`` whose
  message names where (the file, ``file:line`` or the ``--set`` item);
* data: ``load_examples`` + ``encode_examples`` return examples or raise
  ``DataError`` naming ``file:line`` (or the file); with ``on_bad_record =
  "skip"`` every non-blank line is either an example or a skipped record;
* events: ``EventTail`` and ``StdinTail`` never raise on any bytes, cut at any
  points, and account for every complete line (event, malformed or blank);
  the TUI's state fold and text rendering never raise on any event a file can
  hold.

Anything else escaping is a failure, and Hypothesis prints the smallest input
that shows it.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import time
import typing
from collections import Counter
from pathlib import Path
from typing import Any

import _torture as T
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syllo_train.config import SECTIONS, ConfigError, load_config
from syllo_train.config import schema as config_mod
from syllo_train.data import DataError
from syllo_train.data.encode import Encoder, encode_examples
from syllo_train.data.records import load_examples
from syllo_train.events import EVENT_FIELDS, EVENT_TYPES

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(3600)]

settings.register_profile(
    "syllo-torture",
    max_examples=T.FUZZ,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    print_blob=True,
)
FUZZ = settings.get_profile("syllo-torture")


# --- shared strategies ------------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
#: Any value a JSON document can hold (as orjson decodes it: 64-bit ints, finite floats).
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_specials = st.sampled_from('\x1b\x07\x9b\u202e\r\n\t\0"\\{}[]')
#: Text with terminal controls, quotes, brackets; lone surrogates too (JSON can encode them).
hostile_text = st.text(alphabet=st.characters(exclude_categories=()) | _specials, max_size=60)
#: The same without lone surrogates (what an events file, always UTF-8, can hold).
event_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)) | _specials, max_size=60)


def _deep(opening: str, closing: str, n: int) -> str:
    return opening * n + closing * n


# --- config ---------------------------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    """Emit a TOML value (inline form) for a Python value tomllib could have produced."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(
            v
        )  # a JSON string is a TOML basic string (lone surrogates aside: refused)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


toml_values = st.recursive(
    st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(
        ["auto", "never", "cpu", "cuda", "exact", "json", "linear", "skip", "runs/x", ""]
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)

_HINTS = {name: typing.get_type_hints(cls, vars(config_mod)) for name, cls in SECTIONS.items()}
KNOWN_KEYS = [f"{s}.{k}" for s, hints in _HINTS.items() for k in hints]


def _value_for(hint: Any) -> st.SearchStrategy[Any]:
    """Mostly well-typed values for a key (so validation beyond the types is reached), else anything."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        good: st.SearchStrategy[Any] = st.sampled_from(args)
    elif hint is bool:
        good = st.booleans()
    elif hint is int:
        good = st.integers(-3, 3000)
    elif hint is float:
        good = st.floats(-1.0, 100.0) | st.floats()
    elif hint is str:
        good = st.text(max_size=20) | st.just("runs/x")
    else:
        good = st.lists(st.text(max_size=8), max_size=3) | st.text(max_size=8)
    return st.one_of(good, good, good, toml_values)


@st.composite
def config_docs(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    doc: dict[str, dict[str, Any]] = {}
    for section, hints in _HINTS.items():
        if not draw(st.integers(0, 3)) and section not in ("model", "data"):
            continue
        table = {}
        for key, hint in hints.items():
            required = (section, key) in (("model", "name_or_path"), ("data", "train"))
            if (required and draw(st.integers(0, 9))) or draw(st.integers(0, 5)) == 0:
                table[key] = draw(_value_for(hint))
        if draw(st.integers(0, 9)) == 0:
            table[draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True))] = draw(toml_values)
        doc[section] = table
    if draw(st.integers(0, 4)) == 0:
        doc["trainer_args"] = draw(
            st.dictionaries(st.from_regex(r"[a-z_]{1,16}", fullmatch=True), toml_values, max_size=3)
        )
    if draw(st.integers(0, 9)) == 0:
        doc[draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True))] = {"x": 1}
    return doc


@st.composite
def nearly_good_docs(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """A good config with one or two keys fuzzed: reaches the checks beyond the types."""
    doc: dict[str, dict[str, Any]] = {"model": {"name_or_path": "m"}, "data": {"train": "t.jsonl"}}
    for key in draw(st.lists(st.sampled_from(KNOWN_KEYS), max_size=2)):
        section, name = key.split(".")
        doc.setdefault(section, {})[name] = draw(_value_for(_HINTS[section][name]))
    return doc


def _emit_doc(doc: dict[str, dict[str, Any]], top: dict[str, Any]) -> str:
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in top.items()]
    for section, table in doc.items():
        lines.append(f"[{section}]")
        lines += [
            f"{json.dumps(k) if not k.isidentifier() else k} = {_toml_value(v)}"
            for k, v in table.items()
        ]
    return "\n".join(lines) + "\n"


@st.composite
def config_files(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            ["nearly", "nearly", "structured", "structured", "mutated", "text", "bytes", "deep"]
        )
    )
    if kind == "nearly":
        return _emit_doc(draw(nearly_good_docs()), {}).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(
            st.text(
                alphabet=st.sampled_from("[]=\"'.#\n \tabcdemnortly_0123{},:-+e\\"), max_size=200
            )
        ).encode()
    if kind == "deep":
        opening, closing = draw(st.sampled_from([("[", "]"), ("{a=", "}")]))
        return f"[model]\nname_or_path = {_deep(opening, closing, draw(st.integers(1, 5000)))}\n".encode()
    doc = draw(config_docs())
    top = draw(
        st.dictionaries(
            st.sampled_from(["max_steps", "name_or_path", "x"]), toml_values, max_size=1
        )
    )
    text = _emit_doc(doc, top if draw(st.integers(0, 9)) == 0 else {})
    if kind == "mutated":
        data = bytearray(text.encode())
        for pos, op, byte in draw(
            st.lists(
                st.tuples(st.integers(0, 10_000), st.integers(0, 2), st.integers(0, 255)),
                min_size=1,
                max_size=4,
            )
        ):
            at = pos % (len(data) + 1)
            if op == 0:
                data.insert(at, byte)
            elif op == 1 and at < len(data):
                del data[at]
            elif at < len(data):
                data[at] = byte
        return bytes(data)
    return text.encode()


overrides = st.just([]) | st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(KNOWN_KEYS) | st.from_regex(r"[a-z_.]{0,20}", fullmatch=True),
            st.one_of(
                toml_values.map(_toml_value),
                st.text(max_size=20),
                st.integers(1, 3000).map(lambda n: _deep("[", "]", n)),
            ),
        ).map(lambda kv: f"{kv[0]}={kv[1]}"),
        st.text(max_size=20),  # no '=' at all, or garbage
    ),
    max_size=3,
)


def test_fuzz_config_loader(tmp_path: Path, figure: Any) -> None:
    path = tmp_path / "fuzz.toml"
    stats: Counter[str] = Counter()

    @FUZZ
    @given(data=config_files(), sets=overrides)
    def case(data: bytes, sets: list[str]) -> None:
        path.write_bytes(data)
        stats["cases"] += 1
        try:
            load_config(path, sets)
        except ConfigError as exc:
            msg = str(exc)
            assert str(path) in msg or "--set" in msg, f"no location in: {msg}"
            stats["ConfigError"] += 1
        else:
            stats["accepted"] += 1

    case()
    assert stats["ConfigError"] and stats["accepted"], stats  # the strategies reach both outcomes
    figure(
        "load_config on fuzzed TOML (structured, mutated, garbage, non-UTF-8, deeply nested) plus fuzzed --set overrides",
        stats["cases"],
        "0 escaped exceptions: every refusal a ConfigError naming the file or the --set",
        outcomes=dict(stats),
    )


def test_fuzz_config_from_dict(figure: Any) -> None:
    from syllo_train.config import Config

    stats: Counter[str] = Counter()

    @FUZZ
    @given(
        doc=nearly_good_docs()
        | config_docs()
        | st.dictionaries(st.text(max_size=8), json_values, max_size=4)
        | json_values
    )
    def case(doc: Any) -> None:
        stats["cases"] += 1
        try:
            Config.from_dict(doc, source="<fuzzed dict>")
        except ConfigError as exc:
            assert "<fuzzed dict>" in str(exc), str(exc)
            stats["ConfigError"] += 1
        else:
            stats["accepted"] += 1

    case()
    figure(
        "Config.from_dict on fuzzed plain data",
        stats["cases"],
        "0 escaped exceptions: every refusal a ConfigError naming its source",
        outcomes=dict(stats),
    )


# --- data -------------------------------------------------------------------------------------------------

_roles = st.sampled_from(["system", "user", "assistant"]) | json_values
_message = st.dictionaries(
    st.sampled_from(["role", "content", "name"]),
    st.one_of(_roles, hostile_text, json_values),
    max_size=3,
) | st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": hostile_text}
)
records = st.one_of(
    st.fixed_dictionaries(
        {"messages": st.lists(_message, max_size=4)}, optional={"metadata": json_values}
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "prompt": hostile_text | json_values,
            "completion": hostile_text | json_values,
            "metadata": json_values,
        },
    ),
    json_values,
)


_words = hostile_text.filter(lambda t: t.strip() != "")
good_records = st.one_of(
    st.builds(
        lambda sys_, u, a: {
            "messages": [
                *([{"role": "system", "content": sys_}] if sys_ else []),
                {"role": "user", "content": u},
                {"role": "assistant", "content": a},
            ]
        },
        hostile_text,
        _words,
        _words,
    ),
    st.builds(lambda p, c: {"prompt": p, "completion": c}, _words, _words),
)


@st.composite
def data_lines(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            ["good", "good", "good", "record", "record", "bytes", "blank", "deep", "bom", "escapes"]
        )
    )
    if kind == "good":
        return json.dumps(draw(good_records), ensure_ascii=draw(st.booleans())).encode(
            "utf-8", "surrogatepass"
        )
    if kind == "bytes":
        return draw(st.binary(max_size=60)).replace(b"\n", b"")
    if kind == "blank":
        return draw(st.sampled_from([b"", b" ", b"\t", b"\r", b"  \r"]))
    if kind == "deep":
        return _deep("[", "]", draw(st.integers(1, 50_000))).encode()
    line = json.dumps(draw(records), ensure_ascii=draw(st.booleans())).encode(
        "utf-8", "surrogatepass"
    )
    if kind == "bom":
        return b"\xef\xbb\xbf" + line
    if kind == "escapes":  # JSON escapes that decode to lone surrogates and control characters
        return line.replace(b'"', b'"\\ud800\\u001b', 1) if b'"' in line else line
    return line + draw(st.sampled_from([b"", b"\r"]))


data_files = st.lists(data_lines(), max_size=8).map(lambda lines: b"\n".join(lines)) | st.binary(
    max_size=200
)


def test_fuzz_data_loader(
    tmp_path: Path, tiny_model_dir: Path, tiny_chat_model_dir: Path, figure: Any
) -> None:
    from transformers import AutoTokenizer

    tokenizers = [
        AutoTokenizer.from_pretrained(tiny_model_dir),  # the plain template
        AutoTokenizer.from_pretrained(tiny_chat_model_dir),  # the tokenizer's chat template
    ]
    encoders: dict[tuple[bool, int, str], Encoder] = {}

    def encoder(chat: bool, max_length: int, too_long: str) -> Encoder:
        key = (chat, max_length, too_long)
        if key not in encoders:
            encoders[key] = Encoder(tokenizers[chat], max_length=max_length, too_long=too_long)
        return encoders[key]

    path = tmp_path / "fuzz.jsonl"
    stats: Counter[str] = Counter()

    @FUZZ
    @given(
        raw=data_files,
        on_bad=st.sampled_from(["error", "skip"]),
        system=st.sampled_from(["", "Be brief.", "\x1b[2J"]),
        chat=st.booleans(),
        max_length=st.integers(1, 300),
    )
    def case(raw: bytes, on_bad: str, system: str, chat: bool, max_length: int) -> None:
        path.write_bytes(raw)
        stats["cases"] += 1
        lines = raw.split(b"\n")
        try:
            report = load_examples(path, on_bad=on_bad, system_prompt=system)
        except DataError as exc:
            _check_data_error(str(exc), path, lines)
            stats["DataError (load)"] += 1
            return
        nonblank = [n for n, line in enumerate(lines, 1) if line.strip()]
        if on_bad == "skip":
            assert len(report.examples) + len(report.skipped) == len(nonblank)
        for source, _why in report.skipped:
            _check_data_error(source + ": x", path, lines)
        for ex in report.examples:
            assert isinstance(ex.prompt, str) and ex.prompt.strip()
            assert isinstance(ex.golden, str) and ex.golden.strip()
        too_long = "skip" if on_bad == "skip" else "error"
        try:
            encoded, skipped = encode_examples(
                report.examples, encoder(chat, max_length, too_long), on_bad=on_bad
            )
        except DataError as exc:
            _check_data_error(str(exc), path, lines)
            stats["DataError (encode)"] += 1
            return
        assert len(encoded) + len(skipped) == len(report.examples)
        stats["accepted"] += 1

    case()
    assert stats["accepted"] and stats["DataError (load)"], stats
    figure(
        "load_examples + encode_examples (plain and chat templates) on fuzzed JSONL: near-valid records, "
        "garbage, non-UTF-8, BOMs, lone surrogates, 50k-deep nesting; on_bad_record error and skip",
        stats["cases"],
        "0 escaped exceptions: every refusal a DataError naming file:line (or the file)",
        outcomes=dict(stats),
    )


def _check_data_error(msg: str, path: Path, lines: list[bytes]) -> None:
    """The message starts with the file, and with a real non-blank line when it names one."""
    assert msg.startswith(str(path)), f"no file in: {msg}"
    rest = msg[len(str(path)) :]
    if rest.startswith(":") and rest[1:2].isdigit():
        n = int(rest[1:].split(":", 1)[0])
        assert 1 <= n <= len(lines) and lines[n - 1].strip(), f"bad line number in: {msg}"


# --- events -----------------------------------------------------------------------------------------------


@st.composite
def event_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Event-shaped objects with every field possibly of the wrong type."""
    etype = draw(st.sampled_from([*EVENT_TYPES, "unknown_type"]) | st.text(max_size=6))
    common = ["v", "ts", "run_id", "step", "counters", "example", "samples"]
    known = [*EVENT_FIELDS.get(etype, {}), *common]
    event = draw(
        st.dictionaries(st.sampled_from(known), json_values | event_text, max_size=len(known))
    )
    if draw(st.booleans()):
        event.update(v=1, ts=draw(st.floats(0, 2e9)), run_id="r", step=draw(st.integers(-5, 10**6)))
    if etype == "eval" and draw(st.booleans()):
        event["samples"] = draw(
            st.lists(
                st.dictionaries(
                    st.sampled_from(
                        [
                            "sample",
                            "index",
                            "prompt",
                            "golden",
                            "output",
                            "match",
                            "output_tokens",
                            "seconds",
                            "timed_out",
                        ]
                    ),
                    json_values | event_text,
                    max_size=9,
                ),
                max_size=3,
            )
        )
    event["type"] = etype
    return event


def _line_kind(line: bytes, max_line: int) -> str:
    """Independent classification of one complete line (what a reader must report)."""
    if len(line) > max_line:
        return "too_long"
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "blank" if not line.strip(b" \t\r") else "malformed"
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return "malformed"
    return "event"


stream_lines = st.one_of(
    event_dicts().map(lambda e: orjson.dumps(e)),
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")),
    json_values.map(lambda v: orjson.dumps(v)),
    st.sampled_from(
        [b"", b" ", b"\r", b'{"type": 1}', b"[]", b'{"type":"log"', b"\xff\xfe", b"NaN"]
    ),
    st.integers(1, 2000).map(lambda n: _deep("[", "]", n).encode()),
)


def test_fuzz_event_reader(tmp_path: Path, figure: Any) -> None:
    from syllo_tui.render import summary
    from syllo_tui.state import RunState
    from syllo_tui.stream import EventTail, StdinTail, read_tail

    stats: Counter[str] = Counter()
    max_line = 200  # small, so that some lines are too long

    @FUZZ
    @given(lines=st.lists(stream_lines, max_size=12), tail=st.binary(max_size=40), data=st.data())
    def case(lines: list[bytes], tail: bytes, data: st.DataObject) -> None:
        stats["cases"] += 1
        tail = tail.replace(b"\n", b"")
        blob = b"".join(line + b"\n" for line in lines) + tail
        kinds = [_line_kind(line, max_line) for line in lines]
        expected = [
            orjson.loads(line) for line, k in zip(lines, kinds, strict=True) if k == "event"
        ]
        bad = sum(k in ("malformed", "too_long") for k in kinds)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=8), label="cuts"))
        chunks = [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=True)]
        with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
            # A file growing in arbitrary pieces, polled between them.
            path = Path(tmp) / "events.jsonl"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            got: list[dict[str, Any]] = []
            with EventTail(path, max_line_bytes=max_line) as follower:
                for chunk in chunks:
                    os.write(fd, chunk)
                    while True:
                        res = follower.poll(
                            max_bytes=data.draw(
                                st.sampled_from([1, 7, 64, 512, 4096]), label="poll"
                            )
                        )
                        assert not res.reset
                        got += res.events
                        if not res.more:
                            break
                os.close(fd)
                held_too_long = len(tail) > max_line
                assert got == expected
                assert follower.malformed_total == bad + held_too_long
                assert follower.offset == len(blob) - len(tail)
            # The same bytes cold-opened from the end (read_tail keeps its default line limit).
            unbounded = [orjson.loads(x) for x in lines if _line_kind(x, 1 << 30) == "event"]
            events, end = read_tail(
                path, max_events=data.draw(st.integers(1, 20), label="max_events")
            )
            assert end == len(blob) - len(tail)
            assert events == unbounded[len(unbounded) - len(events) :]
        # The same bytes through a pipe (stdin): the unterminated last piece counts at EOF.
        src = StdinTail(
            io.BytesIO(blob),
            max_line_bytes=max_line,
            chunk_bytes=data.draw(st.integers(1, 64), label="chunk"),
        )
        piped: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60  # the reader thread needs the GIL too: wait, don't spin
        while True:
            res = src.poll()
            piped += res.events
            if res.eof:
                break
            assert time.monotonic() < deadline, "StdinTail never reported the end of the stream"
            if not res.events:
                time.sleep(0.0005)
        tail_kind = _line_kind(tail, max_line) if tail else "blank"
        assert piped == expected + ([orjson.loads(tail)] if tail_kind == "event" else [])
        assert src.malformed_total == bad + (tail_kind in ("malformed", "too_long"))
        # The TUI's fold and plain rendering of whatever events came through.
        state = RunState()
        state.apply_all(piped)
        state.apply_all(data.draw(st.lists(event_dicts(), max_size=6), label="more events"))
        summary(state, 2e9)
        stats["events"] += len(piped)
        stats["malformed lines"] += src.malformed_total

    case()
    figure(
        "EventTail (file grown in random pieces), read_tail, StdinTail and the TUI state fold + text "
        "rendering on fuzzed NDJSON: wrong-typed fields, garbage, non-UTF-8, long lines, deep nesting",
        stats["cases"],
        "0 escaped exceptions; every complete line accounted for (event, malformed or blank) in every reader",
        events=stats["events"],
        malformed_lines=stats["malformed lines"],
    )
