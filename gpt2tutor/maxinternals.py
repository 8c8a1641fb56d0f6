"""Every use of MAX's private modules, in one place (MAX 26.7).

The kernel batches (gpt2tutor.kernels) build, load and watch MAX's eager-op models through MAX's
interpreter internals, and the CLI reads MAX's warm-cache stamp without importing MAX. None of that is
public API: a MAX upgrade may move it, and tests/test_maxinternals.py then fails naming what moved.
Nothing here imports MAX at module level.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Iterable
from pathlib import Path

WARM_STAMP = "eager_gc_warm_stamp.json"  # gc_compile._WARM_STAMP_NAME
COMPILE_NOTICE_LOGGER = "max._eager_policy"  # logs "compiled ... on the fly ... Run `max warm-interpreter-cache`"
PRIVATE_NAMES = (  # what this module relies on, checked by the test
    ("max._interpreter_ops.gc_compile", ("registered_families", "DISCOVERED_DEVICES", "COMPILE_LOCK", "session_for",
                                         "GCOpFamily", "_WARM_STAMP_NAME", "warm_stamp_matches")),
    ("max._mlir_context", ("in_default_mlir_context", "default_mlir_context")),
    ("max._core", ("Operation",)),
    ("max._entrypoints.pipelines", ("main",)),
    ("max._eager_policy", ("record_cold_compile", "logger")),
    ("max.experimental.functional", ("_run", "_in_running_loop")),
    ("mojo.importer", ("_calculate_mojo_source_hash", "_resolve_cache_dir")),
)


def native_loaded() -> bool:
    """Whether this process has loaded MAX's native library (its `max._core` package), without importing it."""
    import sys

    return "max._core" in sys.modules


def _gc():
    from max._interpreter_ops import gc_compile  # importing it registers every op family

    return gc_compile


def families() -> dict:
    """MAX's eager op families by name; each has a `cache` of compiled models keyed by target."""
    return {f.name: f for f in _gc().registered_families()}


def _cpu():
    return next(d for d in _gc().DISCOVERED_DEVICES if d.label == "cpu")


def build_module_bytecode(keys: Iterable[tuple[str, str]]) -> bytes:
    """One MAX Module holding exactly these (family, target) pairs, built the way MAX's own sweeps build
    them (so the same keys give the same module, and MAX's disk cache finds it), as MLIR bytecode."""
    from max._mlir_context import in_default_mlir_context
    from max.graph import Module

    keys = list(keys)
    found = families()
    cpu = _cpu()
    wanted = {k for _, k in keys}

    @in_default_mlir_context
    def build() -> bytes:
        module, spare = Module(), Module()
        found["band_part"].build_module_for_device(cpu, spare)  # something to park unwanted graphs after
        anchor = list(spare.mlir_module.body)[-1]
        for name in sorted({f for f, _ in keys if f in found}):
            found[name].build_module_for_device(cpu, module)
        for op in list(module.mlir_module.body):
            if getattr(op, "is_subgraph", True) is False and op.sym_name not in wanted:
                op.move_after(anchor)
        return module.mlir_module.bytecode

    return build()


def load_module_bytecode(data: bytes, keys: Iterable[tuple[str, str]]) -> int:
    """Compiles (or finds in MAX's disk cache) the module and puts its models into the eager caches,
    where the ops look first. Returns how many models the module held."""
    from max._core import Operation
    from max._mlir_context import default_mlir_context
    from max.graph import Module

    gc = _gc()
    module = Module(Operation.from_bytecode(data, default_mlir_context()))
    found = families()
    with gc.COMPILE_LOCK:
        models = gc.session_for(_cpu()).load_all(module, weights_registry={})
        for family, key in keys:
            if key in models and family in found:
                found[family].cache.setdefault(key, models[key])
    return len(models)


ModelFor = Callable[..., object]


def wrap_model_lookup(wrap: Callable[[ModelFor], ModelFor]) -> None:
    """Replaces the method every op family looks its compiled models up with (`model_for(self, key,
    device, build, **kw)`) by `wrap(original)`, once per process."""
    try:
        family = _gc().GCOpFamily
    except Exception:
        return
    if getattr(family.model_for, "_gpt2tutor", False):
        return
    wrapped = wrap(family.model_for)
    wrapped._gpt2tutor = True
    family.model_for = wrapped


def one_event_loop_per_thread() -> None:
    """MAX runs every eager op to completion with asyncio.run, which makes and closes an event loop each time
    (max.experimental.functional._run): about 40% of an op's cost on a small machine. Here each thread keeps
    one loop and runs the ops on it; inside a running loop (a notebook) MAX's own path is kept. Once per
    process."""
    import asyncio
    import threading

    from max.experimental import functional

    original = functional._run
    if getattr(original, "_gpt2tutor", False):
        return
    local = threading.local()

    def run(coro):
        if functional._in_running_loop():
            return original(coro)
        loop = getattr(local, "loop", None)
        if loop is None or loop.is_closed():
            loop = local.loop = asyncio.new_event_loop()
        return loop.run_until_complete(coro)

    run._gpt2tutor = True
    functional._run = run


MOJO_PACKAGE = "max._kv_cache_ops"  # MAX's Mojo package, built by mojo.importer on the first import
MOJO_BUILD = f"import {MOJO_PACKAGE}"  # a Python that runs this builds it


def mojo_build() -> Path | None:
    """Where mojo.importer keeps the build of MAX's Mojo package for the installed sources (whether it is
    there or not), found as mojo.importer finds it but without importing MAX; None when MAX lays it out
    otherwise."""
    import importlib.util

    try:
        from mojo import importer

        spec = importlib.util.find_spec("max")
        sources = Path(next(iter(spec.submodule_search_locations))) / MOJO_PACKAGE.split(".")[1]
        name = f"kv_cache_ops.hash-{importer._calculate_mojo_source_hash(sources)}.so"
        return importer._resolve_cache_dir(f"{MOJO_PACKAGE}.kv_cache_ops", sources, cache_filename=name) / name
    except Exception:
        return None


def warm_stamp_matches(cache_dir: Path, max_version: str | None) -> bool:
    """Whether `max warm-interpreter-cache` has prepared this cache for this MAX on this CPU (no
    accelerator), read from MAX's stamp file without importing MAX."""
    try:
        context = json.loads((cache_dir / WARM_STAMP).read_text())["context"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    fields = dict(part.split("=", 1) for part in context.split(";") if "=" in part)
    return fields.get("version") == max_version and fields.get("cpu") == platform.machine()


# `max` (warm-interpreter-cache, serve, ...) when this Python has no `max` executable beside it
MAX_COMMAND_FALLBACK = "import sys; from max._entrypoints.pipelines import main; sys.exit(main())"
