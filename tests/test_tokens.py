"""tokens.py: the log example token by token, and a wrong mask named in words.

Each example is written through the real EventWriter (tests/eventgen.py) and
read back as the TUI reads it; every wrong mask is made on purpose from the
same ChatML example, so each finding is tied to the one thing that changed.
"""

from __future__ import annotations

from pathlib import Path

import eventgen
import pytest
from _folds import fold

from syllo_tui.tokens import (
    NEWLINE,
    SPACE,
    TAB,
    TokenView,
    loss_level,
    mask_findings,
    mask_strip,
    parse_tokens,
    shown_text,
    special_text,
    summary_line,
    top_losses,
)


def _tokens_of(path: Path) -> tuple[TokenView, int | None, int | None]:
    st = fold(path)
    example = st.examples[-1]
    view = st.tokens_of(example)
    assert view is not None, "the log example's tokens were not kept"
    return view, example.prompt_tokens, example.golden_tokens


def test_a_right_mask_has_no_finding_and_its_answer_trains(tmp_path: Path) -> None:
    eventgen.with_tokens(tmp_path / "e.jsonl").close()
    view, start, golden = _tokens_of(tmp_path / "e.jsonl")
    assert mask_findings(view, start, golden, None) == []
    # The mask, literally: the 17 template and prompt tokens are masked, the answer and its
    # end-of-turn token train, the template's trailing newline does not.
    assert view.trained == (False,) * 17 + (True,) * 4 + (False,)
    assert mask_strip(view, 80) == "░" * 17 + "█" * 4 + "░"
    assert [view.text[i] for i in top_losses(view, 2)] == ["cket", "po"]


@pytest.mark.parametrize(
    ("mask", "words", "where"),
    [
        ("answer_masked", "1 answer token masked", ("cket",)),
        ("prompt_trained", "1 token before the answer trained", ("pocket",)),
        ("double_bos", "doubled ⟨s⟩ at the start", ("<s>", "<s>")),
        ("eot_masked", "⟨|im_end|⟩ after the answer is not trained", ("<|im_end|>",)),
    ],
)
def test_a_wrong_mask_is_named_and_points_at_its_tokens(
    mask: str, words: str, where: tuple[str, ...], tmp_path: Path
) -> None:
    eventgen.with_tokens(tmp_path / "e.jsonl", mask).close()
    view, start, golden = _tokens_of(tmp_path / "e.jsonl")
    findings = mask_findings(view, start, golden, None)
    assert [f.level for f in findings] == ["warning"], findings
    assert findings[0].text.startswith(words), findings[0].text
    assert tuple(view.text[i] for i in findings[0].positions) == where
    assert any(line.startswith(f"⚠ {words}") for line in summary_line(view, start, golden, None))


def test_trained_turns_before_the_answer_are_a_note_with_train_on_all(tmp_path: Path) -> None:
    eventgen.with_tokens(tmp_path / "e.jsonl", "prompt_trained").close()
    view, start, golden = _tokens_of(tmp_path / "e.jsonl")
    (finding,) = mask_findings(view, start, golden, "all")
    assert finding.level == "note" and "train_on = all" in finding.text


def test_no_label_at_all_and_every_label_are_both_warnings() -> None:
    base = eventgen.chatml_tokens()["tokens"]
    none = parse_tokens({**base, "trained": [False] * 22, "loss": [None] * 22})
    assert none is not None
    (finding,) = mask_findings(none, 17, 4, None)
    assert finding.text.startswith("no token is trained")
    every = parse_tokens({**base, "trained": [True] * 22, "loss": [1.0] * 22})
    assert every is not None
    assert mask_findings(every, 0, 22, None)[0].text.startswith("every token is trained")


def test_specials_and_whitespace_that_matters_are_visible() -> None:
    assert special_text("<|im_end|>") == "⟨|im_end|⟩"
    assert special_text("<s>") == "⟨s⟩"
    assert special_text("[PAD]") == "⟨[PAD]⟩"
    tokens = [
        ("a", False, None, False),
        (" b", False, None, False),  # an ordinary leading space stays a space
        ("  ", False, None, False),  # whitespace alone: every space shown
        ("\t", False, None, False),
        ("c\n", False, None, False),
        (" d ", True, 1.0, False),  # the edges of a trained run: shown
        ("e  f", True, 1.0, False),  # two spaces in a row: shown
    ]
    view = parse_tokens(eventgen.token_example(tokens, prompt_tokens=5, golden_tokens=2)["tokens"])
    assert view is not None
    shown = [shown_text(view, i) for i in range(len(view))]
    assert shown == ["a", " b", SPACE * 2, TAB, f"c{NEWLINE}\n", f"{SPACE}d ", f"e{SPACE * 2}f"]


def test_the_last_trained_token_shows_its_trailing_space() -> None:
    tokens = [("q", False, None, False), ("ans", True, 1.0, False), (" ", True, 0.5, False)]
    view = parse_tokens(eventgen.token_example(tokens, prompt_tokens=1, golden_tokens=2)["tokens"])
    assert view is not None
    assert shown_text(view, 2) == SPACE


def test_untrusted_token_text_is_inert() -> None:
    view = parse_tokens(eventgen.injected_tokens()["tokens"])
    assert view is not None
    shown = "".join(shown_text(view, i) for i in range(len(view)))
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "␛]52;c;SGVsbG8=␇" in shown and "[bold]Split\\u202e" in shown


def test_a_cut_maps_positions_and_shows_where() -> None:
    tokens = [("p", False, None, False)] * 4 + [("a", True, 1.0, False)] * 4
    example = eventgen.token_example(
        tokens, prompt_tokens=104, golden_tokens=4, cut={"at": 2, "tokens": 100}, count=108
    )
    view = parse_tokens(example["tokens"])
    assert view is not None and view.count == 108
    assert [view.position(i) for i in range(8)] == [0, 1, 102, 103, 104, 105, 106, 107]
    assert mask_findings(view, 104, 4, None) == []
    assert mask_strip(view, 80) == "░░…░░████"
    assert "100 left out" in summary_line(view, 104, 4, None)[0]


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "tokens",
        {"text": ["a"], "trained": [True]},  # a list missing
        {"text": ["a", "b"], "trained": [True], "loss": [1.0], "special": [False]},  # lengths
        {"text": [1], "trained": [True], "loss": [1.0], "special": [False]},
        {"text": ["a"], "trained": [1], "loss": [1.0], "special": [False]},
        {"text": ["a"], "trained": [True], "loss": ["x"], "special": [False]},
    ],
)
def test_a_malformed_tokens_object_is_no_token_view(raw: object) -> None:
    assert parse_tokens(raw) is None


def test_losses_fall_in_the_legend_buckets() -> None:
    assert [loss_level(x) for x in (None, 0.0, 0.49, 0.5, 1.5, 3.9, 4.0, 40.0)] == [
        None, 0, 0, 1, 2, 3, 4, 4,
    ]  # fmt: skip
    weird = parse_tokens(
        {"text": ["a"], "trained": [True], "loss": [1e400], "special": [False], "cut": "x"}
    )
    assert weird is not None and weird.loss == (None,) and weird.cut_at is None
