"""Getting MAX's kernels ready for the checks, visibly: never a silent minute.

MAX compiles each eager kernel the first time a machine runs it, and a compile costs ~10-20 s, mostly
fixed overhead. The tutor compiles the kernels its checks use in a few batches, in a background
*prewarm* (gpt2tutor.prewarm) that `start` launches while the learner reads the first lesson:
about 20 s for step 02's, 3-4 minutes for everything up to step 07 on 2 cores.

A check whose kernels are not compiled yet waits for the prewarm, showing how far it is, instead of
compiling the same kernels beside it on the same cores. Where MAX's full cache is warm
(`max warm-interpreter-cache`, 8 minutes and 725 MB, advised by `doctor` and run by
`doctor --warm-all`), a check never waits: it adopts MAX's cache while the bundles compile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from .. import kernels, maxenv, prewarm
from ..curriculum import Step

POLL = 0.25  # seconds between looks at the prewarm's progress
PLAIN_EVERY = 10.0  # seconds between progress lines when the output is not a terminal

_gave_up = False  # the prewarm failed in this process: don't wait for it again


def _cores() -> int:
    return os.cpu_count() or 1


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds < 600 else f"{round(seconds / 60)} min"


def _scale(seconds: float) -> float:
    """The 2-core estimates, for this machine's cores (compiles use up to about 2)."""
    return seconds * (1.0 if _cores() <= 2 else 0.7)


def _step_of(steps: Sequence[Step] | None) -> int | None:
    return max((s.number for s in steps), default=None) if steps else None


def _label(step: int | None) -> str:
    return f"step {step:02d}" if step else "every step"


def start_in_background(ui: Console) -> None:
    """For `start`: launches the prewarm when MAX's cache lacks kernels, says so, and returns at once."""
    if not kernels.enabled():
        return
    todo = kernels.missing(kernels.stages())
    if not todo:
        return
    if prewarm.running():
        ui.print("[bold]MAX is compiling the checks' kernels in the background[/] (started earlier): "
                 "`gpt2tutor doctor` shows how far it is.")
        return
    try:
        proc = prewarm.launch()
    except OSError as exc:
        ui.print(f"[yellow]Could not start compiling MAX's kernels in the background ({escape(str(exc))})[/]: "
                 "the checks will compile what they need as they go, more slowly.")
        return
    if proc is None:
        return
    first = [s for s in todo if s.step is not None]
    soon = _duration(_scale(sum(s.estimate for s in first[:1]) + prewarm.MAX_IMPORT_ESTIMATE))
    total = _duration(_scale(sum(s.estimate for s in todo) + prewarm.MAX_IMPORT_ESTIMATE))
    ui.print(
        f"[bold]MAX compiles its kernels the first time it runs on a machine.[/] The ones the checks use are "
        f"compiling now in the background (process {proc.pid}, niced): step 02's in about {soon}, all in about "
        f"{total} with {_cores()} CPU core{'s' if _cores() != 1 else ''}. Read the first lesson meanwhile; "
        f"`gpt2tutor check` waits for them only if it has to."
    )


def ensure_warm(ui: Console, steps: Sequence[Step] | None = None, *, wait: bool = True,
                label: str | None = None) -> bool:
    """Before checking `steps` (None: every step): makes sure the prewarm is running if MAX's cache lacks
    kernels, and waits, showing its progress, when the check would otherwise compile the same kernels
    beside it. Returns whether the kernels the check needs are ready. Ctrl-C while waiting raises
    KeyboardInterrupt; the prewarm carries on in the background. `label` names who waits in the messages
    (default: "step NN")."""
    if not kernels.enabled():
        return True
    step = _step_of(steps)
    needed = kernels.missing(kernels.stages_for(step))
    launched: subprocess.Popen | None = None
    if kernels.missing(kernels.stages()) and not prewarm.running():
        try:
            launched = prewarm.launch()
        except OSError:
            launched = None
    if not needed or not wait or _gave_up or maxenv.cache_is_warm():
        if launched is not None:
            ui.print(f"[dim]MAX is compiling the checks' kernels in the background (process {launched.pid}): "
                     "later checks get faster.[/]")
        # nothing to wait for, or MAX's own full cache serves the check meanwhile
        return not needed
    return _wait(ui, needed, launched, label or _label(step))


