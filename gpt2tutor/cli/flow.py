"""Text that wraps between words, never inside a command or a piece of code.

Rich breaks a line at any space, so `gpt2tutor hint 05` could end a line at `hint`, and a continuation line starts
at column 0. `Flow` breaks the lines itself, at the width it is given, before rich sees them: commands and code
stay whole, and a check's title hangs under its first word. A command is marked in the markup as rich draws it
here, `[bold]...[/]`, or between backticks, as messages quote code. And Markdown whose code blocks never wrap.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

QUOTED = re.compile(r"`[^`\n]+`")


class Flow:
    """`text` (markup or a Text) broken at spaces outside commands, each line fitting the width; every line
    indented by `indent`, and a line's continuation by `hang` more. A command longer than a whole line is left to
    rich, which folds it."""

    def __init__(self, text: str | Text, *, indent: int = 0, hang: int = 0, style: str = ""):
        self.text = Text.from_markup(text, style=style) if isinstance(text, str) else text
        self.indent, self.hang = indent, hang

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.lines(options.max_width)

    def lines(self, width: int) -> Text:
        text, plain = self.text, self.text.plain
        whole = [(m.start(), m.end()) for m in QUOTED.finditer(plain)]
        whole += [(s.start, s.end) for s in text.spans if str(s.style) == "bold"]
        kept = {i for start, end in whole for i in range(start + 1, end)}
        out, start = Text(style=text.style, end=text.end), 0
        for hard in plain.split("\n"):
            end = start + len(hard)
            for i, (a, b) in enumerate(_lines(plain, start, end, kept, width - self.indent, self.hang)):
                if i or start:
                    out.append("\n")
                out.append(" " * (self.indent + (self.hang if i else 0)))
                if b > a:
                    piece = text[a:b]
                    piece.rstrip()
                    out.append_text(piece)
            start = end + 1
        out.rstrip()
        return out


def _lines(plain: str, start: int, end: int, kept: set[int], width: int, hang: int) -> list[tuple[int, int]]:
    """Where to break plain[start:end] (no newline in it): greedy, at a space that is not inside a command."""
    breaks = [p for p in range(start + 1, end) if plain[p - 1] == " " and plain[p] != " " and p not in kept]
    lines, first, used = [], start, 0
    for a, b in zip([start, *breaks], [*breaks, end]):
        room = width - (hang if lines else 0)
        if used and used + cell_len(plain[a:b].rstrip()) > room:
            lines.append((first, a))
            first, used = a, 0
        used += cell_len(plain[a:b])
    lines.append((first, end))
    return lines


def lesson_markdown(text: str) -> Any:
    """Rich's Markdown of `text`, with code blocks that never wrap (a wrapped line of Python reads as two)."""
    return _lesson_markdown()(text)


@cache
def _lesson_markdown() -> type:
    """The class, made on first use: rich's Markdown loads markdown-it and pygments, which most commands never need."""
    from rich.markdown import CodeBlock, Markdown
    from rich.syntax import Syntax

    class UnwrappedCode(CodeBlock):
        """A code block whose long lines are cut at the edge, as rich's Syntax does, never wrapped."""

        def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
            yield Syntax(str(self.text).rstrip(), self.lexer_name, theme=self.theme, word_wrap=False, padding=1)

    class LessonMarkdown(Markdown):
        elements = {**Markdown.elements, "fence": UnwrappedCode, "code_block": UnwrappedCode}

    return LessonMarkdown
