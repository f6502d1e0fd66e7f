"""The example line and the three text panes: prompt, golden, model."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from syllo_tui.render import example_caption, tokens_label, verdict
from syllo_tui.views import EvalView, ExampleView
from syllo_tui.widgets.text import STYLES, body_text, output_vs_golden, plain


class TextPane(VerticalScroll, can_focus=True):
    """A bordered, scrollable pane holding one long text."""

    def compose(self) -> ComposeResult:
        yield Static(Text(""), classes="pane-body")

    def show(self, title: Text, subtitle: Text, body: Text, *, new: bool) -> None:
        """Replace the text; ``new`` (another example) scrolls back to the top."""
        self.border_title = title
        self.border_subtitle = subtitle
        self.query_one(".pane-body", Static).update(body)
        if new:
            self.scroll_home(animate=False)

    @property
    def body_text(self) -> str:
        """The plain text shown (for tests and scripts)."""
        content = self.query_one(".pane-body", Static).render()
        return str(content)


class ExampleBar(Static):
    """One line above the panes: which example is shown and where it comes from."""

    def update(self, content: Any = "", *, layout: bool = False) -> None:
        # One fixed line: a new text never changes the layout, so skip that pass.
        super().update(content, layout=layout)

    def show(
        self, example: ExampleView | None, position: tuple[int, int], eval_view: EvalView | None
    ) -> None:
        if example is None:
            self.update(Text(" no example yet: the first log event brings one", style="dim"))
            return
        index, count = position
        line = Text(end="")
        line.append(f" example {index}/{count}", style="bold")
        line.append(" · ", style="dim")
        line.append_text(plain(example_caption(example), "dim"))
        if example.tier == "eval" and eval_view is not None and eval_view.accuracy is not None:
            line.append(f" · eval accuracy {100 * eval_view.accuracy:.0f}%", style="dim")
        self.update(line)


def pane_contents(
    example: ExampleView | None, *, fold_think: bool
) -> list[tuple[Text, Text, Text]]:
    """(title, subtitle, body) for the prompt, golden and model panes."""
    if example is None:
        empty = Text("waiting for the first example…", style="dim italic")
        return [(Text(name), Text(""), empty) for name in ("prompt", "golden", "model")]
    prompt = body_text(example.prompt, fold_think=fold_think)
    golden = body_text(example.golden, fold_think=fold_think)
    panes = [
        (
            Text("prompt"),
            Text(tokens_label(example.prompt_tokens, example.cut.get("prompt"))),
            prompt,
        ),
        (
            Text("golden"),
            Text(tokens_label(example.golden_tokens, example.cut.get("golden"))),
            golden,
        ),
    ]
    word = verdict(example)
    if example.tier == "log":
        model = Text(word, style="dim italic", end="")
        model.append(
            "\n(log tier: this example was trained on; outputs come with evals)", style="dim"
        )
        panes.append((Text("model"), Text(""), model))
    elif example.timed_out:
        model = Text(word, style=STYLES["stall"], end="")
        seconds = f" after {example.seconds:.1f}s" if example.seconds is not None else ""
        model.append(f"{seconds}: generation cut off, no verdict\n", style=STYLES["timeout"])
        if example.partial:
            model.append("partial output:\n", style="dim")
            model.append_text(
                body_text(
                    example.partial,
                    fold_think=fold_think,
                    style="dim",
                    think_opened=example.think_opened,
                )
            )
        else:
            model.append("(no partial output)", style="dim")
        panes.append(
            (Text(f"model · {word}", style=STYLES["timeout"]), Text(seconds.strip()), model)
        )
    else:
        style = "green" if example.match else "red" if example.match is False else ""
        title = Text("model · ", end="")
        title.append(word, style=style)
        sub = tokens_label(example.output_tokens, example.cut.get("output"))
        # What differs from the golden, in place: [-golden only-] {+output only+}.
        body, changed = output_vs_golden(
            example.output or "",
            example.golden,
            fold_think=fold_think,
            think_opened=example.think_opened,
        )
        if changed and example.output is not None:
            sub += f" · {changed}"  # before the time: a narrow pane cuts the end
        if example.seconds is not None:
            sub += f" · {example.seconds:.1f}s"
        panes.append((title, Text(sub), body))
    return panes
