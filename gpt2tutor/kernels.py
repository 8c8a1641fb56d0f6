"""Kernel batches: the eager MAX kernels the checks need, compiled ahead of time in a few batches.

Why (MAX 26.7, measured on a 2-core machine without a GPU):
- An eager op runs a small compiled model per (op, dtype) target. MAX compiles it on first use and
  caches the compiled *module* on disk. Compiling one module costs ~10-13 s of fixed overhead plus
  ~1-3 s per target in it, so 27 targets one by one take ~6 min, but 4 targets in one module 18 s
  from an empty cache.
- After `max warm-interpreter-cache` (8 min, 725 MB) every process adopts whole op families on first
  use: ~0.3-0.5 s per family, ~1.3 s a check process. Loading one cached module holding exactly
  the targets the checks use takes ~0.05 s.

So the tutor names the targets its checks use (the course's `kernels.json`: one *batch* per step whose
checks first need new ones, written by tools/record_kernels.py), the background process
(`gpt2tutor.background`) compiles the batches in the order a learner meets them, and every check process
loads the compiled ones into MAX's eager caches before the learner's code runs. Anything else (an op only
the learner's own code uses) takes MAX's usual path.

`generate` runs eager ops too (the generation step's loop: the last position's logits, greedy argmax,
temperature, top-k and the seeded draw), at GPT-2's sizes. A target is named by op, device, dtype (and for
some ops rank), never by shape, so the checks' batches hold most of them; the *generation* batch holds the
rest, recorded from a real `generate` run. The background compiles it once a learner reaches the generation
step, and `generate` loads every compiled batch before its first token (`preload_generation`).

Which batches are compiled is recorded in a marker next to MAX's compiled modules (so it cannot outlive
them), keyed by a hash of the batch's targets and the MAX version. Only the background process writes it.
Nothing here imports MAX at module level: the CLI reads the marker to decide what to show. MAX's
private modules are reached only through gpt2tutor.maxinternals.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import maxenv, maxinternals, names, registry
from .events import Compiled, Compiling
from .files import write_atomic

MARKER_NAME = "gpt2tutor_kernels.json"
ENV_SWITCH = names.KERNELS_ENV
EXTRA = "extra"  # the batch of targets only some learners' code uses: compiled last, never waited for
GENERATION = "generation"  # the batch of targets only `generate` uses (not a check's: see background.py)
BATCH_FORMAT = "mlirbc-1"  # how a batch's module is made (part of its id: a change recompiles)


BACKGROUND_SWITCH = names.BACKGROUND_ENV


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1") != "0"


def background_enabled() -> bool:
    """Whether a command may start the background process (and what needs it: spares, graph jobs)."""
    return enabled() and os.environ.get(BACKGROUND_SWITCH, "1") != "0"


@functools.lru_cache(maxsize=1)
def _max_version() -> str | None:
    return maxenv.max_version()


STATE_ENV = names.STATE_DIR_ENV  # tests use a folder of their own


def state_dir() -> Path:
    """The tutor's own files for this MAX cache (two MAX caches, e.g. XDG_CACHE_HOME changed, get two):
    the background process's lock, report and log, each batch's module as MLIR bytecode, graph jobs and
    verdicts, spare check processes."""
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha256(str(maxenv.cache_dir().resolve()).encode()).hexdigest()[:12]
    return base / "gpt2tutor" / f"kernels-{tag}"


@dataclass(frozen=True)
class Batch:
    name: str  # its name in the course data (the first step whose checks need it: "02"), or EXTRA
    keys: tuple[tuple[str, str], ...]  # (op family, target) pairs, as MAX's eager caches name them
    estimate: float  # seconds to compile it from an empty cache on 2 cores (measured)

    @property
    def step(self) -> registry.Step | None:
        return registry.get_step(self.name) if self.name not in (EXTRA, GENERATION) else None

    @property
    def label(self) -> str:
        """The batch, for people."""
        if self.step is not None:
            return f"the kernels for step {self.name}"
        return "the kernels generate uses" if self.name == GENERATION else "more kernels"

    def batch_id(self, version: str | None = None) -> str:
        payload = json.dumps([BATCH_FORMAT, version or _max_version(), platform.machine(), sorted(self.keys)])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _manifest() -> dict:
    return json.loads(resources.files(registry.COURSE).joinpath("kernels.json").read_text("utf-8"))


def _every_batch() -> list[Batch]:
    manifest = _manifest()
    estimates = manifest["estimates"]
    return [Batch(b["name"], tuple(tuple(k) for k in b["keys"]),
                  float(estimates.get(b["name"], 15 + 3 * len(b["keys"])))) for b in manifest["batches"]]


def batches() -> list[Batch]:
    """The checks' batches, in learner order, the extra one last (not the generation batch)."""
    return [b for b in _every_batch() if b.name != GENERATION]


def generation_batch() -> Batch | None:
    """The batch of the targets `generate` uses that no check batch holds (None: the manifest has none)."""
    return next((b for b in _every_batch() if b.name == GENERATION), None)


def generate_targets() -> list[tuple[str, str]]:
    """The (op family, target) pairs a real `generate --reference` looks up, greedy and sampled (the manifest's
    `generate` list): each is in a check batch or the generation batch."""
    return [tuple(k) for k in _manifest().get("generate", [])]


