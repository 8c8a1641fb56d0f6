"""How the command line draws what the API returns and reports: steps, progress, check results, waiting for
the background compile, MAX compiling, the attention heatmap. Rich renderables; plain text off a terminal.

`Renderer` is the one listener for the API's events: give it as `on_event` and it draws each as it comes.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .. import api
from ..api import PHASE_TITLES, duration
from ..registry import STEPS, get_step
from .common import PROG
from .flow import Flow

STATUS_LABELS = {"locked": "locked", "todo": "todo", "passed": "passed", "changed": "changed since passed",
                 "differs": "compiled graph differs"}
STATUS_STYLES = {"locked": "dim", "todo": "", "passed": "green", "changed": "yellow", "differs": "red"}
PLAIN_EVERY = 10.0  # seconds between progress lines when the output is not a terminal


def cores_text() -> str:
    import os

    n = os.cpu_count() or 1
    return f"{n} core{'s' if n != 1 else ''}"


# --- steps and progress ---------------------------------------------------------------------------

def status_label(status: str) -> Text:
    return Text(STATUS_LABELS.get(status, status), style=STATUS_STYLES.get(status, ""))


def step_table(statuses: list[api.StepStatus]) -> Table:
    """Every step: number, title, status, hints used; the current step marked with ▶."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("", width=1, no_wrap=True)
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("title")
    table.add_column("status", no_wrap=True)
    table.add_column("hints", justify="right", no_wrap=True)
    for s in statuses:
        hints = f"{s.hints_used}/{len(s.step.hints)}" if s.hints_used else "–"
        title = Text(s.step.title, style="dim" if s.status == "locked" else "")
        table.add_row("▶" if s.current else "", s.step.id, title, status_label(s.status), hints)
    return table


def progress_bar(state: api.State) -> Table:
    """A bar and 'N of M steps passed'."""
    passed = state.passed_count()
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=30)
    grid.add_column()
    grid.add_row(ProgressBar(total=len(STEPS), completed=passed, width=30),
                 f"{passed} of {len(STEPS)} steps passed")
    return grid


def overview(tutor: api.Tutor, state: api.State) -> Group:
    statuses = tutor.statuses(state)
    notes = [Text(f"Step {s.step.id}: {s.note}", style="red") for s in statuses if s.note]
    return Group(step_table(statuses), Text(""), progress_bar(state), *([Text("")] + notes if notes else []))


def next_step_hint(state: api.State) -> Flow:
    """What to do next, each command kept on one line."""
    if all(state.record(s).passed for s in STEPS):
        return Flow(f"[green bold]Every step passes.[/] Your GPT-2 is complete: try "
                    f"[bold]{PROG} generate \"Hello, I'm a language model,\"[/].")
    step = state.current
    return Flow(f"Next: step {step.id} · {escape(step.title)} — read the lesson with "
                f"[bold]{PROG} show {step.id}[/], edit [bold]exercises/{step.filename}[/], then run "
                f"[bold]{PROG} check {step.id}[/].")


def summary(console: Console, report: api.CheckReport) -> None:
    failed = report.first_failure
    step = report.step
    if not report.results:
        console.print(f"[red]✗ step {step.id}: no checks ran.[/]")
    elif failed is None:
        console.print(f"\n[green bold]✓ step {step.id} passes![/] ({len(report.results)} checks)")
    elif report.cause:  # no verdict on the step's own file: its note says what stopped it
        console.print(f"\n[yellow bold]✗ step {step.id} was not judged.[/]")
    else:
        console.print(Flow(f"\n[red bold]✗ step {step.id} does not pass yet[/]: {escape(failed.name)}. "
                           f"Stuck? [bold]{PROG} hint {step.id}[/]"))


