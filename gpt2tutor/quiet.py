"""Other libraries' notices kept off the learner's terminal; the tutor says what matters in its own words.

- transformers, which `max serve` imports in its processes, warns on import that PyTorch is missing (true, and
  irrelevant there): its advisory notices are off unless the environment asks for them.
- MAX logs its first on-the-fly kernel compile of a process ("compiled ... on the fly ... Run
  `max warm-interpreter-cache`"): the tutor reports compiles itself, while they happen
  (gpt2tutor.kernels.watch_compiles), so MAX's logger keeps only errors.
"""

from __future__ import annotations

import logging
import os

from .maxinternals import COMPILE_NOTICE_LOGGER


def foreign_notices_off() -> None:
    """Call before transformers is imported (its notice comes at import) and before MAX runs an op."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    logging.getLogger(COMPILE_NOTICE_LOGGER).setLevel(logging.ERROR)