def batches_for(step: registry.Step | None) -> list[Batch]:
    """The batches a check of steps up to `step` needs (None: every batch but the extra one)."""
    wanted = {s.kernel_batch for s in registry.up_to(step)}
    return [b for b in batches() if b.name in wanted]


# --- the marker: which batches are compiled in this MAX cache ----------------------------------------

def marker_path() -> Path:
    return maxenv.cache_dir() / MARKER_NAME


def compiled_ids() -> set[str]:
    try:
        data = json.loads(marker_path().read_text("utf-8"))
        if data.get("max") != _max_version():
            return set()
        return {str(b) for b in data.get("batches", [])}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def missing(needed: Iterable[Batch]) -> list[Batch]:
    done = compiled_ids()
    version = _max_version()
    return [b for b in needed if b.batch_id(version) not in done]


def mark_compiled(batch: Batch) -> None:
    """Adds the batch to the marker (written atomically: a reader sees the old or the new file)."""
    ids = compiled_ids() | {batch.batch_id()}
    write_atomic(marker_path(), json.dumps({"max": _max_version(), "batches": sorted(ids)}))


# --- loading batches into MAX (imports MAX) ---------------------------------------------------------

def _bytecode(batch: Batch) -> bytes:
    """The batch's module as MLIR bytecode: read from the file the first process that built it left
    (parsing takes ~4 ms; building ~0.1-0.3 s), else built and saved."""
    path = state_dir() / "batches" / f"{batch.batch_id()}.mlirbc"
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = maxinternals.build_module_bytecode(batch.keys)
    try:
        write_atomic(path, data)
    except OSError:
        pass
    return data


_loaded: set[str] = set()  # the batches this process has loaded


def load(batch: Batch) -> int:
    """Loads (compiling if MAX's cache lacks it) the batch's module and puts its models into MAX's eager
    caches, where the ops look first. Returns how many targets it installed.

    The module always goes through bytecode, in every process: MAX's disk cache keys a module by its IR,
    and a parsed module can differ from a freshly built one (MAX recomputes a graph counter on parse)."""
    count = maxinternals.load_module_bytecode(_bytecode(batch), batch.keys)
    _loaded.add(batch.name)
    return count


def preload(step: registry.Step | None, emit: Callable[[object], None] | None = None) -> list[str]:
    """In a check process, before the learner's code runs: loads every *compiled* batch up to `step`
    (None: all of them, the extra one included). Never compiles, never fails: a batch that can't be
    loaded is left to MAX's usual path. Returns the names of the batches loaded."""
    if not enabled():
        return []
    return _preload(batches() if step is None else batches_for(step), emit)


def preload_generation(emit: Callable[[object], None] | None = None) -> list[str]:
    """In `generate`'s process, before the model runs: loads every compiled batch, the generation one
    included (the learner's generate_tokens may use what their check 14 used, or a variant's ops). As
    `preload`, never compiles, never fails."""
    if not enabled():
        return []
    extra = generation_batch()
    return _preload(batches() + ([extra] if extra is not None else []), emit)


def _preload(wanted: list[Batch], emit: Callable[[object], None] | None) -> list[str]:
    ready = [b for b in wanted if b not in missing(wanted)]
    loaded = []
    for batch in ready:
        label = batch.label
        if emit is not None:  # loading takes ~0.01 s; it compiles only if MAX's cache lost the batch
            emit(Compiling(label, "batch"))
        started = time.perf_counter()
        try:
            load(batch)
        except Exception as exc:
            print(f"gpt2tutor: kernel batch {batch.name} not loaded: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            loaded.append(batch.name)
        finally:
            if emit is not None:
                emit(Compiled(label, "batch", round(time.perf_counter() - started, 2)))
    return loaded


def watch_compiles(emit: Callable[[object], None]) -> None:
    """From now on in this process, when an op needs a target MAX has not loaded: if a compiled batch not
    loaded yet holds it (the extra batch, say), loads that batch; else lets MAX compile (or adopt) it,
    reporting Compiling(key) before and Compiled(key, seconds=s) after, so the runner can pause the time
    limit and the command line can say what is going on."""
    home = {key: batch for batch in _every_batch() for _, key in batch.keys} if enabled() else {}

    def wrap(original):
        def model_for(self, key, device, build, **kwargs):
            if key in self.cache:
                return self.cache[key]
            batch = home.get(key)
            if batch is not None and batch.name not in _loaded and not missing([batch]):
                try:
                    load(batch)
                except Exception:
                    pass
                if key in self.cache:
                    return self.cache[key]
            emit(Compiling(key, "kernel"))
            started = time.perf_counter()
            try:
                return original(self, key, device, build, **kwargs)
            finally:
                emit(Compiled(key, "kernel", round(time.perf_counter() - started, 2)))

        return model_for

    maxinternals.wrap_model_lookup(wrap)


def main(argv: list[str]) -> int:
    """`python -m gpt2tutor.kernels NAME`: compiles one batch into MAX's cache and marks it compiled (the
    background process runs this in a niced child of its own)."""
    maxenv.tune_process()
    batch = next((b for b in _every_batch() if b.name == argv[0]), None)
    if batch is None:
        print(f"no kernel batch {argv[0]!r}", file=sys.stderr)
        return 2
    load(batch)
    mark_compiled(batch)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
