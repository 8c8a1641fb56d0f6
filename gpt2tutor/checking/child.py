"""The process that imports and runs the learner's code: `python -m gpt2tutor.checking.child`.

It reports to the tutor through the results file, in the records of checking/protocol.py.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import sys
from pathlib import Path

from gpt2tutor.frames import learner_traceback
from gpt2tutor.maxenv import mojo_packages, one_loop, tune_process
from gpt2tutor.processes import become_subreaper, die_with_parent, end_descendants
from gpt2tutor.registry import STEPS, Step, get_step

from . import borrowing
from .context import Context
from .failure import CheckFailed
from .learner import LearnerFileError, import_step
from .protocol import STACK_SIGNAL, Finished, Go, Seed, Started, Writer, stack_path
from .results import Result


def placeholders(path: Path) -> list[str]:
    """Functions in the file whose bodies still raise NotImplementedError."""
    tree = ast.parse(path.read_text("utf-8"))
    found = []
    for owner in ast.walk(tree):
        body = getattr(owner, "body", [])
        for node in body if isinstance(body, list) else []:  # a lambda's or an IfExp's body is one expression
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                exc = getattr(inner, "exc", None) if isinstance(inner, ast.Raise) else None
                target = exc.func if isinstance(exc, ast.Call) else exc
                if isinstance(target, ast.Name) and target.id == "NotImplementedError":
                    prefix = f"{owner.name}." if isinstance(owner, ast.ClassDef) else ""
                    found.append(f"{prefix}{node.name} (line {inner.lineno})")
                    break
    return found


def run_step(step: Step, exercises: Path, emit: Writer, seed: int) -> None:
    sid = step.id
    cause = ""  # the other file an import failed in: then the failure is no verdict on this step's own file

    def record(phase: str, name: str, fn) -> bool:
        try:
            passed, message = True, fn() or ""
        except CheckFailed as exc:
            passed, message = False, str(exc)
        except (Exception, SystemExit) as exc:
            passed, message = False, learner_traceback(exc, exercises)
        refused = _borrowed(step)  # the tutor's own code, imported by the learner's: never a pass
        if refused:
            passed, message = False, refused
        emit(Result(sid, phase, name, passed, message, "" if passed or refused else cause))
        return passed

    learner = None

    def do_import():
        nonlocal learner, cause
        try:
            learner = import_step(step, exercises)
        except LearnerFileError as exc:
            cause = exc.other_file or ""
            raise CheckFailed(str(exc)) from None

    if not record("file", f"{step.filename} imports cleanly", do_import):
        return
    checks = importlib.import_module(step.check_module).checks
    ctx = Context(step, learner, step.reference(), exercises, seed, emit=emit)
    with ctx.on_device():
        _run_checks(step, exercises, checks, ctx, record)


def _run_checks(step: Step, exercises: Path, checks, ctx: Context, record) -> None:
    """Structure, placeholders, then behaviour, each stopping at the first failure."""
    for name, fn in checks.structure_checks:
        if not record("structure", name, lambda fn=fn: fn(ctx)):
            return

    def no_placeholders():
        left = placeholders(exercises / step.filename)
        if left:
            raise CheckFailed("still a placeholder: " + ", ".join(left) + " raises NotImplementedError")

    if not record("placeholders", "every TODO is filled in", no_placeholders):
        return
    for name, fn in checks.behaviour_checks:
        if not record("behaviour", name, lambda fn=fn: fn(ctx)):
            return


def _borrowed(step: Step) -> str | None:
    guard = borrowing.active()
    return guard.refusal(step) if guard is not None else None


def _prepare(emit: Writer, steps: list[Step] | None) -> None:
    """Loads MAX and the compiled kernel batches before any learner code runs (see gpt2tutor.kernels),
    and reports the kernels MAX compiles on the fly, so the runner pauses the time limit meanwhile.
    `steps`: the steps to check (None: any step, for a spare process)."""
    from gpt2tutor import kernels

    if steps is not None and not any(s.kernels for s in steps):
        return  # these checks run no MAX op: don't pay for importing MAX's ops
    mojo_packages()
    one_loop()
    kernels.preload(steps[-1] if steps else None, emit=emit)
    kernels.watch_compiles(emit)


def _wait_for_go() -> dict:
    """A pre-started child: everything is imported; the steps to check come as one JSON line on stdin.
    Then stdin is closed to the learner's code, exactly as for a child started for one run."""
    line = sys.stdin.readline()
    if not line.strip():
        raise SystemExit(0)  # the tutor went away without using this child
    order = json.loads(line)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    return order


