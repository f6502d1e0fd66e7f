"""The token view (v): the trained example token by token, its mask and each token's loss.

What it shows comes from tokens.py (the findings, the scale, the visible
text); here it only gets its styles. Each style has a colourless twin so
that NO_COLOR still tells the kinds apart: masked tokens are dim, trained
ones underlined (and shaded by their loss where there is colour), the
highest losses reversed, and a token a finding is about is followed by ‹!›.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from syllo_tui.render import example_caption
from syllo_tui.tokens import (
    LOSS_LABELS,
    Finding,
    TokenView,
    loss_level,
    mask_findings,
    mask_strip,
    shown_text,
    special_text,
    top_losses,
)
from syllo_tui.views import ExampleView
from syllo_tui.widgets.text import plain

#: Background of a trained token by its loss bucket (tokens.LOSS_LABELS), low to high.
LEVEL_STYLES = (
    "underline white on #14532d",
    "underline white on #3f6212",
    "underline white on #854d0e",
    "underline white on #9a3412",
    "underline bold white on #991b1b",
)
MASKED = "dim"
SPECIAL = "bold magenta"
NO_LOSS = "underline bold red"  # trained, but its loss was not finite
FLAG = "‹!›"


class TokenPane(Vertical):
    """The head (caption, legend, mask strip, findings, highest losses) and the scrolling tokens."""

    def compose(self) -> ComposeResult:
        yield Static(Text(""), id="tokens-head")
        with VerticalScroll(id="tokens-scroll", can_focus=True):
            yield Static(Text(""), id="tokens-body")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn: tuple[object, ...] | None = None

    def show(
        self,
        example: ExampleView | None,
        tokens: TokenView | None,
        position: tuple[int, int],
        train_on: str | None,
        *,
        fallback: bool = False,
    ) -> None:
        """Draw ``example``'s ``tokens`` (``fallback``: the newest before the one the run view shows)."""
        key = (
            example.seq if example else None,
            id(tokens),
            position,
            train_on,
            fallback,
            self.size.width,
        )
        if key == self._drawn:
            return
        new = self._drawn is None or self._drawn[0] != key[0]
        self._drawn = key
        head = self.query_one("#tokens-head", Static)
        body = self.query_one("#tokens-body", Static)
        if example is None or tokens is None:
            head.update(
                Text(
                    "no token view yet: log examples carry one when monitor.example_tokens > 0 "
                    "(v goes back)",
                    style="dim",
                )
            )
            body.update(Text(""))
            return
        findings = mask_findings(tokens, example.prompt_tokens, example.golden_tokens, train_on)
        flagged = {i for f in findings if f.level == "warning" for i in f.positions}
        top = top_losses(tokens)
        head.update(head_text(example, tokens, position, findings, top, fallback, self.size.width))
        body.update(tokens_text(tokens, set(top), flagged))
        if new:
            self.query_one("#tokens-scroll", VerticalScroll).scroll_home(animate=False)


def head_text(
    example: ExampleView,
    tokens: TokenView,
    position: tuple[int, int],
    findings: list[Finding],
    top: list[int],
    fallback: bool,
    width: int,
) -> Text:
    """The lines above the tokens: which example, counts, legend, mask strip, findings, top losses."""
    out = Text(end="")
    index, count = position
    out.append(f"tokens {index}/{count}", style="bold")
    out.append(" · ", style="dim")
    out.append_text(plain(example_caption(example), "dim"))
    if fallback:
        out.append(" · the newest trained example before the one shown", style="italic")
    cut = f", {tokens.cut_tokens:,} left out" if tokens.cut_at is not None else ""
    out.append(f"\n{tokens.count:,} tokens, {tokens.trained_count:,} trained{cut}")
    mean = tokens.mean_loss()
    if mean is not None:
        out.append(f" · mean loss {mean:.4f}")
    out.append(" · ← → another · v back", style="dim")
    out.append("\nlegend ", style="dim")
    out.append("masked", style=MASKED)
    out.append(" · loss", style="dim")
    for label, style in zip(LOSS_LABELS, LEVEL_STYLES, strict=True):
        out.append(" ")
        out.append(label, style=style)
    out.append(" · ", style="dim")
    out.append("⟨special⟩", style=SPECIAL)
    out.append(" · ", style="dim")
    out.append("highest", style="reverse")
    out.append(f" · {FLAG} flagged", style="dim")
    out.append("\nmask   ", style="dim")
    out.append(mask_strip(tokens, max(10, width - 10)))
    for finding in findings:
        out.append("\n")
        if finding.level == "warning":
            out.append(f"⚠ {finding.text} {FLAG}", style="bold red")
        else:
            out.append(f"ℹ {finding.text}", style="yellow")
    if top:
        out.append("\nhighest ", style="dim")
        for k, i in enumerate(top):
            if k:
                out.append(" · ", style="dim")
            out.append_text(plain(f'"{shown_text(tokens, i).replace(chr(10), "")}"', "bold"))
            out.append(f" {tokens.loss[i] or 0.0:.2f} @{tokens.position(i)}")
    return out


def tokens_text(tokens: TokenView, top: set[int], flagged: set[int]) -> Text:
    """The tokens in order, each styled by its kind and loss; ``flagged`` ones followed by ‹!›."""
    out = Text(end="")
    for i in range(len(tokens)):
        if tokens.cut_at is not None and i == tokens.cut_at:
            out.append(f"\n… {tokens.cut_tokens:,} tokens left out …\n", style="italic dim")
        text = special_text(tokens.text[i]) if tokens.special[i] else shown_text(tokens, i)
        if tokens.trained[i]:
            level = loss_level(tokens.loss[i])
            style = NO_LOSS if level is None else LEVEL_STYLES[level]
            if tokens.special[i]:
                style += " bold"
        else:
            style = f"{MASKED} magenta" if tokens.special[i] else MASKED
        if i in top:
            style += " reverse"
        out.append(text, style=style)
        if i in flagged:
            out.append(FLAG, style="bold red")
    return out
