"""SYLLO puzzles: seeded, deterministic training data for syllo's demo task.

The solver sees shuffled syllable tiles and numbered definitions, and recovers
each hidden word by placing tiles on its blanks; some tiles (red herrings)
belong to no word. A puzzle, as the user message::

    Tiles: fes | ka | pro | sor
    1. ___ ___ ___ — a university teacher

and its golden answer, the assistant message, ONE line of compact JSON::

    {"solutions":[{"ans_num":1,"syllables":["pro","fes","sor"],"answer":"PROFESSOR"}]}

With ``inventory=True`` the answer also lists the tiles it used (in solution
order) and the unused ones (in tile order)::

    {"solutions":[...],"inventory":{"used":["pro","fes","sor"],"unused":["ka"]}}

Levels (``LEVELS``; ranges are inclusive, words come from ``syllo_train.demo.wordlist``):

``tiny``
    1 word of exactly 2 syllables, no red herrings, drawn from the 48 shortest
    two-syllable words: 96 distinct puzzles (each word, tiles in either order).
    Small on purpose: a 2-layer model on CPU learns the fixed JSON frame, to
    copy the two tiles and to memorise which comes first within minutes, so
    the demo shows exact matches appearing. Every validation puzzle also occurs
    in training; that is the price of a space this small.
``easy``
    2 words of 1-3 syllables, 1-2 red herrings.
``medium``
    3-4 words of 2-4 syllables, 3 red herrings.
``hard``
    5-6 words of 2-4 syllables, 5 red herrings.

Determinism: record ``i`` depends only on (level, seed, i, options), through its
own ``random.Random`` seeded with a string (hashed with SHA-512, so
``PYTHONHASHSEED`` plays no part). The same arguments give byte-identical files,
and the first ``k`` records of ``generate(n)`` are ``generate(k)``.

Records are chat-form JSON objects::

    {"messages": [{"role": "system", ...}, {"role": "user", ...},
                  {"role": "assistant", ...}],
     "metadata": {"level": ..., "seed": ..., "index": ..., "words": [...],
                  "herrings": [...]}}

(no system message when ``system_prompt`` is None or empty).

Command line (``syllo-train data syllo ...`` or ``python -m syllo_train.demo.puzzles``)::

    syllo-train data syllo --n 20000 --level easy --seed 0 \\
        [--inventory] [--val-fraction 0.05 [--val-out VAL.jsonl]] OUT.jsonl

Pure standard library: importing this module must stay cheap (no torch).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syllo_train.demo.wordlist import ALL_SYLLABLES, BY_DEFINITION, WORDS, Word
from syllo_train.inert import print_inert

#: The default system message: short, because the tiny demo model has a small context.
SYSTEM_PROMPT = "Solve the SYLLO puzzle. Reply with one line of JSON."

#: Separates the tiles on the "Tiles:" line, and a clue's blanks from its definition.
TILE_SEP = " | "
DEF_SEP = " — "
BLANK = "___"


@dataclass(frozen=True)
class Level:
    """The shape of the puzzles at one difficulty; every range is inclusive."""

    name: str
    words: tuple[int, int]  # hidden words per puzzle
    syllables: tuple[int, int]  # syllables per hidden word
    herrings: tuple[int, int]  # red-herring tiles per puzzle
    pool: int | None = None  # only the `pool` shortest eligible words; None = all
    description: str = ""


LEVELS: dict[str, Level] = {
    "tiny": Level(
        "tiny", (1, 1), (2, 2), (0, 0), pool=48, description="1 two-syllable word, no herrings"
    ),
    "easy": Level("easy", (2, 2), (1, 3), (1, 2), description="2 words, 1-2 red herrings"),
    "medium": Level("medium", (3, 4), (2, 4), (3, 3), description="3-4 words, 3 red herrings"),
    "hard": Level("hard", (5, 6), (2, 4), (5, 5), description="5-6 words, 5 red herrings"),
}


def _level(level: str) -> Level:
    try:
        return LEVELS[level]
    except KeyError:
        raise ValueError(
            f"unknown SYLLO level {level!r}: choose one of {', '.join(LEVELS)}"
        ) from None


def eligible_words(level: str, pool: int | None = None) -> tuple[Word, ...]:
    """The words a level draws from: shortest first (ties alphabetical), capped at
    ``pool`` (default: the level's own cap)."""
    spec = _level(level)
    lo, hi = spec.syllables
    words = sorted(
        (w for w in WORDS if lo <= len(w.syllables) <= hi), key=lambda w: (len(w.word), w.word)
    )
    cap = spec.pool if pool is None else pool
    return tuple(words if cap is None else words[:cap])


def _compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def make_puzzle(
    level: str,
    seed: int,
    index: int,
    *,
    inventory: bool = False,
    system_prompt: str | None = SYSTEM_PROMPT,
    pool: int | None = None,
) -> dict[str, Any]:
    """Build puzzle number ``index`` of the (level, seed) stream as a chat record."""
    spec = _level(level)
    candidates = eligible_words(level, pool)
    # One RNG per record: any record can be rebuilt alone, and prefixes are stable.
    rng = random.Random(f"syllo/{spec.name}/{seed}/{index}")
    words = rng.sample(candidates, rng.randint(*spec.words))
    used = [s for w in words for s in w.syllables]
    # Herrings never repeat a syllable of the puzzle's own words, so which copy of a
    # tile is the herring is never in question.
    own = set(used)
    herring_pool = [s for s in ALL_SYLLABLES if s not in own]
    herrings = rng.sample(herring_pool, rng.randint(*spec.herrings))
    tiles = used + herrings
    rng.shuffle(tiles)

    lines = ["Tiles: " + TILE_SEP.join(tiles)]
    solutions = []
    for number, w in enumerate(words, start=1):
        lines.append(f"{number}. {' '.join([BLANK] * len(w.syllables))}{DEF_SEP}{w.definition}")
        solutions.append(
            {"ans_num": number, "syllables": list(w.syllables), "answer": w.word.upper()}
        )
    answer: dict[str, Any] = {"solutions": solutions}
    if inventory:
        spare = Counter(tiles) - Counter(used)
        unused = []
        for t in tiles:  # tile order, so the list is readable off the prompt
            if spare[t]:
                spare[t] -= 1
                unused.append(t)
        answer["inventory"] = {"used": used, "unused": unused}

    messages = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": "\n".join(lines)})
    messages.append({"role": "assistant", "content": _compact(answer)})
    return {
        "messages": messages,
        "metadata": {
            "level": spec.name,
            "seed": seed,
            "index": index,
            "words": [w.word.upper() for w in words],
            "herrings": herrings,
        },
    }


def generate(
    n: int,
    level: str = "easy",
    seed: int = 0,
    *,
    inventory: bool = False,
    system_prompt: str | None = SYSTEM_PROMPT,
    pool: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` puzzle records (indices 0..n-1) of ``level`` from ``seed``.

    Arguments are checked now, not at the first ``next()``: a bad level or pool
    raises ValueError naming it.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    spec = _level(level)
    if pool is not None:
        available = len(eligible_words(level, len(WORDS)))  # uncapped
        if not spec.words[1] <= pool <= available:
            raise ValueError(
                f"pool must be between {spec.words[1]} and {available} for level "
                f"{level!r}, got {pool}"
            )

    def records() -> Iterator[dict[str, Any]]:
        for index in range(n):
            yield make_puzzle(
                level, seed, index, inventory=inventory, system_prompt=system_prompt, pool=pool
            )

    return records()


def write_jsonl(records: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write one compact JSON object a line to ``path``; return how many.

    Writes a temp file beside ``path`` and renames it over, so a half-written data
    file never exists under the real name; on error the temp file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    count = 0
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as f:
            for record in records:
                f.write(_compact(record) + "\n")
                count += 1
            f.flush()
            os.fsync(f.fileno())  # the rename must not publish a file whose data is not on disk
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


# --- checking ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Clue:
    """One numbered definition line of a puzzle."""

    number: int
    blanks: int
    definition: str


@dataclass(frozen=True)
class Puzzle:
    """A puzzle as read back from its text."""

    tiles: tuple[str, ...]
    clues: tuple[Clue, ...]


_CLUE = re.compile(rf"(\d+)\. ({BLANK}(?: {BLANK})*){DEF_SEP}(.+)")


def parse_puzzle(text: str) -> Puzzle:
    """Read a puzzle's user text back; ValueError names the offending line."""
    lines = text.split("\n")
    if not lines[0].startswith("Tiles: "):
        raise ValueError(f"puzzle line 1: expected 'Tiles: a | b | ...', got {lines[0]!r}")
    tiles = tuple(lines[0][len("Tiles: ") :].split(TILE_SEP))
    if not all(tiles):
        raise ValueError(f"puzzle line 1: empty tile in {lines[0]!r}")
    clues = []
    for lineno, line in enumerate(lines[1:], start=2):
        m = _CLUE.fullmatch(line)
        if not m:
            raise ValueError(
                f"puzzle line {lineno}: expected 'N. ___ ___ — definition', got {line!r}"
            )
        clues.append(Clue(int(m[1]), m[2].count(BLANK), m[3]))
    if not clues:
        raise ValueError("puzzle has no numbered definitions")
    return Puzzle(tiles, tuple(clues))


def _user_text(record: Mapping[str, Any]) -> str:
    for message in record.get("messages", ()):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
    raise ValueError("record has no user message with string content")


def answer_problems(record: Mapping[str, Any], answer_text: str) -> list[str]:
    """Every reason ``answer_text`` does not solve the puzzle in ``record``; [] if it does.

    The puzzle is read from the record's user message (not its metadata): each
    numbered definition must be answered once, by the word the word list gives
    that definition, with as many syllables as it has blanks; ``answer`` must be
    the syllables joined in capitals; the syllables used must all be tiles (no
    tile used more often than it appears). An ``inventory``, if given, must list
    exactly the used and the left-over tiles.
    """
    try:
        puzzle = parse_puzzle(_user_text(record))
    except ValueError as e:
        return [f"unreadable puzzle: {e}"]
    try:
        answer = json.loads(answer_text)
    except json.JSONDecodeError as e:
        return [f"answer is not JSON: {e}"]
    if not isinstance(answer, dict) or not isinstance(answer.get("solutions"), list):
        return ['answer must be an object with a "solutions" list']
    problems = [f"unexpected key {k!r}" for k in answer if k not in ("solutions", "inventory")]

    by_number: dict[int, list[str]] = {}
    for i, sol in enumerate(answer["solutions"]):
        if (
            not isinstance(sol, dict)
            or set(sol) != {"ans_num", "syllables", "answer"}
            or type(sol["ans_num"]) is not int
            or not isinstance(sol["syllables"], list)
            or not all(isinstance(s, str) for s in sol["syllables"])
            or not isinstance(sol["answer"], str)
        ):
            problems.append(
                f"solutions[{i}] must be {{ans_num: int, syllables: [str], answer: str}}"
            )
            continue
        number = sol["ans_num"]
        if number in by_number:
            problems.append(f"ans_num {number} answered twice")
        by_number[number] = sol["syllables"]
        if sol["answer"] != "".join(sol["syllables"]).upper():
            problems.append(
                f"ans_num {number}: answer {sol['answer']!r} is not its syllables joined"
            )

    clues = {c.number: c for c in puzzle.clues}
    problems += [f"ans_num {k} is not a clue number" for k in by_number if k not in clues]
    for number, clue in clues.items():
        syllables = by_number.get(number)
        if syllables is None:
            problems.append(f"clue {number} is not answered")
            continue
        if len(syllables) != clue.blanks:
            problems.append(f"clue {number}: {len(syllables)} syllables for {clue.blanks} blanks")
        word = BY_DEFINITION.get(clue.definition)
        if word is None:
            problems.append(
                f"clue {number}: definition {clue.definition!r} is not in the word list"
            )
        elif tuple(syllables) != word.syllables:
            problems.append(f"clue {number}: {syllables} does not spell the defined word")

    used = Counter(s for syllables in by_number.values() for s in syllables)
    tiles = Counter(puzzle.tiles)
    over = used - tiles
    if over:
        problems.append(
            f"syllables not among the tiles (or used too often): {sorted(over.elements())}"
        )

    if "inventory" in answer:
        inv = answer["inventory"]
        if (
            not isinstance(inv, dict)
            or set(inv) != {"used", "unused"}
            or not all(isinstance(v, list) for v in inv.values())
        ):
            problems.append('inventory must be {"used": [...], "unused": [...]}')
        else:
            if Counter(inv["used"]) != used:
                problems.append("inventory.used is not the syllables of the solutions")
            if Counter(inv["unused"]) != tiles - used:
                problems.append("inventory.unused is not the tiles left over")
    return problems


def check_answer(record: Mapping[str, Any], answer_text: str) -> bool:
    """True when ``answer_text`` solves the puzzle in ``record`` (see ``answer_problems``)."""
    return not answer_problems(record, answer_text)


# --- command line -------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    levels = "; ".join(f"{name}: {spec.description}" for name, spec in LEVELS.items())
    p = argparse.ArgumentParser(
        prog="syllo-train data syllo",
        description="Write SYLLO puzzles as chat-form JSONL training data.",
        epilog=f"Levels: {levels}.",
    )
    p.add_argument("out", metavar="OUT.jsonl", help="where to write the (training) records")
    p.add_argument("--n", type=_positive_int, default=1000, help="records in all (default 1000)")
    p.add_argument(
        "--level", choices=list(LEVELS), default="easy", help="difficulty (default easy)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--inventory", action="store_true", help="add used/unused tiles to the golden answer"
    )
    p.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.0,
        help="hold out this share of the n records as a validation file (default 0)",
    )
    p.add_argument(
        "--val-out",
        metavar="VAL.jsonl",
        help="validation file (default: OUT with .val.jsonl in place of .jsonl)",
    )
    p.add_argument(
        "--pool", type=_positive_int, help="draw from only the N shortest eligible words"
    )
    sp = p.add_mutually_exclusive_group()
    sp.add_argument(
        "--system-prompt", default=SYSTEM_PROMPT, help=f"system message (default {SYSTEM_PROMPT!r})"
    )
    sp.add_argument(
        "--no-system-prompt",
        dest="system_prompt",
        action="store_const",
        const=None,
        help="no system message",
    )
    return p


def _val_path(out: str) -> str:
    return out[: -len(".jsonl")] + ".val.jsonl" if out.endswith(".jsonl") else out + ".val"


def main(argv: list[str] | None = None) -> int:
    """``syllo-train data syllo``: write puzzles to OUT.jsonl; 0 on success, 2 on bad arguments."""
    parser = _parser()
    args = parser.parse_args(argv)
    n_val = round(args.n * args.val_fraction)
    if args.val_fraction and n_val == 0:
        parser.error(f"--val-fraction {args.val_fraction} of --n {args.n} holds out no record")
    if n_val >= args.n:
        parser.error(
            f"--val-fraction {args.val_fraction} leaves no training record of --n {args.n}"
        )
    if args.val_out and not n_val:
        parser.error("--val-out needs --val-fraction above 0")
    val_out = args.val_out or _val_path(args.out)
    if n_val and Path(val_out).resolve() == Path(args.out).resolve():
        parser.error(f"--val-out {val_out} is the same file as OUT")
    try:
        records = list(
            generate(
                args.n,
                args.level,
                args.seed,
                inventory=args.inventory,
                system_prompt=args.system_prompt,
                pool=args.pool,
            )
        )
    except ValueError as e:  # e.g. --pool out of range for the level
        parser.error(str(e))

    train, val = records[: args.n - n_val], records[args.n - n_val :]
    try:
        write_jsonl(train, args.out)
        if val:
            write_jsonl(val, val_out)
    except OSError as e:
        print_inert(f"syllo-train data syllo: cannot write {e.filename}: {e.strerror}")
        return 1

    def prompt(r: Mapping[str, Any]) -> str:
        return _user_text(r)

    def golden(r: Mapping[str, Any]) -> str:
        return str(r["messages"][-1]["content"])

    train_prompts = {prompt(r) for r in train}
    print(
        f"wrote {len(train)} {args.level} puzzles to {args.out} "
        f"({len(train_prompts)} distinct; mean prompt {sum(len(prompt(r)) for r in records) / len(records):.0f} "
        f"chars, answer {sum(len(golden(r)) for r in records) / len(records):.0f} chars)"
    )
    if val:
        overlap = sum(prompt(r) in train_prompts for r in val)
        print(f"wrote {len(val)} to {val_out} ({overlap} of them also in the training file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
