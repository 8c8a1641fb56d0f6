"""The process that imports and runs the learner's code: `python -m gpt2tutor.checking.child`.

It appends one JSON line per result to the results file (so a crash loses nothing already
decided), plus {"started": step} before a step and {"finished": step} after it.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import sys
from pathlib import Path

from gpt2tutor.curriculum import Step, get_step
from gpt2tutor.frames import learner_frames
from gpt2tutor.maxenv import tune_process

from . import borrowing
from .context import CheckFailed, Context, learner_traceback
from .results import Result


class Reporter:
    def __init__(self, path: Path):
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def emit(self, **record) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def result(self, result: Result) -> bool:
        self.emit(result=result.to_json())
        return result.passed


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


def import_learner(step: Step, exercises: Path) -> object:
    """Imports step_NN from the exercises folder; raises CheckFailed in the learner's words."""
    path = exercises / step.filename
    if not path.is_file():
        raise CheckFailed(f"{path} is missing: `gpt2tutor reset {step.id}` puts the skeleton back")
    try:
        source = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckFailed(f"{step.filename} is not UTF-8 text (byte {exc.start} is not valid): save it as UTF-8") from None
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise CheckFailed(f"{step.filename} has a syntax error at line {exc.lineno}: {exc.msg}\n    {(exc.text or '').rstrip()}") from None
    try:
        return importlib.import_module(step.module)
    except (Exception, SystemExit) as exc:
        where = _earlier_file(exc, exercises, step)
        lead = f"importing {step.filename} failed" + (f" inside {where}, an earlier step's file" if where else "")
        raise CheckFailed(f"{lead}:\n{learner_traceback(exc, exercises)}") from None


def _earlier_file(exc: BaseException, exercises: Path, step: Step) -> str | None:
    names = [Path(f.filename).name for f in learner_frames(exc, exercises)]
    if isinstance(exc, SyntaxError) and exc.filename:
        names.append(Path(exc.filename).name)
    earlier = [n for n in names if n != step.filename and n.startswith("step_")]
    return earlier[-1] if earlier else None


def run_step(step: Step, exercises: Path, reporter: Reporter, seed: int) -> None:
    sid = step.id

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
        return reporter.result(Result(sid, phase, name, passed, message))

    learner = None

    def do_import():
        nonlocal learner
        learner = import_learner(step, exercises)

    if not record("file", f"{step.filename} imports cleanly", do_import):
        return
    checks = importlib.import_module(step.check_module).checks
    ctx = Context(step, learner, importlib.import_module(step.reference_module), exercises, seed,
                  emit=reporter.emit)

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


def _prepare(reporter: Reporter, upto: int | None) -> None:
    """Loads MAX and the compiled kernel bundles before any learner code runs (see gpt2tutor.kernels),
    and reports the kernels MAX compiles on the fly, so the runner pauses the time limit meanwhile."""
    from gpt2tutor import kernels

    if upto is not None and upto < 2:
        return  # step 01 runs no MAX kernels: don't pay for importing MAX's ops
    kernels.preload(upto, emit=reporter.emit)
    kernels.watch_compiles(reporter.emit)


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
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    return order


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exercises", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--wait", action="store_true",
                        help="prepare, then read {\"steps\": [...], \"seed\": n} as one line on stdin")
    parser.add_argument("steps", nargs="*")
    args = parser.parse_args(argv)

    tune_process()
    exercises = args.exercises.resolve()
    reporter = Reporter(args.results)
    steps, seed = list(args.steps), args.seed
    if args.wait:
        _prepare(reporter, None)
        import gpt2tutor.checking.context  # noqa: F401 - numpy and the toolkit, before the clock starts
        from max.experimental import functional, nn, tensor  # noqa: F401

        order = _wait_for_go()
        steps, seed = [str(s) for s in order["steps"]], order.get("seed")
        reporter.emit(go=True)
    else:
        _prepare(reporter, max((get_step(a).number for a in steps), default=None))
    if not steps:
        return 0
    sys.path.insert(0, str(exercises))
    sys.dont_write_bytecode = True  # leave no __pycache__ in the learner's folder
    borrowing.install(exercises)
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
    reporter.emit(seed=seed)
    for arg in steps:
        step = get_step(arg)
        reporter.emit(started=step.id)
        run_step(step, exercises, reporter, seed)
        reporter.emit(finished=step.id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