class _Relay:
    """The spare's reporter: records go nowhere until the order names the results file."""

    def __init__(self):
        self.writer: Writer | None = None

    def __call__(self, record) -> None:
        if self.writer is not None:
            self.writer(record)


def _wait_for_order(where: Path, relay: _Relay) -> dict:
    """A spare (checking/spares.py): prepared; says so, then waits on its pipe for the order, which names the
    results file and the file its output goes to."""
    import select

    from .spares import IDLE_S, mark_ready

    fd = os.open(where / "order", os.O_RDWR)  # read and write: never an end of file while nobody writes
    mark_ready(where)
    line = b""
    while not line.endswith(b"\n"):
        if not select.select([fd], [], [], IDLE_S)[0]:
            raise SystemExit(0)  # nobody came for it
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SystemExit(0)
        line += chunk
    os.close(fd)
    order = json.loads(line)
    out = os.open(order["output"], os.O_WRONLY | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    relay.writer = Writer(Path(order["results"]))
    return order


_stack_file = None  # kept open for faulthandler as long as the process lives


def _stack_on_signal(path: Path) -> None:
    """On STACK_SIGNAL (the time limit is up), every thread's stack goes to `path`: the runner names the learner's
    line that was running. Python's faulthandler writes it from the signal handler itself, so a loop, a sleep or
    a native call all answer."""
    import faulthandler

    global _stack_file
    _stack_file = open(path, "w", encoding="utf-8")
    faulthandler.register(STACK_SIGNAL, file=_stack_file, all_threads=True, chain=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exercises", type=Path, required=True)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--wait", action="store_true",
                        help="prepare, then read {\"steps\": [...], \"seed\": n} as one line on stdin")
    parser.add_argument("--spare", type=Path, default=None,
                        help="prepare, then wait for the order on the named pipe SPARE/order (checking/spares.py)")
    parser.add_argument("steps", nargs="*")
    args = parser.parse_args(argv)

    if args.spare:
        parent = os.getppid()
        die_with_parent()  # the background process keeps a spare: it goes when that process goes, however
        if os.getppid() != parent:
            return 0  # it went already
    tune_process(ops=False)  # _prepare: one_loop() where the steps run MAX ops
    become_subreaper()  # what the learner's code starts stays below this process, setsid() or not
    try:
        return _main(args)
    finally:
        end_descendants()


def _main(args) -> int:
    exercises = args.exercises.resolve()
    emit = _Relay() if args.spare else Writer(args.results)
    steps, seed = [get_step(a) for a in args.steps], args.seed
    if args.wait or args.spare:
        _prepare(emit, None)
        from max.experimental import functional, nn, tensor  # noqa: F401

        import gpt2tutor.checking.context  # noqa: F401 - numpy and the toolkit, before the clock starts

        for step in STEPS:  # the tutor's own: every step's checks and reference (the learner's files come later)
            importlib.import_module(step.check_module)
            step.reference()

        order = _wait_for_order(args.spare, emit) if args.spare else _wait_for_go()
        steps, seed = [get_step(s) for s in order["steps"]], order.get("seed")
        emit(Go())
        results = Path(order["results"]) if args.spare else args.results
    else:
        _prepare(emit, steps)
        results = args.results
    if not steps:
        return 0
    if results is not None:
        _stack_on_signal(stack_path(results))
    sys.path.insert(0, str(exercises))
    sys.dont_write_bytecode = True  # leave no __pycache__ in the learner's folder
    borrowing.install(exercises)
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
    emit(Seed(seed))
    for step in steps:
        emit(Started(step.id))
        run_step(step, exercises, emit, seed)
        emit(Finished(step.id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
