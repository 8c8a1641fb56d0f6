"""Kernel bundles: the eager MAX kernels the checks need, compiled ahead of time in a few batches.

Why (MAX 26.7, measured on a 2-core machine without a GPU):
- An eager op runs a small compiled model per (op, dtype) target. MAX compiles it on first use and
  caches the compiled *module* on disk. Compiling one module costs ~10-13 s of fixed overhead plus
  ~1-3 s per target in it, so 27 targets one by one take ~6 min, but 4 targets in one module 18 s
  from an empty cache.
- After `max warm-interpreter-cache` (8 min, 725 MB) every process adopts whole op families on first
  use: ~0.3-0.5 s per family, ~1.3 s a check process. Loading one cached module holding exactly
  the targets the checks use takes ~0.05 s.

So the tutor names the targets its checks use (`kernel_manifest.py`, one *stage* per step that first
needs new ones), the prewarm process (`gpt2tutor.prewarm`) compiles the stages in the order a learner
meets them, and every check process loads the compiled ones into MAX's eager caches before the
learner's code runs. Anything else (an op only the learner's own code uses) takes MAX's usual path.

Which stages are compiled is recorded in a marker next to MAX's compiled modules (so it cannot outlive
them), keyed by a hash of the stage's targets and the MAX version. Only the prewarm writes it.
Nothing here imports MAX at module level: the CLI reads the marker to decide what to show.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import maxenv

MARKER_NAME = "gpt2tutor_kernels.json"
ENV_SWITCH = "GPT2TUTOR_KERNELS"  # "0": no bundles, no prewarm (MAX's own behaviour)
EXTRA = "extra"  # the stage of targets only some learners' code uses: compiled last, never waited for
BUNDLE_FORMAT = "mlirbc-1"  # how a bundle's module is made (part of its id: a change recompiles)


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1") != "0"


@functools.lru_cache(maxsize=1)
def _max_version() -> str | None:
    return maxenv.max_version()


def state_dir() -> Path:
    """The tutor's own files for this MAX cache (two MAX caches, e.g. XDG_CACHE_HOME changed, get two):
    the prewarm's lock, progress and log, and each bundle's module as MLIR bytecode."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha256(str(maxenv.cache_dir().resolve()).encode()).hexdigest()[:12]
    return base / "gpt2tutor" / f"kernels-{tag}"


@dataclass(frozen=True)
class Stage:
    name: str  # the first step that needs it ("02"), or EXTRA
    keys: tuple[tuple[str, str], ...]  # (op family, target) pairs, as MAX's eager caches name them
    estimate: float  # seconds to compile it from an empty cache on 2 cores (measured)

    @property
    def step(self) -> int | None:
        return int(self.name) if self.name.isdigit() else None

    def bundle_id(self, version: str | None = None) -> str:
        payload = json.dumps([BUNDLE_FORMAT, version or _max_version(), platform.machine(), sorted(self.keys)])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def stages() -> list[Stage]:
    from .kernel_manifest import ESTIMATES, STAGES

    return [Stage(name, tuple(tuple(k) for k in keys), float(ESTIMATES.get(name, 15 + 3 * len(keys))))
            for name, keys in STAGES]


def stages_for(step: int | None) -> list[Stage]:
    """The stages a check of steps up to `step` needs (None: every stage but the extra one)."""
    return [s for s in stages() if s.step is not None and (step is None or s.step <= step)]


# --- the marker: which stages are compiled in this MAX cache ----------------------------------------

def marker_path() -> Path:
    return maxenv.cache_dir() / MARKER_NAME


def compiled_ids() -> set[str]:
    try:
        data = json.loads(marker_path().read_text("utf-8"))
        if data.get("max") != _max_version():
            return set()
        return {str(b) for b in data.get("bundles", [])}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def missing(needed: Iterable[Stage]) -> list[Stage]:
    done = compiled_ids()
    version = _max_version()
    return [s for s in needed if s.bundle_id(version) not in done]


def mark_compiled(stage: Stage) -> None:
    """Adds the stage to the marker (written atomically: a reader sees the old or the new file)."""
    path = marker_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = compiled_ids() | {stage.bundle_id()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gpt2tutor-kernels-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"max": _max_version(), "bundles": sorted(ids)}, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- loading bundles into MAX (imports MAX) ---------------------------------------------------------

def _families() -> dict:
    from max._interpreter_ops import gc_compile  # also registers every family

    return {f.name: f for f in gc_compile.registered_families()}


