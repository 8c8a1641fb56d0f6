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
from gpt2tutor.maxenv import tune_process

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
    import traceback

    names = [Path(f.filename).name for f in traceback.extract_tb(exc.__traceback__)
             if Path(f.filename).resolve().is_relative_to(exercises)]
    if isinstance(exc, SyntaxError) and exc.filename:
        names.append(Path(exc.filename).name)
    earlier = [n for n in names if n != step.filename and n.startswith("step_")]
    return earlier[-1] if earlier else None


def run_step(step: Step, exercises: Path, reporter: Reporter, seed: int) -> None:
    sid = step.id

    def record(phase: str, name: str, fn) -> bool:
        try:
            detail = fn() or ""
        except CheckFailed as exc:
            return reporter.result(Result(sid, phase, name, False, str(exc)))
        except (Exception, SystemExit) as exc:
            return reporter.result(Result(sid, phase, name, False, learner_traceback(exc, exercises)))
        return reporter.result(Result(sid, phase, name, True, detail))

    learner = None

    def do_import():
        nonlocal learner
        learner = import_learner(step, exercises)

    if not record("file", f"{step.filename} imports cleanly", do_import):
        return
    checks = importlib.import_module(step.check_module).checks
    ctx = Context(step, learner, importlib.import_module(step.reference_module), exercises, seed)

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exercises", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("steps", nargs="+")
    args = parser.parse_args(argv)

    tune_process()
    exercises = args.exercises.resolve()
    sys.path.insert(0, str(exercises))
    sys.dont_write_bytecode = True  # leave no __pycache__ in the learner's folder
    reporter = Reporter(args.results)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    reporter.emit(seed=seed)
    for arg in args.steps:
        step = get_step(arg)
        reporter.emit(started=step.id)
        run_step(step, exercises, reporter, seed)
        reporter.emit(finished=step.id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
