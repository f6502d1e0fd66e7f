"""matching.py: exact / normalized / json, and no match at all for a missing output."""

from __future__ import annotations

import pytest

from syllo_train.matching import MATCH_MODES, is_match, normalize, strip_think

GOLD = '{"solutions":[{"ans_num":1,"syllables":["pro","fes","sor"],"answer":"PROFESSOR"}]}'


@pytest.mark.parametrize("mode", MATCH_MODES)
def test_missing_output_has_no_match(mode: str) -> None:
    # A timeout is neither right nor wrong: None, never False.
    assert is_match(None, GOLD, mode) is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (GOLD, True),
        (f"  {GOLD}\n", True),  # surrounding whitespace only
        (GOLD.replace("PROFESSOR", "professor"), False),
        (GOLD.replace(":", ": "), False),  # inner spacing counts in exact mode
        # The think rule: the golden has no think block, so the answer after it is compared.
        (f"<think>hmm</think>{GOLD}", True),
        (f"<think>\n\n</think>\n\n{GOLD}", True),  # the empty block a template inserts
        (f"<think>hmm</think>{GOLD} extra", False),
        (f"<think>hmm {GOLD}", False),  # an unclosed block runs to the end: no answer
        ("", False),
    ],
)
def test_exact(output: str, expected: bool) -> None:
    assert is_match(output, GOLD, "exact") is expected


def test_a_golden_with_reasoning_is_compared_whole() -> None:
    golden = "<think>pro-fes-sor</think>PROFESSOR"
    assert is_match(golden, golden, "exact") is True
    assert is_match("PROFESSOR", golden, "exact") is False


def test_a_prompt_that_opened_the_block_leaves_the_reasoning_open() -> None:
    # The eval prompt ended with "<think>\n": the output's reasoning runs to its first </think>.
    assert is_match("hmm, pro-fes-sor\n</think>\n\nPROFESSOR", "PROFESSOR", opened=True) is True
    assert is_match("\n</think>\n\nPROFESSOR", "PROFESSOR", "normalized", opened=True) is True
    assert is_match("still thinking PROFESSOR", "PROFESSOR", opened=True) is False
    assert (
        is_match("\n</think>\n\nPROFESSOR", "PROFESSOR") is False
    )  # not opened: "</think>" is text


@pytest.mark.parametrize(
    ("output", "golden", "expected"),
    [
        ("<think>let me see\nPRO FES SOR</think>PROFESSOR", "PROFESSOR", True),
        ("<think>never closed PROFESSOR", "PROFESSOR", False),  # an unclosed block runs to the end
        ("<think>never closed", "", True),
        ("the   answer\n is\tPONY", "the answer is PONY", True),
        ("the answer is pony", "the answer is PONY", False),  # case is kept
        ("<think>a</think> X <think>b</think> Y ", "X Y", True),
        ("XY", "X Y", False),
    ],
)
def test_normalized(output: str, golden: str, expected: bool) -> None:
    assert is_match(output, golden, "normalized") is expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            '{"solutions": [{"answer": "PROFESSOR", "syllables": ["pro", "fes", "sor"], "ans_num": 1}]}',
            True,
        ),
        (f"<think>plan</think>\n{GOLD}\n", True),
        (GOLD.replace('"ans_num":1', '"ans_num":2'), False),
        (GOLD[:-1], False),  # does not parse
        ("PROFESSOR", False),
    ],
)
def test_json(output: str, expected: bool) -> None:
    assert is_match(output, GOLD, "json") is expected


def test_json_golden_that_does_not_parse_never_matches() -> None:
    assert is_match("not json", "not json", "json") is False


def test_helpers() -> None:
    assert strip_think("a<think>x\ny</think>b") == "ab"
    assert strip_think("a<think>x") == "a"
    assert normalize("  a \n\t b  ") == "a b"


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown match mode 'fuzzy'"):
        is_match("a", "a", "fuzzy")
