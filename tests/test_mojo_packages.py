"""MAX builds its _kv_cache_ops Mojo package in place on the first import in an environment: our processes
import it under one lock (maxenv.mojo_packages), so a second one never loads a half-written file, and a
cut-off build is built again. Here a stand-in `max` package plays MAX's importer: it builds slowly, in two
writes, when no file is there."""

from __future__ import annotations

import _ctypes
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gpt2tutor.maxenv import _whole_elf

A_LIBRARY = Path(_ctypes.__file__)  # a whole shared library to stand for MAX's build

STAND_IN = """
import os, time
from pathlib import Path
built = Path(__file__).parent / "__mojocache__" / "kv_cache_ops.hash-0.so"
log = open(os.environ["MOJO_LOG"], "a")
if built.is_file():
    log.write(f"loaded {built.stat().st_size}\\n")
else:
    whole = Path(os.environ["MOJO_WHOLE"]).read_bytes()
    built.parent.mkdir(exist_ok=True)
    with open(built, "wb") as f:
        f.write(whole[:1000]); f.flush(); time.sleep(1.5); f.write(whole[1000:])
    log.write("built\\n")
"""


def _stand_in(root: Path) -> Path:
    package = root / "max" / "_kv_cache_ops"
    package.mkdir(parents=True)
    (root / "max" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(STAND_IN)
    return package / "__mojocache__" / "kv_cache_ops.hash-0.so"


def _importer(root: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path]), "MOJO_LOG": str(log),
           "MOJO_WHOLE": str(A_LIBRARY)}
    return subprocess.Popen([sys.executable, "-c", "from gpt2tutor.maxenv import mojo_packages; mojo_packages()"],
                            env=env)


def test_a_second_process_waits_for_the_build_and_loads_it_whole(tmp_path: Path) -> None:
    built, log = _stand_in(tmp_path), tmp_path / "log"
    first = _importer(tmp_path, log)
    deadline = time.monotonic() + 30
    while not built.is_file() and time.monotonic() < deadline:  # the first is writing it
        time.sleep(0.02)
    second = _importer(tmp_path, log)
    assert first.wait(60) == 0 and second.wait(60) == 0
    assert log.read_text().splitlines() == ["built", f"loaded {A_LIBRARY.stat().st_size}"]


def test_a_cut_off_build_is_built_again(tmp_path: Path) -> None:
    built, log = _stand_in(tmp_path), tmp_path / "log"
    built.parent.mkdir()
    built.write_bytes(A_LIBRARY.read_bytes()[:1000])  # what a build cut off by Ctrl-C leaves
    assert _importer(tmp_path, log).wait(60) == 0
    assert log.read_text().splitlines() == ["built"]
    assert built.read_bytes() == A_LIBRARY.read_bytes()


def test_only_a_whole_library_is_whole(tmp_path: Path) -> None:
    whole = A_LIBRARY.read_bytes()
    copy = tmp_path / "lib.so"
    shutil.copy(A_LIBRARY, copy)
    assert _whole_elf(copy)
    for size in (0, 10, 63, 1000, len(whole) - 1):
        copy.write_bytes(whole[:size])
        assert not _whole_elf(copy), size
    copy.write_bytes(b"\xcf\xfa\xed\xfe" + bytes(1000))  # a Mach-O header (macOS): left alone
    assert _whole_elf(copy)
