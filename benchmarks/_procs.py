"""What the benchmark scripts share: how to start the tutor as a learner would, and the machine's load."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def tutor() -> list[str]:
    """The console script a learner runs (next to this Python), else the same entry point via -c."""
    script = Path(sys.executable).with_name("gpt2tutor")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from gpt2tutor.cli import main; main()"]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"
