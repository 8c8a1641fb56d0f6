"""Maintainers: record which eager MAX targets the checks use and write gpt2tutor/course/kernels.json.

    python tools/record_kernels.py [tests/variants]

Runs the reference solutions' checks (and, given a folder, each learner variant in it) in child
processes whose op families note every target they look up, then writes one batch per step that first
needs new targets (steps sharing a batch in course.toml share one), plus an 'extra' batch for targets only the
variants use. Keeps the estimates.
Regenerate when a check changes the ops it runs: tests/test_perf_infra.py fails until you do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[1] / "gpt2tutor" / "course" / "kernels.json"


class _Recorder(dict):
    """A family's model cache that notes every target looked up in it."""

    def __init__(self, family: str, base: dict, log: list):
        super().__init__(base)
        self._family, self._log = family, log

    def get(self, key, default=None):
        self._log.append((self._family, key))
        return super().get(key, default)

    def __getitem__(self, key):
        self._log.append((self._family, key))
        return super().__getitem__(key)


def record_run(exercises: Path, out: Path, steps: list[str]) -> None:
    """Child side: runs the steps' checks on `exercises`, writing the targets each step uses to `out`."""
    from gpt2tutor import maxenv, maxinternals
    from gpt2tutor.checking import child
    from gpt2tutor.checking.protocol import Writer
    from gpt2tutor.course import get_step

    maxenv.tune_process()
    sys.path.insert(0, str(exercises))
    sys.dont_write_bytecode = True
    log: list = []
    for name, family in maxinternals.families().items():
        family.cache = _Recorder(name, family.cache, log)
    reporter = Writer(Path(os.devnull))
    used: dict[str, list] = {}
    for sid in steps:
        del log[:]
        child.run_step(get_step(sid), exercises, reporter, seed=1)
        used[sid] = sorted(set(log))
    out.write_text(json.dumps(used))


def _run(files: dict[str, str], steps: list[str]) -> dict:
    from gpt2tutor.course import STEPS

    with tempfile.TemporaryDirectory(prefix="gpt2tutor-record-") as tmp:
        exercises = Path(tmp) / "exercises"
        exercises.mkdir()
        for step in STEPS:
            (exercises / step.filename).write_text(files.get(step.id, step.solution()), encoding="utf-8")
        out = Path(tmp) / "used.json"
        subprocess.run([sys.executable, __file__, "_record_run", str(exercises), str(out), *steps],
                       cwd=exercises, stdin=subprocess.DEVNULL, capture_output=True, timeout=600, check=False)
        return json.loads(out.read_text()) if out.exists() else {}


def record(variants: Path | None) -> tuple[list[tuple[str, list]], list]:
    """(batches, extra targets), in learner order."""
    from gpt2tutor.course import STEPS

    used = _run({}, [s.id for s in STEPS])
    seen: set = set()
    grouped: dict[str, list] = {}  # batch name -> its kernels, in the order the steps come
    for step in STEPS:
        new = [k for k in used.get(step.id, []) if tuple(k) not in seen]
        seen.update(tuple(k) for k in new)
        if new:
            grouped.setdefault(step.kernel_batch, []).extend(new)
    staged = [(name, sorted(keys)) for name, keys in grouped.items()]
    extra: list = []
    for path in sorted(variants.glob("step_*/*.py")) if variants is not None else []:
        sid = path.parent.name[5:]
        try:
            found = _run({sid: path.read_text("utf-8")}, [sid])
        except (subprocess.TimeoutExpired, OSError):
            continue
        for k in found.get(sid, []):
            if tuple(k) not in seen:
                seen.add(tuple(k))
                extra.append(k)
    return staged, sorted(extra)


def main(args: list[str]) -> int:
    if args[:1] == ["_record_run"]:
        record_run(Path(args[1]), Path(args[2]), args[3:])
        return 0
    if len(args) > 1 or args[:1] in (["-h"], ["--help"]):
        print(__doc__, file=sys.stderr)
        return 2
    staged, extra = record(Path(args[0]) if args else None)
    manifest = json.loads(MANIFEST.read_text("utf-8"))
    manifest["batches"] = [{"name": name, "keys": keys} for name, keys in staged]
    if extra:
        manifest["batches"].append({"name": "extra", "keys": extra})
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    for name, keys in staged:
        print(f"batch {name}: {len(keys)} targets")
    print(f"extra: {len(extra)} targets")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
