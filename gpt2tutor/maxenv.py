"""Making MAX fast and predictable in our processes, and knowing when its kernel cache is cold.

Nothing here imports MAX: the CLI uses it to decide what to show before any check starts.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from . import MAX_PIN, maxinternals, quiet
from .names import ONE_LOOP_ENV


def tune_process(*, ops: bool = True) -> None:
    """Call before MAX runs anything eagerly, in a process that will run MAX ops (`ops=False`: one that may
    not, such as a check process for a step without them; it calls mojo_packages() and one_loop() once it knows).

    Each eager op ends an asyncio.run(); on Python 3.11/3.12 that exit reprs the SIGINT
    handler's previous result (CPython issue 112559), which renders Tensors through more
    eager ops: ~40 ms an op instead of ~2.5 ms. A Python-level SIGINT handler avoids it. And each
    asyncio.run makes a new event loop: one loop per thread instead (maxinternals.one_event_loop_per_thread).
    """
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    os.environ.setdefault("MAX_EAGER_EXECUTOR", "interpreter")  # ~2x faster than the default on few cores
    quiet.foreign_notices_off()  # the tutor reports MAX's compiles itself
    if ops:
        mojo_packages()
        one_loop()


def mojo_packages() -> None:
    """Makes sure MAX's Mojo package (which max.experimental.nn imports) is built, one process at a time:
    call it before a process of ours imports max.experimental.nn.

    MAX builds the package on the first import in an environment (7-30 s) and writes it in place. So a second
    process importing it meanwhile loads a half-written file (an ImportError, "file too short", or a bus
    error), and a build cut off midway (Ctrl-C) leaves a file that never loads. Here a whole build is found
    in a few milliseconds; else, under one lock per environment, a cut-off one is removed and a child process
    builds it (this process's environment stays as it was: loading the package changes it)."""
    built = maxinternals.mojo_build()
    if built is None or built.is_file() and _whole_elf(built):
        return  # None: MAX moved it (tests/test_maxinternals.py says so), and builds it its own way
    key = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    try:
        fd = os.open(Path(tempfile.gettempdir()) / f"gpt2tutor-mojo-{key}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return  # no lock to be had: MAX's own behaviour
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if built.is_file() and not _whole_elf(built):
            built.unlink(missing_ok=True)  # cut off (the one that wrote it holds no lock now)
        if not built.is_file():
            subprocess.run([sys.executable, "-c", maxinternals.MOJO_BUILD], env=child_environment(),
                           stdin=subprocess.DEVNULL, capture_output=True)
    finally:
        os.close(fd)


def _whole_elf(path: Path) -> bool:
    """Whether a shared library is all there: its section headers, which a linker writes last, end where
    the file ends, or before."""
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return True  # not ours to judge
    if len(header) < 64:
        return False  # no shared library is this short
    if header[:4] != b"\x7fELF" or header[4] != 2:
        return True  # not 64-bit ELF (macOS's Mach-O): not ours to judge
    order = "<" if header[5] == 1 else ">"
    (sections_at,) = struct.unpack_from(order + "Q", header, 0x28)
    entry, count = struct.unpack_from(order + "HH", header, 0x3A)
    return sections_at + entry * count <= size


def one_loop() -> None:
    """Each thread runs MAX's eager ops on one event loop of its own (maxinternals.one_event_loop_per_thread),
    unless $GPT2TUTOR_ONE_LOOP is 0. Imports MAX's functional module (0.4-0.5 s): for processes that run ops."""
    if os.environ.get(ONE_LOOP_ENV, "1") != "0":
        maxinternals.one_event_loop_per_thread()


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Holds a Ctrl-C back while MAX's native modules are imported, then raises it: a KeyboardInterrupt
    raised inside a native module's initialisation aborts the whole process (SIGABRT) instead."""
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def load_max(*modules: str) -> None:
    """Tunes the process for eager ops and imports `modules`, all where a Ctrl-C waits (interrupts_deferred):
    one_loop() imports MAX's native modules too, so it is no safer than the imports."""
    import importlib

    tune_process(ops=False)  # the SIGINT handler first: interrupts_deferred restores it
    with interrupts_deferred():
        mojo_packages()
        one_loop()
        for name in modules:
            importlib.import_module(name)


def child_environment(**extra: str) -> dict[str, str]:
    """The environment to start a process with: os.environ as Python knows it, plus `extra`.

    Loading MAX's Mojo runtime sets PYTHONEXECUTABLE (to the first python3 on PATH), PYTHONPATH and
    MOJO_PYTHON_LIBRARY in the C environment, where os.environ never sees them. A child Python that inherits
    them starts as that other Python: from a virtual environment, without its packages. An explicit
    environment leaves them out.
    """
    return {**os.environ, **extra}


def max_version() -> str | None:
    try:
        return metadata.version("max")
    except metadata.PackageNotFoundError:
        return None


def pin_matches(version: str | None) -> bool:
    return version is not None and (version == MAX_PIN or version.startswith(MAX_PIN + "."))


def cache_dir() -> Path:
    """Where MAX keeps compiled kernels: under $MODULAR_DERIVED_PATH, else the XDG cache folder."""
    derived = os.environ.get("MODULAR_DERIVED_PATH")
    if derived:
        return Path(derived) / "cache" / ".max_cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modular" / ".max_cache"


def full_cache_compiled() -> bool:
    """Whether `max warm-interpreter-cache` has prepared this machine for the installed MAX."""
    return maxinternals.warm_stamp_matches(cache_dir(), max_version())


def max_command() -> list[str]:
    """`max`, from this Python's own environment (never another one's `max` on the PATH)."""
    sibling = Path(sys.executable).with_name("max")
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)]
    return [sys.executable, "-c", maxinternals.MAX_COMMAND_FALLBACK]
