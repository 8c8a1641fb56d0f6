"""Waiting for the background process (gpt2tutor.background) rather than compiling the same thing beside it
on the same cores, and what it says for `start` and `doctor`.

A command that needs a kernel batch or a graph waits for it here (`wait_for_kernels`, `wait_for_generation`,
`wait_for_graph`), sending Waiting events; the background is started when it has work, and started again once
when it stopped before the work was done.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence

from . import background, graphs, installation, kernels, maxenv
from .background_report import MAX_IMPORT_ESTIMATE, MOJO_ESTIMATE, pace_for_cores, read_report
from .durations import duration
from .events import Launched, OnEvent, Waiting, WaitOver, ignore
from .registry import Step

POLL = 0.25  # seconds between looks at the report while waiting
EVENT_EVERY = 0.5  # seconds between Waiting events

_gave_up = False  # it failed while this process waited: don't wait for it again


def wait_for_kernels(steps: Sequence[Step] | None, *, who: str, wait: bool = True,
                     on_event: OnEvent = ignore) -> bool:
    """Before running `steps`' checks (None: every step): makes sure the background process runs when
    batches are missing, and waits for the ones these checks need, sending Waiting events, when they
    would otherwise compile the same kernels beside it. Returns whether those kernels are ready.

    No wait when `wait` is off, or where MAX's own full cache serves the checks meanwhile. Ctrl-C while
    waiting raises KeyboardInterrupt; the background process carries on."""
    if not kernels.enabled():
        return True
    last = steps[-1] if steps else None
    needed_now = kernels.missing(kernels.batches_for(last))
    if not kernels.background_enabled():
        return not needed_now  # no background process to wait for: MAX compiles what is missing as it goes
    launched = background.launch_if_needed()
    if launched is not None:
        on_event(Launched(launched.pid, waited_for=bool(needed_now and wait and not _gave_up
                                                        and not maxenv.full_cache_compiled())))
    if not needed_now or not wait or _gave_up or maxenv.full_cache_compiled():
        return not needed_now
    return _wait(needed_now, launched, who, on_event)


def _wait(needed_now: list, launched: subprocess.Popen | None, who: str, on_event: OnEvent) -> bool:
    global _gave_up
    started = time.monotonic()
    relaunched = False
    said = 0.0
    while True:
        left = kernels.missing(needed_now)
        report = read_report()
        if not left:
            break
        now = time.monotonic()
        if now - said >= EVENT_EVERY:
            said = now
            on_event(Waiting(who, len(left), len(needed_now), report, now - started))
        alive = report.alive or (launched is not None and launched.poll() is None)
        if not alive:
            if not relaunched:
                relaunched = True
                try:
                    launched = background.launch()
                except OSError:
                    launched = None
                if launched is not None:
                    continue
            _gave_up = True
            on_event(WaitOver(who, time.monotonic() - started, False, read_report().error or ""))
            return False
        time.sleep(POLL)
    on_event(WaitOver(who, time.monotonic() - started, True))
    return True


def wait_for_generation(*, on_event: OnEvent = ignore) -> bool:
    """Before `generate` runs the model: when the generation batch is due and missing, makes sure the background
    process runs and waits for it (Waiting events), rather than compiling its kernels here beside it. Returns
    whether they are compiled; not due (no learner reached the generation step), MAX compiles as it goes."""
    batch = kernels.generation_batch()
    todo = background.generation_todo()
    if batch is None or not kernels.enabled():
        return False
    if not todo or not kernels.background_enabled():
        return not kernels.missing([batch])
    launched = background.launch_if_needed()
    if _gave_up or maxenv.full_cache_compiled():
        return False
    return _wait(todo, launched, "generate", on_event)


def wait_for_graph(graph_key: str, *, who: str, on_event: OnEvent = ignore) -> graphs.Verdict | None:
    """The verdict on the learner's compiled model, waiting for the background process while it compiles it
    (Waiting events). None when there is no verdict and no job for these files, or the background stopped."""
    found = graphs.verdict(graph_key)
    if found is not None or not graphs.job_path(graph_key).exists():
        return found
    launched = background.launch_if_needed()
    started, said, relaunched = time.monotonic(), 0.0, False
    while True:
        found = graphs.verdict(graph_key)
        if found is not None:
            on_event(WaitOver(who, time.monotonic() - started, True, what="graph"))
            return found
        if not graphs.job_path(graph_key).exists():
            on_event(WaitOver(who, time.monotonic() - started, False, "the job went away", what="graph"))
            return None
        report = read_report()
        now = time.monotonic()
        if now - said >= EVENT_EVERY:
            said = now
            on_event(Waiting(who, 1, 1, report, now - started, what="graph"))
        if not (report.alive or (launched is not None and launched.poll() is None)):
            if relaunched:
                on_event(WaitOver(who, now - started, False, report.error or "", what="graph"))
                return None
            relaunched = True
            try:
                launched = background.launch()
            except OSError:
                launched = None
        time.sleep(POLL)


def another_installation() -> str | None:
    """When the background process running now belongs to another installation of the tutor (another virtual
    environment, say): that installation, for people. It compiles for both, but keeps spare check processes for
    its own only."""
    report = read_report()
    if not report.alive or not report.installation or report.installation == installation.identity():
        return None
    return report.installed or "another installation"


def task_now() -> dict:
    """For `doctor --json`: whether the background process is running, and what it is doing."""
    report = read_report()
    return {"running": report.alive, "task": report.label() if report.alive and report.task else None}


def kernels_status() -> tuple[bool, str]:
    """For `doctor`: (fine, text) about the checks' kernels."""
    if not kernels.enabled():
        return False, f"kernel batches are off ({kernels.ENV_SWITCH}=0): checks use MAX's own cache"
    every = kernels.batches()
    todo = kernels.missing(every)
    if not todo:
        return True, f"the checks' kernels are compiled ({len(every)} batches)"
    report = read_report()
    if report.alive:
        return True, (f"compiling in the background: {report.label()}, {len(todo)} of "
                      f"{len(every)} batches left, ~{duration(report.remaining())} to go")
    estimate = sum(b.estimate for b in todo) * pace_for_cores()
    return False, (f"{len(todo)} of {len(every)} batches not compiled yet: `gpt2tutor start` or `check` "
                   f"compiles them in the background (about {duration(estimate)})")


def first_estimates() -> tuple[str, float, float]:
    """For `start`: the first batch to compile (its step's id), and the seconds until it, and until every
    batch, is compiled on this machine."""
    todo = kernels.missing(kernels.batches())
    first = [b for b in todo if b.step is not None][:1]
    pace = pace_for_cores()
    return (first[0].name if first else "", (sum(b.estimate for b in first) + MAX_IMPORT_ESTIMATE) * pace,
            (sum(b.estimate for b in todo) + MAX_IMPORT_ESTIMATE + MOJO_ESTIMATE) * pace)
