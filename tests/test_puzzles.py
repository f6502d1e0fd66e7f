"""SYLLO puzzle generator: determinism, validity of every golden answer, level shapes, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from itertools import permutations
from pathlib import Path

import pytest

from syllo_train.demo import puzzles
from syllo_train.demo.puzzles import (
    LEVELS,
    answer_problems,
    check_answer,
    eligible_words,
    generate,
    parse_puzzle,
    write_jsonl,
)
from syllo_train.demo.wordlist import ALL_SYLLABLES, BY_DEFINITION, WORDS

REPO = Path(__file__).resolve().parents[1]


def _user(record: dict) -> str:
    return next(m["content"] for m in record["messages"] if m["role"] == "user")


def _golden(record: dict) -> str:
    (assistant,) = [m for m in record["messages"] if m["role"] == "assistant"]
    return assistant["content"]


# --- word list ----------------------------------------------------------------------------


def test_word_list_is_large_consistent_and_unambiguous() -> None:
    assert len(WORDS) >= 300
    assert len({w.word for w in WORDS}) == len(WORDS)
    assert len(BY_DEFINITION) == len(WORDS)  # definitions unique: a clue names one word
    for w in WORDS:
        assert "".join(w.syllables) == w.word, w
        assert all(s.isascii() and s.isalpha() and s.islower() for s in w.syllables), w
        assert w.definition.strip() and w.word not in w.definition.lower(), w
    sizes = Counter(len(w.syllables) for w in WORDS)
    assert sum(sizes[k] for k in (2, 3, 4)) >= 0.9 * len(WORDS)
    assert sizes[2] >= LEVELS["tiny"].pool
    assert set(ALL_SYLLABLES) == {s for w in WORDS for s in w.syllables}


# --- determinism --------------------------------------------------------------------------


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert write_jsonl(generate(200, "medium", seed=7, inventory=True), a) == 200
    write_jsonl(generate(200, "medium", seed=7, inventory=True), b)
    write_jsonl(generate(200, "medium", seed=8, inventory=True), c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert len(a.read_bytes().splitlines()) == 200


def test_prefix_is_stable_and_levels_differ() -> None:
    long = list(generate(50, "easy", seed=3))
    assert list(generate(20, "easy", seed=3)) == long[:20]
    assert [r["metadata"]["index"] for r in long] == list(range(50))
    hard = list(generate(50, "hard", seed=3))
    assert [_user(r) for r in hard] != [_user(r) for r in long]


def test_same_output_in_a_fresh_interpreter_with_another_hash_seed(tmp_path: Path) -> None:
    here = tmp_path / "here.jsonl"
    write_jsonl(generate(30, "hard", seed=11), here)
    code = (
        "from syllo_train.demo.puzzles import generate, write_jsonl;"
        f"write_jsonl(generate(30, 'hard', seed=11), {str(tmp_path / 'there.jsonl')!r})"
    )
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=60)
    assert (tmp_path / "there.jsonl").read_bytes() == here.read_bytes()


# --- validity -----------------------------------------------------------------------------


@pytest.mark.parametrize("level", list(LEVELS))
@pytest.mark.parametrize("inventory", [False, True])
def test_every_golden_answer_solves_its_puzzle(level: str, inventory: bool) -> None:
    for record in generate(300, level, seed=1, inventory=inventory):
        golden = _golden(record)
        assert "\n" not in golden
        answer = json.loads(golden)
        assert json.dumps(answer, separators=(",", ":")) == golden  # compact, round-trips
        assert ("inventory" in answer) is inventory
        assert answer_problems(record, golden) == []
        assert check_answer(record, golden)
        assert [s["answer"] for s in answer["solutions"]] == record["metadata"]["words"]


@pytest.mark.parametrize("level", list(LEVELS))
def test_tiles_are_exactly_the_answers_syllables_plus_herrings(level: str) -> None:
    for record in generate(300, level, seed=2):
        tiles = parse_puzzle(_user(record)).tiles
        solutions = json.loads(_golden(record))["solutions"]
        used = [s for sol in solutions for s in sol["syllables"]]
        herrings = record["metadata"]["herrings"]
        assert Counter(tiles) == Counter(used) + Counter(herrings)
        assert not set(herrings) & set(used)  # a herring never doubles a real tile


@pytest.mark.parametrize("level", list(LEVELS))
def test_level_parameters_are_respected(level: str) -> None:
    spec = LEVELS[level]
    pool = {w.word.upper() for w in eligible_words(level)}
    seen_counts, seen_herrings = set(), set()
    for record in generate(400, level, seed=4):
        puzzle = parse_puzzle(_user(record))
        words = record["metadata"]["words"]
        assert spec.words[0] <= len(puzzle.clues) <= spec.words[1]
        assert [c.number for c in puzzle.clues] == list(range(1, len(puzzle.clues) + 1))
        assert all(spec.syllables[0] <= c.blanks <= spec.syllables[1] for c in puzzle.clues)
        assert len(set(words)) == len(words)  # no word twice in one puzzle
        assert set(words) <= pool
        n_herrings = len(record["metadata"]["herrings"])
        assert spec.herrings[0] <= n_herrings <= spec.herrings[1]
        seen_counts.add(len(puzzle.clues))
        seen_herrings.add(n_herrings)
    # the whole range is used, not just one end of it
    assert seen_counts == set(range(spec.words[0], spec.words[1] + 1))
    assert seen_herrings == set(range(spec.herrings[0], spec.herrings[1] + 1))


def test_tiny_reaches_exactly_its_enumerated_puzzle_space() -> None:
    pool = eligible_words("tiny")
    assert len(pool) == LEVELS["tiny"].pool
    space = {
        "Tiles: " + " | ".join(order) + f"\n1. ___ ___ — {w.definition}"
        for w in pool
        for order in set(permutations(w.syllables))
    }
    seen = {_user(r) for r in generate(3000, "tiny", seed=0)}
    assert seen == space
    print(f"tiny: {len(space)} distinct puzzles")


def test_system_prompt_option() -> None:
    (default,) = generate(1, "tiny")
    assert default["messages"][0] == {"role": "system", "content": puzzles.SYSTEM_PROMPT}
    (none,) = generate(1, "tiny", system_prompt=None)
    assert [m["role"] for m in none["messages"]] == ["user", "assistant"]
    (custom,) = generate(1, "tiny", system_prompt="Be brief.")
    assert custom["messages"][0]["content"] == "Be brief."
    assert custom["messages"][1:] == none["messages"]  # the puzzle itself is unchanged


def test_bad_arguments_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="unknown SYLLO level 'nightmare'"):
        generate(5, "nightmare")
    with pytest.raises(ValueError, match="n must be"):
        generate(-1, "easy")
    with pytest.raises(ValueError, match="pool must be"):
        generate(5, "hard", pool=3)  # fewer words than a hard puzzle needs


# --- the checker must be able to say no -----------------------------------------------------


def _first(level: str, inventory: bool = False) -> tuple[dict, dict]:
    record = next(generate(1, level, seed=5, inventory=inventory))
    return record, json.loads(_golden(record))


def _says_no(record: dict, answer: dict, expect: str) -> None:
    problems = answer_problems(record, json.dumps(answer))
    assert any(expect in p for p in problems), problems
    assert not check_answer(record, json.dumps(answer))


def test_checker_rejects_wrong_syllable_order() -> None:
    record, answer = _first("tiny")
    answer["solutions"][0]["syllables"].reverse()
    answer["solutions"][0]["answer"] = "".join(answer["solutions"][0]["syllables"]).upper()
    _says_no(record, answer, "does not spell the defined word")


def test_checker_rejects_missing_and_swapped_clues() -> None:
    record, answer = _first("medium")
    missing = {"solutions": answer["solutions"][1:]}
    _says_no(record, missing, "clue 1 is not answered")
    swapped = json.loads(json.dumps(answer))
    a, b = swapped["solutions"][0], swapped["solutions"][1]
    a["ans_num"], b["ans_num"] = b["ans_num"], a["ans_num"]
    assert not check_answer(record, json.dumps(swapped))


def test_checker_rejects_bad_answer_text_and_foreign_tiles() -> None:
    record, answer = _first("easy")
    answer["solutions"][0]["answer"] += "S"
    _says_no(record, answer, "is not its syllables joined")
    assert not check_answer(record, "not json")
    assert not check_answer(record, '{"solutions": "nope"}')
    # a word that is not on the board at all: right shape, wrong tiles
    record2, answer2 = _first("tiny")
    other = next(
        w for w in eligible_words("tiny") if w.word.upper() != answer2["solutions"][0]["answer"]
    )
    answer2["solutions"][0]["syllables"] = list(other.syllables)
    answer2["solutions"][0]["answer"] = other.word.upper()
    _says_no(record2, answer2, "not among the tiles")


def test_checker_rejects_a_wrong_inventory() -> None:
    record, answer = _first("medium", inventory=True)
    answer["inventory"]["unused"] = answer["inventory"]["unused"][1:]
    _says_no(record, answer, "inventory.unused")


# --- files and CLI ------------------------------------------------------------------------


def test_write_jsonl_never_leaves_a_half_written_file(tmp_path: Path) -> None:
    out = tmp_path / "data.jsonl"
    out.write_text("old\n")

    def exploding():
        yield from generate(3, "easy")
        raise RuntimeError("generator died")

    with pytest.raises(RuntimeError):
        write_jsonl(exploding(), out)
    assert out.read_text() == "old\n"  # the previous file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl"]  # no temp left


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syllo_train.demo.puzzles", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_writes_valid_train_and_val_files(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "train.jsonl"
    done = _cli(
        "--n",
        "100",
        "--level",
        "medium",
        "--seed",
        "3",
        "--inventory",
        "--val-fraction",
        "0.1",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    val = tmp_path / "sub" / "train.val.jsonl"
    train_lines = out.read_text(encoding="utf-8").splitlines()
    val_lines = val.read_text(encoding="utf-8").splitlines()
    assert (len(train_lines), len(val_lines)) == (90, 10)
    records = [json.loads(line) for line in train_lines + val_lines]
    assert [r["metadata"]["index"] for r in records] == list(range(100))
    assert all(check_answer(r, _golden(r)) for r in records)
    assert all("inventory" in json.loads(_golden(r)) for r in records)
    # the CLI writes exactly what the API generates
    assert records == list(generate(100, "medium", seed=3, inventory=True))
    assert "wrote 90 medium puzzles" in done.stdout


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--level", "nightmare"], "--level"),
        (["--n", "0"], "--n"),
        (["--val-fraction", "1.5"], "--val-fraction"),
        (["--val-out", "v.jsonl"], "--val-out"),
        (["--level", "hard", "--pool", "2"], "pool"),
    ],
)
def test_cli_bad_arguments_exit_2_naming_the_option(
    tmp_path: Path, args: list[str], option: str
) -> None:
    out = tmp_path / "out.jsonl"
    done = _cli(*args, str(out))
    assert done.returncode == 2
    assert option in done.stderr, done.stderr
    assert not out.exists()


def test_cli_main_in_process_and_import_stays_light(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tiny.jsonl"
    assert puzzles.main(["--n", "10", "--level", "tiny", "--no-system-prompt", str(out)]) == 0
    first = json.loads(out.read_text().splitlines()[0])
    assert first["messages"][0]["role"] == "user"
    assert "wrote 10 tiny puzzles" in capsys.readouterr().out
    code = "import sys, syllo_train.demo.puzzles; print(sorted({'torch', 'transformers', 'numpy'} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
