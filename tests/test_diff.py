"""diff.py: what changed between an output and its golden (or the last round's output)."""

from __future__ import annotations

from syllo_tui.diff import Piece, alike, changes, plain, summary


def test_a_near_miss_is_one_character() -> None:
    pieces = changes("POCKET", "POKET")
    assert pieces == [Piece("same", "PO"), Piece("gone", "C"), Piece("same", "KET")]
    assert plain(pieces) == "PO[-C-]KET"
    assert summary(pieces) == "1 char gone"
    assert plain(changes("po-cket", "po-ckett")) == "po-cket{+t+}"
    # A one-word answer is alike its golden by its characters (by words it would be 0).
    assert alike("POCKET", "POKET") > 0.9 > alike("POCKET", "BANANA")


def test_json_answers_diff_by_character_where_they_are_close() -> None:
    golden = '{"answer":"BUBBLE","syllables":["bub","ble"]}'
    output = '{"answer":"BUBBUB","syllables":["bub","bub"]}'
    text = plain(changes(golden, output))
    assert text.startswith('{"answer":"BUBB')
    assert text.count("[-") == 2 and text.count("{+") == 2


def test_different_texts_diff_by_word_not_confetti() -> None:
    old, new = "the cat sat on the mat", "a dog ran to the park"
    pieces = changes(old, new)
    # Whole words come and go, never a letter out of one.
    assert set(" ".join(p.text for p in pieces if p.kind == "gone").split()) <= set(old.split())
    assert set(" ".join(p.text for p in pieces if p.kind == "new").split()) <= set(new.split())
    assert alike(old, new) < 0.3 < alike("po-cket is it", "po-cket it is")
    # Put back together, the pieces give both texts.
    assert "".join(p.text for p in pieces if p.kind != "new") == old
    assert "".join(p.text for p in pieces if p.kind != "gone") == new


def test_same_and_empty() -> None:
    assert changes("", "") == []
    assert plain(changes("x", "x")) == "x" and summary(changes("x", "x")) == "same"
    assert plain(changes("", "new")) == "{+new+}"
    assert summary(changes("ab", "cd")) == "2 chars gone, 2 new"
