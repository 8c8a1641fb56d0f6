"""Which installation of the tutor this process is: its interpreter and its code.

Two installations can share one MAX cache, and so one background process (gpt2tutor.background): two virtual
environments, say, one with torch and one without, or a clone installed twice. A check must run in the
interpreter and the code of the command that asked for it, so whatever one process prepares for another
(a spare check process, checking/spares.py) carries this identity, and is used only where it matches.

The interpreter is named by its environment (`sys.prefix`) and its binary, resolved: two virtual
environments made from one Python share the binary but not their environment, while one environment's
`python`, `python3` and `python3.11` (the `gpt2tutor` script uses one, `python -m gpt2tutor` another) are the
same interpreter and must share their spares. A process is still started by the path as invoked
(`interpreter()`), since a virtual environment's link is what makes it that environment. The code is named
by a fingerprint of the package's files (each one's path, size and modification time; no file is read), so
an edited or reinstalled copy is another installation. It is computed once per process (about a millisecond).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from . import __version__

PACKAGE = Path(__file__).resolve().parent


def interpreter() -> str:
    """This process's Python, as it was started (symbolic links kept: a virtual environment's own `python`)."""
    return os.path.abspath(sys.executable or "python")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the package's files: where they are, their sizes and modification times."""
    entries = []
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            entries.append((os.path.relpath(path, PACKAGE), st.st_size, st.st_mtime_ns))
    payload = json.dumps([str(PACKAGE), entries])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def identity() -> str:
    """This installation, as a short id: its interpreter, its environment, its version and its code."""
    payload = json.dumps([os.path.realpath(interpreter()), sys.prefix, __version__, code_fingerprint()])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def describe() -> str:
    """This installation, for people: `gpt2tutor 0.1.0 in /path/.venv (/path/.venv/bin/python)`."""
    return f"gpt2tutor {__version__} in {sys.prefix} ({interpreter()})"