class ResultPrinter:
    """Prints results as they arrive: a heading per step (when several) and per phase, then ✓/✗ lines."""

    def __init__(self, console: Console, *, step_headings: bool = False):
        self.console = console
        self.step_headings = step_headings
        self._step: str | None = None
        self._phase: str | None = None

    def __call__(self, result) -> None:
        out = self.console
        if result.step != self._step:
            self._step, self._phase = result.step, None
            if self.step_headings:
                step = get_step(result.step)
                out.print(f"\n[bold]Step {step.id} · {escape(step.title)}[/]")
        if result.phase != self._phase:
            self._phase = result.phase
            out.print(Text(PHASE_TITLES.get(result.phase, result.phase), style="bold cyan"))
        mark = Text("  ✓ ", style="green") if result.passed else Text("  ✗ ", style="red bold")
        out.print(Flow(mark + Text(result.name, style="" if result.passed else "red"), hang=4))
        if result.message:
            out.print(Flow(Text(result.message.rstrip(), style="dim" if result.passed else ""), indent=6))


# --- what MAX is doing while a check runs ----------------------------------------------------------

class Activity:
    """A live status while something runs: says when MAX is compiling a kernel (the learner's code used an
    op the tutor had not prepared, or the cache is cold) or a graph, and for how long. `time_limit`: whether
    to say that the check's time limit waits meanwhile."""

    def __init__(self, text: str, *, time_limit: bool = True):
        self.text, self.time_limit = text, time_limit
        self.started = time.monotonic()
        self.compiling: api.Compiling | None = None
        self.compile_started = 0.0
        self.compiled = 0  # kernels MAX prepared (not batches loaded) that took over a second
        self.compile_seconds = 0.0  # and how long they took together

    def __call__(self, event) -> None:
        if isinstance(event, api.Compiling):
            self.compiling, self.compile_started = event, time.monotonic()
        elif isinstance(event, api.Compiled):
            took = time.monotonic() - self.compile_started
            if took > 1.0 and event.kind == "kernel":
                self.compiled += 1
                self.compile_seconds += took
            self.compiling = None

    def summary(self) -> str | None:
        """After the run, one line when MAX spent over a second on kernels the tutor had not loaded, else None."""
        if not self.compiled:
            return None
        n = self.compiled
        return f"MAX spent {duration(self.compile_seconds)} preparing {n} kernel{'s' if n > 1 else ''} the tutor had not loaded."

    def __rich__(self) -> Text:
        now = time.monotonic()
        line = Text(f"{self.text} {duration(now - self.started)}")
        c = self.compiling
        if c is not None and c.kind == "graph":  # Module.compile of their model
            line.append(f"\nMAX is compiling {c.what}: {duration(now - self.compile_started)} so far. A new "
                        "version of your file takes a minute or more; the same code again takes seconds (MAX caches "
                        "compiled graphs on disk). The time limit waits meanwhile.", style="yellow")
        elif c is not None and now - self.compile_started > 1.0:
            what = c.what if c.kind == "batch" else f"a kernel ({c.what})"
            line.append(f"\nMAX is compiling {what}, once per machine: {duration(now - self.compile_started)} "
                        f"so far, usually 10–30 s." + (" The time limit waits meanwhile." if self.time_limit else ""),
                        style="yellow")
        elif self.compiled:
            line.append(f" · compiled {self.compiled} kernel{'s' if self.compiled > 1 else ''}", style="dim")
        return line


# --- waiting for the background compile, and everything else that takes a while ---------------------------

def wait_line(event: api.Waiting) -> Table:
    """The background process's progress while a command waits for it: rich's own bar, and the background's
    one estimate (`Report.remaining`)."""
    report = event.report
    done = event.total - event.left
    now = report.label() if report.task else ("loading MAX" if report.state == "starting" else "starting")
    if report.alive and report.todo:
        todo = report.todo
        last = report.task if event.what == "graph" else todo[min(len(todo), event.left) - 1]
        left = f"~{duration(report.remaining(last))} left" + (" (longer than usual)" if report.overdue() else "")
    else:
        left = "starting…"
    grid = Table.grid(padding=(0, 1))
    if event.what == "graph":
        grid.add_row(Text(f"{event.who}: compiling in the background", style="bold"),
                     f"{now} · {duration(event.seconds)}, {left}")
        return grid
    grid.add_row(Text(f"MAX kernels for {event.who}", style="bold"),
                 ProgressBar(total=max(1, event.total), completed=done, width=10),
                 f"{done}/{event.total} batches · {now} · {duration(event.seconds)}, {left}")
    return grid


