"""What the command line draws, at a fixed width: commands and code never break, a check's title hangs under its
first word. Rich alone breaks a line at any space (`gpt2tutor hint` | `05`) and wraps code blocks."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from rich.console import Console

from gpt2tutor.checking.results import Result
from gpt2tutor.cli.hint import show_hint
from gpt2tutor.cli.render import ResultPrinter, next_step_hint, summary
from gpt2tutor.registry import STEPS, get_step

WIDTHS = [60, 80, 120]  # 120: a common terminal, where `watch` showed the break too


def drawn(width: int, draw) -> list[str]:
    out = io.StringIO()
    draw(Console(file=out, width=width, no_color=True, highlight=False))
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_hint_command_after_a_failure_never_breaks(width: int) -> None:
    step = get_step(5)
    for n in range(1, 40):  # titles of every length put the command at every place on the line
        failed = Result(step.id, "behaviour", " ".join(["word"] * n), False, "")
        report = SimpleNamespace(step=step, results=[failed], first_failure=failed, cause=None)
        lines = drawn(width, lambda console, report=report: summary(console, report))
        assert any(f"gpt2tutor hint {step.id}" in line for line in lines), "\n".join(lines)
        assert all(len(line) <= width for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_next_steps_commands_never_break(width: int) -> None:
    for step in STEPS:
        state = SimpleNamespace(record=lambda s: SimpleNamespace(passed=False), current=step)
        lines = drawn(width, lambda console, state=state: console.print(next_step_hint(state)))
        for command in (f"gpt2tutor show {step.id}", f"gpt2tutor check {step.id}", f"exercises/{step.filename}"):
            assert any(command in line for line in lines), "\n".join(lines)


def test_a_long_check_title_hangs_under_its_first_word() -> None:
    title = "GPT2MultiHeadAttention(config) holds c_attn and c_proj, Linear layers of the reference's shapes and names"
    lines = drawn(80, lambda console: ResultPrinter(console)(Result("07", "structure", title, False, "why")))
    assert lines[0] == "Structure"
    assert lines[1].startswith("  ✗ GPT2MultiHeadAttention") and len(lines[1]) <= 80
    continued = lines[2:-1]
    assert continued and all(line.startswith("    ") and line[4] != " " for line in continued), "\n".join(lines)
    assert " ".join(line.strip() for line in lines[1:-1]) == "✗ " + title
    assert lines[-1] == "      why"


def test_code_in_a_message_never_breaks() -> None:
    code = "`print(x_hat.shape, x_hat.to_numpy().mean(-1))`"
    for n in range(1, 30):
        message = " ".join(["word"] * n) + " " + code
        result = Result("03", "behaviour", "LayerNorm", False, message)
        lines = drawn(80, lambda console, result=result: ResultPrinter(console)(result))
        assert any(code in line for line in lines), "\n".join(lines)
        assert all(line.startswith("      ") for line in lines[2:]), "\n".join(lines)


def test_a_near_solutions_code_is_not_wrapped() -> None:
    code = "        return F.layer_norm(x, gamma=self.weight, beta=self.bias, epsilon=self.eps)"
    hint = SimpleNamespace(step=get_step(3), repeated=False, index=2, total=3, label="Near-solution", next_label=None,
                           text=f"Fill in the blanks.\n\n```python\nclass LayerNorm(Module):\n{code}\n```\n")
    lines = drawn(60, lambda console: show_hint(hint, console))
    assert sum("return F.layer_norm(x" in line for line in lines) == 1
    assert not any("epsilon=self.eps)" in line for line in lines), "\n".join(lines)  # cut at the edge, not wrapped