def _wait(ui: Console, needed: list, launched: subprocess.Popen | None, label: str) -> bool:
    global _gave_up
    from rich.live import Live

    started = time.monotonic()
    relaunched = False
    names = [s.name for s in needed]
    view = _WaitView(label, names, started)
    how = "started just now" if launched is not None else "already running"
    ui.print(f"[bold]MAX is compiling the kernels {escape(label)} needs[/], once per machine, in a background "
             f"process ({how}). Waiting for it rather than compiling them twice on {_cores()} "
             f"core{'s' if _cores() != 1 else ''}; Ctrl-C stops the waiting, not the compiling.")
    said = started  # off a terminal the live line is not drawn: a plain line every PLAIN_EVERY seconds
    try:
        with Live(view, console=ui, refresh_per_second=4, transient=True):
            while True:
                missing_now = kernels.missing(needed)
                view.progress = prewarm.read_progress()
                view.left_stages = [s.name for s in missing_now]
                if not missing_now:
                    break
                if not ui.is_terminal and time.monotonic() - said >= PLAIN_EVERY:
                    said = time.monotonic()
                    ui.print(view.__rich__())
                alive = view.progress.alive or (launched is not None and launched.poll() is None)
                if not alive:
                    if not relaunched:
                        relaunched = True
                        try:
                            launched = prewarm.launch()
                        except OSError:
                            launched = None
                        if launched is not None:
                            continue
                    _gave_up = True
                    break
                time.sleep(POLL)
    except KeyboardInterrupt:
        ui.print("[yellow]Stopped waiting.[/] MAX's kernels keep compiling in the background; the next "
                 "`gpt2tutor check` picks up where it is.")
        raise
    took = _duration(time.monotonic() - started)
    if _gave_up:
        progress = prewarm.read_progress()
        why = f": {progress.error}" if progress.error else ""
        ui.print(f"[yellow]The background compile stopped{escape(why)}[/] (log: {escape(str(prewarm.log_path()))}). "
                 "The check compiles what it needs itself, more slowly; its progress shows below.")
        return False
    ui.print(f"[green]✓[/] MAX's kernels for {escape(label)} are ready (waited {took}).")
    return True


class _WaitView:
    """The live line while waiting: which bundle, how many are left, elapsed and an estimate."""

    def __init__(self, label: str, names: list[str], started: float):
        self.label, self.names, self.started = label, names, started
        self.progress = prewarm.PrewarmReport()
        self.left_stages = list(names)

    def __rich__(self) -> Text:
        elapsed = time.monotonic() - self.started
        done = len(self.names) - len(self.left_stages)
        p = self.progress
        last = self.left_stages[-1] if self.left_stages else None
        left = f"~{_duration(p.remaining(last))} left" if p.alive and p.todo else "starting…"
        now = f"step {p.stage}'s batch" if p.stage and p.stage.isdigit() else (
            "loading MAX" if p.state == "starting" else "compiling")
        filled = int(10 * done / max(1, len(self.names)))
        return Text.assemble(
            ("MAX kernels for " + self.label + " ", "bold"), ("█" * filled + "░" * (10 - filled), "cyan"),
            f" {done}/{len(self.names)} batches · {now} · {_duration(elapsed)}, {left}",
        )


class CheckActivity:
    """A live status while a check runs, fed by run_checks' on_progress: says when MAX is compiling a
    kernel (the learner's code used an op the tutor had not prepared, or the cache is cold) and for how long.
    `time_limit`: whether to say that the check's time limit waits meanwhile."""

    def __init__(self, text: str, *, time_limit: bool = True):
        self.text, self.time_limit = text, time_limit
        self.started = time.monotonic()
        self.compiling: str | None = None
        self.compile_started = 0.0
        self.bundle = False  # what is being prepared is one of the tutor's compiled bundles, being loaded
        self.compiled = 0  # kernels MAX prepared (not bundles loaded) that took over a second
        self.compile_seconds = 0.0  # and how long they took together

    def __call__(self, record: dict) -> None:
        if "compiling" in record:
            self.compiling, self.compile_started = str(record["compiling"]), time.monotonic()
            self.bundle = "bundle" in record
        elif "compiled" in record:
            took = time.monotonic() - self.compile_started
            if took > 1.0 and not self.bundle:
                self.compiled += 1
                self.compile_seconds += took
            self.compiling = None

    def summary(self) -> str | None:
        """After the run, one line when MAX spent over a second on kernels the tutor had not loaded, else None."""
        if not self.compiled:
            return None
        n = self.compiled
        what = f"{n} kernel{'s' if n > 1 else ''}"
        return f"MAX spent {_duration(self.compile_seconds)} preparing {what} the tutor had not loaded."

    def __rich__(self) -> Text:
        now = time.monotonic()
        line = Text(f"{self.text} {_duration(now - self.started)}")
        if self.compiling is not None and self.compiling.startswith("your"):  # Module.compile of their model
            line.append(f"\nMAX is compiling {self.compiling}: {_duration(now - self.compile_started)} so far. A new "
                        "version of your file takes a minute or more; the same code again takes seconds (MAX caches "
                        "compiled graphs on disk). The time limit waits meanwhile.", style="yellow")
        elif self.compiling is not None and now - self.compile_started > 1.0:
            what = self.compiling if self.compiling.startswith("the kernels") else f"a kernel ({self.compiling})"
            line.append(f"\nMAX is compiling {what}, once per machine: {_duration(now - self.compile_started)} "
                        f"so far, usually 10–30 s." + (" The time limit waits meanwhile." if self.time_limit else ""),
                        style="yellow")
        elif self.compiled:
            line.append(f" · compiled {self.compiled} kernel{'s' if self.compiled > 1 else ''}", style="dim")
        return line