class Renderer:
    """Draws the API's events on the terminal as they come: the one `on_event` of every command.

    Check results go to `results` (a ResultPrinter) when set; messages go to `err`. While something runs
    (`live`), or while the command waits for the background compile, one live panel shows it on a
    terminal (rich's Live: what is running and for how long, what MAX compiles, the wait's bar); off a
    terminal, a plain line every PLAIN_EVERY seconds instead."""

    def __init__(self, out: Console, err: Console | None = None, *, results: ResultPrinter | None = None):
        self.out, self.err = out, err or out
        self.results = results
        self.activity: Activity | None = None
        self.waiting: api.Waiting | None = None
        self.phase: tuple[str, float] | None = None
        self._live: Live | None = None
        self._said_waiting = False
        self._launched_now = False
        self._plain_at = 0.0

    # the live panel
    def __rich__(self) -> Group:
        parts = []
        if self.waiting is not None:
            parts.append(wait_line(self.waiting))
        if self.phase is not None:
            parts.append(Text(f"{self.phase[0]} · {duration(time.monotonic() - self.phase[1])}"))
        if self.activity is not None:
            parts.append(self.activity)
        return Group(*parts)

    def _show(self, console: Console) -> None:
        if self._live is None and console.is_terminal:
            self._live = Live(self, console=console, refresh_per_second=4, transient=True)
            self._live.start()

    def _hide_if_idle(self) -> None:
        if self._live is not None and self.activity is None and self.waiting is None and self.phase is None:
            self._live.stop()
            self._live = None

    def close(self) -> None:
        self.activity = self.waiting = self.phase = None
        self._hide_if_idle()

    def __call__(self, event) -> None:
        if isinstance(event, api.Result):
            if self.results is not None:
                self.results(event)
        elif isinstance(event, (api.Compiling, api.Compiled)):
            if self.activity is not None:
                self.activity(event)
        elif isinstance(event, api.Waiting):
            if not self._said_waiting:
                self._said_waiting = True
                how = "started just now" if self._launched_now else "already running"
                if event.what == "graph":
                    self.err.print(f"[bold]MAX is compiling {escape(event.who)}[/] in the background ({how}), once per "
                                   "version of your code, at the sizes of the real GPT-2. Waiting for it rather than "
                                   f"compiling it twice on {cores_text()}; Ctrl-C stops the waiting, not the compiling.")
                else:
                    self.err.print(f"[bold]MAX is compiling the kernels {escape(event.who)} needs[/], once per machine, "
                                   f"in a background process ({how}). Waiting for it rather than compiling them twice "
                                   f"on {cores_text()}; Ctrl-C stops the waiting, not the compiling.")
            self.waiting = event
            self._show(self.err)
            if not self.err.is_terminal and time.monotonic() - self._plain_at >= PLAIN_EVERY:
                self._plain_at = time.monotonic()
                self.err.print(wait_line(event))
        elif isinstance(event, api.WaitOver):
            self.waiting = None
            self._hide_if_idle()
            if not event.ready:
                why = f": {event.why}" if event.why else ""
                then = ("It compiles here instead." if event.what == "graph" else
                        "The check compiles what it needs itself, more slowly; its progress shows below.")
                self.err.print(f"[yellow]The background compile stopped{escape(why)}[/] (log: "
                               f"{escape(str(api.background_log()))}). {then}")
            elif self._said_waiting and event.what == "graph":
                self.err.print(f"[green]✓[/] {escape(event.who)} is compiled (waited {duration(event.seconds)}).")
            elif self._said_waiting:
                self.err.print(f"[green]✓[/] MAX's kernels for {escape(event.who)} are ready "
                               f"(waited {duration(event.seconds)}).")
            self._said_waiting = False
        elif isinstance(event, api.Launched):
            self._launched_now = True
            if not event.waited_for:
                self.err.print(f"[dim]MAX is compiling the checks' kernels in the background (process {event.pid}): "
                               "later checks get faster.[/]")
        elif isinstance(event, api.Phase):
            if event.done:
                self.phase = None
                self._hide_if_idle()
            else:
                self.phase = (event.what[0].upper() + event.what[1:], time.monotonic())
                self._show(self.err)
        elif isinstance(event, api.Migrated):
            self.err.print(f"[yellow bold]Workspace updated.[/] {escape(event.notice)}\n")
        elif isinstance(event, api.Notice):
            self.err.print(Text(event.text, style="yellow" if event.level == "warning" else ""))
        elif isinstance(event, api.StepSettled):
            mark = "[green]✓[/]" if event.passed else "[red]✗[/]"
            self.err.print(f"  {mark} step {event.step} · {escape(event.title)}: "
                           f"{'passes' if event.passed else 'does not pass'}")

    @contextmanager
    def live(self, text: str, *, time_limit: bool = True, console: Console | None = None):
        """The live panel (`Activity`: what runs, for how long, what MAX compiles) while the block runs, on a
        terminal; afterwards, a line when MAX spent long on kernels the tutor had not prepared."""
        console = console or self.out
        self.activity = Activity(text, time_limit=time_limit)
        self._show(console)
        try:
            yield self.activity
        finally:
            activity, self.activity, self.waiting, self.phase = self.activity, None, None, None
            self._hide_if_idle()
        if activity.summary():
            console.print(Text(activity.summary(), style="dim"), soft_wrap=True)


