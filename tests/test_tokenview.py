"""widgets/tokenview.py as plain functions: how each token is styled (the screen shows the rest)."""

from __future__ import annotations

import eventgen

from syllo_tui.tokens import parse_tokens, top_losses
from syllo_tui.widgets.tokenview import LEVEL_STYLES, MASKED, tokens_text


def test_tokens_are_styled_by_their_kind_and_their_loss() -> None:
    view = parse_tokens(eventgen.chatml_tokens()["tokens"])
    assert view is not None
    text = tokens_text(view, set(top_losses(view, 1)), set())

    def style_at(fragment: str) -> str:
        start = text.plain.rindex(fragment)
        return " ".join(str(s.style) for s in text.spans if s.start == start)

    assert style_at("cket") == f"{LEVEL_STYLES[4]} reverse"  # loss 4.73, the highest
    assert style_at("po") == LEVEL_STYLES[0]  # loss 0.21
    assert style_at("user") == MASKED
    assert style_at("⟨|im_start|⟩") == f"{MASKED} magenta"
