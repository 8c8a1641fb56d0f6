"""MAX's private names the tutor relies on (gpt2tutor.maxinternals) still exist and still mean what we
read them as. When a MAX upgrade moves one, this fails naming it: mend maxinternals.py, nothing else."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpt2tutor import kernels, maxinternals


@pytest.mark.parametrize(("module", "names"), maxinternals.PRIVATE_NAMES, ids=[m for m, _ in maxinternals.PRIVATE_NAMES])
def test_the_private_names_exist(module: str, names: tuple[str, ...]) -> None:
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"MAX no longer has {module} ({exc}): gpt2tutor.maxinternals needs mending")
    missing = [n for n in names if not hasattr(found, n)]
    assert not missing, f"MAX's {module} no longer has {', '.join(missing)}: gpt2tutor.maxinternals needs mending"


def test_the_warm_stamp_name_is_maxs() -> None:
    from max._interpreter_ops import gc_compile

    assert gc_compile._WARM_STAMP_NAME == maxinternals.WARM_STAMP


PARITY = """
import json, sys
from max._interpreter_ops import gc_compile
from gpt2tutor import maxenv
print(json.dumps([gc_compile.warm_stamp_matches(), maxenv.full_cache_compiled()]))
"""


def _both_say(derived: Path) -> list[bool]:
    env = dict(os.environ, MODULAR_DERIVED_PATH=str(derived))
    out = subprocess.run([sys.executable, "-c", PARITY], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_reading_the_warm_stamp_agrees_with_max(tmp_path: Path) -> None:
    """Our stamp reader (no MAX import) and MAX's own, on a stamp MAX wrote, one for another version, none."""
    cache = tmp_path / "cache" / ".max_cache"
    assert _both_say(tmp_path) == [False, False]
    env = dict(os.environ, MODULAR_DERIVED_PATH=str(tmp_path))
    subprocess.run([sys.executable, "-c", "from max._interpreter_ops import gc_compile; "
                    "assert gc_compile.write_warm_stamp()"], env=env, check=True, timeout=300)
    assert (cache / maxinternals.WARM_STAMP).is_file()
    assert _both_say(tmp_path) == [True, True]
    stamp = json.loads((cache / maxinternals.WARM_STAMP).read_text())
    stamp["context"] = stamp["context"].replace("version=", "version=0.")
    (cache / maxinternals.WARM_STAMP).write_text(json.dumps(stamp))
    assert _both_say(tmp_path) == [False, False]


def test_a_batch_builds_from_the_families_max_registers() -> None:
    """Every family the manifest names is one MAX registers, and a small batch's module builds."""
    families = maxinternals.families()
    named = {family for batch in kernels.batches() for family, _ in batch.keys}
    assert named <= set(families), f"MAX no longer registers {sorted(named - set(families))}"
    smallest = min(kernels.batches(), key=lambda s: len(s.keys))
    assert maxinternals.build_module_bytecode(smallest.keys)[:4] == b"ML\xefR"  # MLIR bytecode's magic


CHILD = """
import subprocess, sys
import max.nn  # loads MAX's Mojo runtime
from gpt2tutor.maxenv import child_environment
probe = [sys.executable, "-c", "import os, sys; print(sys.executable, os.environ.get('PYTHONEXECUTABLE'))"]
print(subprocess.run(probe, capture_output=True, text=True).stdout.strip())
print(subprocess.run(probe, env=child_environment(), capture_output=True, text=True).stdout.strip())
"""


def test_a_python_started_after_max_loaded_is_this_python(tmp_path: Path) -> None:
    """MAX's runtime sets PYTHONEXECUTABLE to the first python3 on PATH behind os.environ's back (here a decoy);
    a child inheriting it takes itself for that Python. maxenv.child_environment leaves it out."""
    decoy = tmp_path / "bin"
    decoy.mkdir()
    (decoy / "python3").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONEXECUTABLE"}
    env["PATH"] = f"{decoy}{os.pathsep}{env.get('PATH', '')}"
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    inherited, ours = out.stdout.strip().splitlines()[-2:]
    assert inherited.split()[-1] == str(decoy / "python3"), (
        f"MAX no longer sets PYTHONEXECUTABLE ({inherited}): maxenv.child_environment may be needless now")
    assert ours == f"{sys.executable} None"


def test_maxs_mojo_package_is_built_where_we_look() -> None:
    import max.experimental.nn  # noqa: F401 - builds the package, if this environment never did

    from gpt2tutor.maxenv import _whole_elf

    built = maxinternals.mojo_build()
    assert built is not None and built.is_file(), f"MAX's Mojo package is not built at {built}: mend maxinternals"
    assert _whole_elf(built)