@contextmanager
def busy(console: Console, label: str):
    """A spinner with the elapsed time while something slow runs (nothing off a terminal)."""
    if not console.is_terminal:
        yield
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        progress.add_task(label, total=None)
        yield


# --- the attention heatmap -------------------------------------------------------------------------------

# Dark to bright: the share of attention a cell holds.
_RAMP = ["#1b1b3a", "#2e2a6b", "#4b2991", "#872ca2", "#c0369d", "#ea4f88", "#fa7876", "#f6a97a", "#edd9a3", "#ffffe0"]


def _label(token: str, width: int) -> str:
    text = token.replace("\n", "\\n").replace("\t", "\\t").replace(" ", "·")
    return text if len(text) <= width else text[: width - 1] + "…"


def heatmap(weights, tokens: list[str], title: str) -> Group:
    """One row per query token, one column per key token, colour = weight; under it, the legend and the
    tokens' numbers, wrapped at the console's width."""
    seq = len(tokens)
    label_width = min(max(len(_label(t, 99)) for t in tokens), 14)
    table = Table(title=title, show_header=True, header_style="dim", box=None, pad_edge=False, padding=(0, 0))
    table.add_column("query \\ key", justify="right", no_wrap=True)
    table.add_column(" ", no_wrap=True, width=1)  # a gap between the labels and the cells
    for j in range(seq):
        table.add_column(f"{j:>2}", justify="center", no_wrap=True, min_width=3)
    for i in range(seq):
        cells = [Text(f"{_label(tokens[i], label_width)} {i:>2}"), Text(" ")]
        for j in range(seq):
            if j > i:
                cells.append(Text("   "))
                continue
            w = float(weights[i, j])
            shade = min(int(w * len(_RAMP)), len(_RAMP) - 1)
            ink = "black" if shade >= len(_RAMP) // 2 else "white"
            cells.append(Text(f"{round(w * 100):>2} " if 0.005 <= w < 0.995 else (" ■ " if w >= 0.995 else "   "),
                              style=f"{ink} on {_RAMP[shade]}"))
        table.add_row(*cells)
    legend = Text("rows: each token (query) · columns: the tokens it attends to (keys) · numbers are percent, "
                  "■ is all of it; · marks a space", style="dim")
    keys = Text("keys: " + "  ".join(f"{j}={_label(t, 12)}" for j, t in enumerate(tokens)), style="dim")
    return Group(table, Text(""), legend, keys)