def _build_module(keys: Sequence[tuple[str, str]]):
    """One MAX Module holding exactly these targets, built the way MAX's own sweeps build them (so the
    same keys always give the same module, and MAX's disk cache finds it)."""
    from max._interpreter_ops import gc_compile
    from max._mlir_context import in_default_mlir_context
    from max.graph import Module

    families = _families()
    cpu = next(d for d in gc_compile.DISCOVERED_DEVICES if d.label == "cpu")
    wanted = {k for _, k in keys}

    @in_default_mlir_context
    def build():
        module, spare = Module(), Module()
        families["band_part"].build_module_for_device(cpu, spare)  # something to park unwanted graphs after
        anchor = list(spare.mlir_module.body)[-1]
        for name in sorted({f for f, _ in keys if f in families}):
            families[name].build_module_for_device(cpu, module)
        for op in list(module.mlir_module.body):
            if getattr(op, "is_subgraph", True) is False and op.sym_name not in wanted:
                op.move_after(anchor)
        return module

    return build(), cpu


def _bytecode(stage: Stage) -> bytes:
    """The stage's module as MLIR bytecode: read from the file the first process that built it left
    (parsing takes ~4 ms; building ~0.1-0.3 s), else built and saved."""
    from max._mlir_context import in_default_mlir_context

    path = state_dir() / "bundles" / f"{stage.bundle_id()}.mlirbc"
    try:
        return path.read_bytes()
    except OSError:
        pass
    module, _ = _build_module(stage.keys)
    data = in_default_mlir_context(lambda: module.mlir_module.bytecode)()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass
    return data


_loaded: set[str] = set()  # the stages this process has loaded


def load(stage: Stage) -> int:
    """Loads (compiling if MAX's cache lacks it) the stage's module and puts its models into MAX's eager
    caches, where the ops look first. Returns how many targets it installed.

    The module always goes through bytecode, in every process: MAX's disk cache keys a module by its IR,
    and a parsed module can differ from a freshly built one (MAX recomputes a graph counter on parse)."""
    from max._core import Operation
    from max._interpreter_ops import gc_compile
    from max._mlir_context import default_mlir_context
    from max.graph import Module

    data = _bytecode(stage)
    module = Module(Operation.from_bytecode(data, default_mlir_context()))
    cpu = next(d for d in gc_compile.DISCOVERED_DEVICES if d.label == "cpu")
    families = _families()
    with gc_compile.COMPILE_LOCK:
        models = gc_compile.session_for(cpu).load_all(module, weights_registry={})
        for family, key in stage.keys:
            if key in models and family in families:
                families[family].cache.setdefault(key, models[key])
    _loaded.add(stage.name)
    return len(models)


