"""How the CLI shows steps, progress and check results (rich renderables; plain text off a terminal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..curriculum import STEPS, Step
from ..state import State
from ..workspace import Workspace
from .common import PROG

if TYPE_CHECKING:  # gpt2tutor.checking pulls in numpy: not at import time (`--help` stays fast)
    from ..checking.results import Result

STATUS_LABELS = {"locked": "locked", "todo": "todo", "passed": "passed", "changed": "changed since passed"}
STATUS_STYLES = {"locked": "dim", "todo": "", "passed": "green", "changed": "yellow"}
HINT_TIERS = ("nudge", "concept", "near-solution")


def status_label(status: str) -> Text:
    return Text(STATUS_LABELS.get(status, status), style=STATUS_STYLES.get(status, ""))


def step_table(state: State, ws: Workspace) -> Table:
    """Every step: number, title, status, hints used; the current step marked with ▶."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("", width=1, no_wrap=True)
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("title")
    table.add_column("status", no_wrap=True)
    table.add_column("hints", justify="right", no_wrap=True)
    for step in STEPS:
        status = state.status(step, ws)
        rec = state.record(step)
        hints = f"{rec.hints_used}/{len(HINT_TIERS)}" if rec.hints_used else "–"
        title = Text(step.title, style="dim" if status == "locked" else "")
        table.add_row("▶" if step.number == state.current else "", step.id, title, status_label(status), hints)
    return table


def progress(state: State) -> Table:
    """A bar and 'N of M steps passed'."""
    passed = sum(1 for s in STEPS if state.record(s).passed)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=30)
    grid.add_column()
    grid.add_row(ProgressBar(total=len(STEPS), completed=passed, width=30),
                 f"{passed} of {len(STEPS)} steps passed")
    return grid


def overview(state: State, ws: Workspace) -> Group:
    return Group(step_table(state, ws), Text(""), progress(state))


def next_step_hint(state: State) -> str:
    """What to do next, as rich markup."""
    if all(state.record(s).passed for s in STEPS):
        return (f"[green bold]Every step passes.[/] Your GPT-2 is complete: try "
                f"[bold]{PROG} generate \"Hello, I'm a language model,\"[/].")
    step = STEPS[state.current - 1]
    return (f"Next: step {step.id} · {escape(step.title)} — read the lesson with [bold]{PROG} show {step.id}[/], "
            f"edit [bold]exercises/{step.filename}[/], then run [bold]{PROG} check {step.id}[/].")


class ResultPrinter:
    """Prints results as they arrive: a heading per step (when several) and per phase, then ✓/✗ lines."""

    def __init__(self, console: Console, *, step_headings: bool = False):
        self.console = console
        self.step_headings = step_headings
        self._step: str | None = None
        self._phase: str | None = None

    def __call__(self, result: Result) -> None:
        from ..checking.results import PHASE_TITLES

        out = self.console
        if result.step != self._step:
            self._step, self._phase = result.step, None
            if self.step_headings:
                step = STEPS[int(result.step) - 1]
                out.print(f"\n[bold]Step {step.id} · {escape(step.title)}[/]")
        if result.phase != self._phase:
            self._phase = result.phase
            out.print(Text(PHASE_TITLES.get(result.phase, result.phase), style="bold cyan"))
        mark = Text("  ✓ ", style="green") if result.passed else Text("  ✗ ", style="red bold")
        out.print(mark + Text(result.name, style="" if result.passed else "red"))
        if result.message:
            body = Text(result.message.rstrip(), style="dim" if result.passed else "")
            out.print(Padding(body, (0, 0, 0, 6), expand=False))


def summary(console: Console, step: Step, results: list[Result], state: State) -> None:
    failed = [r for r in results if not r.passed]
    if not results:
        console.print(f"[red]✗ step {step.id}: no checks ran.[/]")
    elif not failed:
        console.print(f"\n[green bold]✓ step {step.id} passes![/] ({len(results)} checks)")
    else:
        console.print(f"\n[red bold]✗ step {step.id} does not pass yet[/]: {escape(failed[0].name)}. "
                      f"Stuck? [bold]{PROG} hint {step.id}[/]")
