"""MAX builds its Mojo package in place on the first import in an environment: our processes make sure it is
built, one at a time (maxenv.mojo_packages), so none loads a half-written file, and a cut-off build is built
again. Here a stand-in `max` package plays MAX's importer: it builds slowly, in two writes, where no file is."""

from __future__ import annotations

import _ctypes
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gpt2tutor.maxenv import _whole_elf

A_LIBRARY = Path(_ctypes.__file__)  # a whole shared library, to stand for MAX's build

STAND_IN = """
import os, time
from pathlib import Path
built = Path(os.environ["MOJO_BUILT"])
if not built.is_file():
    whole = Path(os.environ["MOJO_WHOLE"]).read_bytes()
    built.parent.mkdir(exist_ok=True)
    with open(built, "wb") as f:
        f.write(whole[:1000]); f.flush(); time.sleep(1.5); f.write(whole[1000:])
    with open(os.environ["MOJO_LOG"], "a") as log:
        log.write("built\\n")
"""


def _on_path(root: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path]), **extra}


def _stand_in(root: Path) -> Path:
    """A `max` package holding only a Mojo package; returns where its build goes, as maxinternals finds it."""
    package = root / "max" / "_kv_cache_ops"
    package.mkdir(parents=True)
    (root / "max" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(STAND_IN)
    (package / "kv_cache_ops.mojo").write_text("# the sources mojo.importer hashes\n")
    ask = "from gpt2tutor import maxinternals; print(maxinternals.mojo_build())"
    found = subprocess.run([sys.executable, "-c", ask], env=_on_path(root), capture_output=True, text=True,
                           check=True).stdout.strip()
    assert found != "None" and Path(found).is_relative_to(package), found
    return Path(found)


def _ensure(root: Path, built: Path, log: Path) -> subprocess.Popen:
    env = _on_path(root, MOJO_LOG=str(log), MOJO_WHOLE=str(A_LIBRARY), MOJO_BUILT=str(built))
    return subprocess.Popen([sys.executable, "-c", "from gpt2tutor.maxenv import mojo_packages; mojo_packages()"],
                            env=env)


def test_a_second_process_returns_once_the_first_has_built_it_whole(tmp_path: Path) -> None:
    built, log = _stand_in(tmp_path), tmp_path / "log"
    first = _ensure(tmp_path, built, log)
    deadline = time.monotonic() + 30
    while not built.is_file() and time.monotonic() < deadline:  # the first one's child is writing it
        time.sleep(0.02)
    assert built.is_file()
    second = _ensure(tmp_path, built, log)
    assert second.wait(60) == 0
    assert _whole_elf(built), "the second process returned while the build was half-written"
    assert first.wait(60) == 0
    assert log.read_text().splitlines() == ["built"]


def test_a_cut_off_build_is_built_again(tmp_path: Path) -> None:
    built, log = _stand_in(tmp_path), tmp_path / "log"
    built.parent.mkdir()
    built.write_bytes(A_LIBRARY.read_bytes()[:1000])  # what a build cut off by Ctrl-C leaves
    assert _ensure(tmp_path, built, log).wait(60) == 0
    assert log.read_text().splitlines() == ["built"]
    assert built.read_bytes() == A_LIBRARY.read_bytes()


def test_a_whole_build_is_left_alone(tmp_path: Path) -> None:
    built, log = _stand_in(tmp_path), tmp_path / "log"
    built.parent.mkdir()
    shutil.copy(A_LIBRARY, built)
    assert _ensure(tmp_path, built, log).wait(60) == 0
    assert not log.exists()


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