def status_line() -> tuple[str, str]:
    """For `doctor`: (mark, text) about the tutor's kernels."""
    if not kernels.enabled():
        return "warn", f"kernel bundles are off ({kernels.ENV_SWITCH}=0): checks use MAX's own cache"
    all_stages = kernels.stages()
    todo = kernels.missing(all_stages)
    if not todo:
        return "ok", f"the checks' kernels are compiled ({len(all_stages)} batches)"
    progress = prewarm.read_progress()
    if progress.alive:
        return "ok", (f"compiling in the background: step {progress.stage}'s batch, {len(todo)} of "
                      f"{len(all_stages)} left, ~{_duration(progress.remaining())} to go")
    return "warn", (f"{len(todo)} of {len(all_stages)} batches not compiled yet: `gpt2tutor start` or `check` "
                    f"compiles them in the background (about {_duration(_scale(sum(s.estimate for s in todo)))})")


# --- MAX's full warm, on request (`gpt2tutor doctor --warm-all`) ------------------------------------

FAMILIES = 20  # about how many op families `max warm-interpreter-cache` compiles
CORE_MINUTES = 16.0  # measured: about 8 minutes on 2 cores


def estimate_minutes(cores: int | None = None) -> float:
    cores = cores or _cores()
    return max(1.0, CORE_MINUTES / min(cores, FAMILIES))


def command() -> list[str]:
    """`max warm-interpreter-cache`, from the same environment as this Python."""
    return [*maxenv.max_command(), "warm-interpreter-cache"]


def full_warm(ui: Console) -> bool:
    """Runs `max warm-interpreter-cache` with a progress display; returns whether it succeeded.
    Ctrl-C stops it (and raises KeyboardInterrupt)."""
    ui.print(f"Running `max warm-interpreter-cache`: every eager op MAX has, about {estimate_minutes():.0f} min "
             f"with {_cores()} CPU core{'s' if _cores() != 1 else ''}, once per machine.")
    try:
        code, tail = _run(ui)
    except OSError as exc:
        ui.print(f"[yellow]Could not run `max warm-interpreter-cache` ({escape(exc.strerror or str(exc))}).[/]")
        return False
    if code != 0:
        ui.print(f"[yellow]`max warm-interpreter-cache` stopped with exit code {code}.[/]")
        if tail:
            ui.print(tail, markup=False)
        return False
    ui.print("[green]MAX's kernels are ready.[/]")
    return True


def _run(ui: Console) -> tuple[int, str]:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    env = maxenv.child_environment(PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", bufsize=1, env=env, start_new_session=True)
    done, lines, started = 0, [], time.monotonic()
    estimate = estimate_minutes() * 60
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.completed:.0f}/~{task.total:.0f} op families"), TimeElapsedColumn(),
                        TextColumn("{task.fields[left]}"), console=ui, transient=True)
    try:
        with progress:
            task = progress.add_task("Compiling MAX kernels", total=FAMILIES, left=_left(estimate))
            for raw in proc.stdout:
                line = raw.strip()
                if not line:
                    continue
                lines = (lines + [line])[-20:]
                if line.startswith(("✓", "✔")):
                    done += 1
                    elapsed = time.monotonic() - started
                    left = elapsed / done * max(FAMILIES - done, 0) if done else estimate - elapsed
                    family = line.lstrip("✓✔ ").split(" (")[0]
                    progress.update(task, completed=done, total=max(FAMILIES, done), left=_left(left),
                                    description=f"Compiled {family}")
                    progress.console.print(f"  {line}", markup=False, style="dim")
            code = proc.wait()
    except BaseException:
        _kill(proc)
        raise
    return code, "\n".join(lines[-5:])


def _left(seconds: float) -> str:
    if seconds <= 0:
        return "almost done"
    return f"~{max(1, round(seconds / 60))} min left"


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