def preload(step: int | None, emit: Callable[..., None] | None = None) -> list[str]:
    """In a check process, before the learner's code runs: loads every *compiled* stage up to `step`
    (None: all of them, the extra one included). Never compiles, never fails: a stage that can't be
    loaded is left to MAX's usual path. Returns the names of the stages loaded."""
    if not enabled():
        return []
    wanted = [s for s in stages() if step is None or (s.step is not None and s.step <= step)]
    ready = [s for s in wanted if s not in missing(wanted)]
    loaded = []
    for stage in ready:
        label = f"the kernels for step {stage.name}" if stage.step else "more kernels"
        if emit is not None:  # loading takes ~0.01 s; it compiles only if MAX's cache lost the bundle
            emit(compiling=label, bundle=stage.name)
        started = time.perf_counter()
        try:
            load(stage)
        except Exception as exc:  # noqa: BLE001 - an optimisation must never break a check
            print(f"gpt2tutor: kernel bundle {stage.name} not loaded: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            loaded.append(stage.name)
        finally:
            if emit is not None:
                emit(compiled=label, seconds=round(time.perf_counter() - started, 2))
    return loaded


def watch_compiles(emit: Callable[..., None]) -> None:
    """From now on in this process, when an op needs a target MAX has not loaded: if a compiled stage not
    loaded yet holds it (the extra stage, say), loads that stage; else lets MAX compile (or adopt) it,
    reporting {"compiling": key} before and {"compiled": key, "seconds": s} after, so the runner can pause
    the time limit and the CLI can say what is going on."""
    try:
        from max._interpreter_ops import gc_compile
    except Exception:  # noqa: BLE001
        return
    original = gc_compile.GCOpFamily.model_for
    if getattr(original, "_gpt2tutor", False):
        return
    home = {key: stage for stage in stages() for _, key in stage.keys} if enabled() else {}

    def model_for(self, key, device, build, **kwargs):
        if key in self.cache:
            return self.cache[key]
        stage = home.get(key)
        if stage is not None and stage.name not in _loaded and not missing([stage]):
            try:
                load(stage)
            except Exception:  # noqa: BLE001 - MAX's own path below
                pass
            if key in self.cache:
                return self.cache[key]
        emit(compiling=key, family=self.name)
        started = time.perf_counter()
        try:
            return original(self, key, device, build, **kwargs)
        finally:
            emit(compiled=key, seconds=round(time.perf_counter() - started, 2))

    model_for._gpt2tutor = True
    gc_compile.GCOpFamily.model_for = model_for


# --- recording which targets the checks use (a development tool) -----------------------------------

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


def _record_run(exercises: Path, steps: list[str], out: Path) -> None:
    """Child side of `record`: runs the steps' checks on `exercises`, writing the targets each step uses."""
    from .checking import child
    from .curriculum import get_step

    maxenv.tune_process()
    sys.path.insert(0, str(exercises))
    sys.dont_write_bytecode = True
    log: list = []
    for name, family in _families().items():
        family.cache = _Recorder(name, family.cache, log)
    reporter = child.Reporter(Path(os.devnull))
    used: dict[str, list] = {}
    for sid in steps:
        del log[:]
        child.run_step(get_step(sid), exercises, reporter, seed=1)
        used[sid] = sorted(set(log))
    out.write_text(json.dumps(used))


def record(variants: Path | None = None) -> tuple[list[tuple[str, list]], list]:
    """Runs the reference solutions' checks (and the learner variants in `variants`, when given) and
    returns (stages, extra targets) in learner order."""
    import subprocess

    from .curriculum import STEPS

    def run(files: dict[str, str], steps: list[str]) -> dict:
        with tempfile.TemporaryDirectory(prefix="gpt2tutor-record-") as tmp:
            ex = Path(tmp) / "exercises"
            ex.mkdir()
            for step in STEPS:
                (ex / step.filename).write_text(files.get(step.id, step.solution()), encoding="utf-8")
            out = Path(tmp) / "used.json"
            subprocess.run([sys.executable, "-m", "gpt2tutor.kernels", "_record_run", str(ex), str(out), *steps],
                           cwd=ex, stdin=subprocess.DEVNULL, capture_output=True, timeout=600, check=False)
            return json.loads(out.read_text()) if out.exists() else {}

    used = run({}, [s.id for s in STEPS])
    seen: set = set()
    staged = []
    for step in STEPS:
        new = [k for k in used.get(step.id, []) if tuple(k) not in seen]
        seen.update(tuple(k) for k in new)
        if new:
            staged.append((step.id, new))
    extra: list = []
    if variants is not None:
        for path in sorted(variants.glob("step_*/*.py")):
            sid = path.parent.name[5:]
            try:
                found = run({sid: path.read_text("utf-8")}, [sid])
            except (subprocess.TimeoutExpired, OSError):
                continue
            for k in found.get(sid, []):
                if tuple(k) not in seen:
                    seen.add(tuple(k))
                    extra.append(k)
    return staged, sorted(extra)


def _write_manifest(staged, extra, path: Path) -> None:
    from .kernel_manifest import ESTIMATES

    lines = ['"""The eager MAX targets the checks use, by the step that first needs them.',
             "",
             "Generated by `python -m gpt2tutor.kernels record`: regenerate it when a check changes the ops it runs",
             "(tests/test_perf_infra.py says so). ESTIMATES: seconds to compile each stage from an empty MAX cache",
             'on 2 cores, measured with benchmarks/cold_start.py; a stage missing there is estimated from its size."""',
             "", "STAGES = ["]
    for name, keys in [*staged, *([(EXTRA, extra)] if extra else [])]:
        lines.append(f"    ({name!r}, [")
        lines += [f"        ({f!r}, {k!r})," for f, k in keys]
        lines.append("    ]),")
    lines += ["]", "", f"ESTIMATES = {ESTIMATES!r}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["_record_run"]:
        _record_run(Path(args[1]), args[3:], Path(args[2]))
        return 0
    if args[:1] == ["record"]:
        variants = Path(args[1]) if len(args) > 1 else None
        staged, extra = record(variants)
        _write_manifest(staged, extra, Path(__file__).with_name("kernel_manifest.py"))
        for name, keys in staged:
            print(f"stage {name}: {len(keys)} targets")
        print(f"extra: {len(extra)} targets")
        return 0
    print("usage: python -m gpt2tutor.kernels record [tests/variants]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
