"""Which device a command runs the model on: `--device auto|cpu|gpu` as "cpu" or "gpu"."""

from __future__ import annotations

from .errors import TutorError


def resolve_device(name: str) -> str:
    """auto is the GPU when MAX sees one. A GPU asked for where MAX sees none is a TutorError."""
    if name not in ("auto", "cpu", "gpu"):
        raise TutorError(f"--device must be auto, cpu or gpu, not {name!r}")
    if name == "cpu":
        return "cpu"
    from max import driver  # imported here: it takes a while

    seen = driver.accelerator_count() > 0
    if name == "gpu" and not seen:
        raise TutorError("--device gpu: no GPU (accelerator) is available to MAX on this machine; use --device cpu")
    return "gpu" if seen else "cpu"
