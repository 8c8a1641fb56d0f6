"""Whether the learner's code would run on a GPU, judged on a machine that has none.

MAX's virtual device mode (`max.driver.set_virtual_device_count`) makes `Accelerator()` describe a GPU that
isn't there: graphs can be traced for it, not run. Traced for it with every input and parameter on it, the
learner's code shows what a GPU would refuse before a kernel runs: a tensor made on the CPU (`device=CPU()`,
or a symbolic dim used as a number, which MAX makes into a scalar on the CPU) meeting one on the GPU, or a
dtype left to MAX's default, which on a GPU is bfloat16. Where the machine has a GPU, the real one is traced
(tracing runs nothing). Virtual mode is switched on only while a trace runs: outside it, every eager op of the
checks runs on the CPU as before.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..frames import learner_frames

ON_GPU = "runs on a GPU: every tensor on its inputs' device (traced for a GPU; none needed)"
VIRTUAL_API, VIRTUAL_ARCH = "cuda", "sm_90a"  # an NVIDIA Hopper GPU, which MAX supports

_DIM = re.compile(r"Dim\('?([^)']*)'?\)")
_TYPE = re.compile(r"(\w+): TensorType\(dtype=(\w+), shape=\[([^\]]*)\], device=(\w+):\d+\)")


@contextlib.contextmanager
def gpu() -> Iterator[Any]:
    """A GPU device to trace for: the machine's first, else a virtual one for as long as the block runs."""
    from max import driver

    if driver.is_virtual_device_mode() or driver.accelerator_count() > 0:
        yield driver.Accelerator()
        return
    driver.set_virtual_device_api(VIRTUAL_API)
    driver.set_virtual_device_target_arch(VIRTUAL_ARCH)
    driver.set_virtual_device_count(1)
    try:
        yield driver.Accelerator()
    finally:
        driver.set_virtual_device_count(0)


def tensor_type(dtype: str, shape: Sequence[int | str]) -> Any:
    """A graph input on the GPU: `dtype` a DType name, `shape` ints and symbolic names."""
    from max.dtype import DType
    from max.graph import DeviceRef, TensorType

    return TensorType(getattr(DType, dtype), list(shape), DeviceRef.GPU(0))


def trace_module(build: Callable[[], Any], call: Callable[..., Any], inputs: Sequence[Any]) -> Any:
    """Builds the learner's module lazily on the GPU in float32 (as load_gpt2 builds the model) and traces
    `call(module, *inputs)` for inputs of these types (`tensor_type`). Returns what `call` returned while
    tracing (its tensors know their devices). Run within `gpu()` (its device is MAX's default device there)."""
    from max.dtype import DType
    from max.experimental import functional as F
    from max.experimental.nn import Module
    from max.experimental.tensor import default_dtype

    with default_dtype(DType.float32), F.lazy():
        inner = build()

    class Traced(Module):  # the learner's module as a child, so that its parameters are the graph's weights
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            returned.append(call(self.inner, *args))
            return returned[-1]

    returned: list[Any] = []
    Traced().trace(*inputs)
    return returned[-1]


def device_mistake(exc: BaseException, exercises: Path) -> str | None:
    """What a failed GPU trace says about devices or GPU dtypes, for the learner; None when it failed for
    another reason (code that reads a value midway can't be traced, and that is no device mistake)."""
    text = str(exc)
    where = _where(exc, exercises)
    line = where[1] if where else ""
    at = f"{where[0]}: `{line}`" if where else "your code"
    operands = _TYPE.findall(text)
    if "same device" in text:
        shown = ", ".join(f"{dtype} {_shape(shape)} on {dev}" for _, dtype, shape, dev in operands) \
            or "tensors on two devices"
        pinned = _pinned(exc, exercises)
        if pinned:
            advice = (f"`CPU()` pins a tensor to the CPU ({pinned}), and a GPU can't mix it with its own: make it on "
                      "the device of the tensors it meets (`device=x.device`), and never name a device in model code")
        elif any(shape == "" and dev == "cpu" and dtype == "int64" for _, dtype, shape, dev in operands):
            advice = ("a symbolic dim (a length such as `past` or `seq`) used as a number becomes an int64 scalar on "
                      "the CPU. Let the op take the dim itself (arange's start and stop, a shape, a slice), or move "
                      "the scalar with `.to(x.device)`")
        else:
            advice = ("a tensor was made on the CPU (a device= left out where MAX's default is not the inputs' "
                      "device, or given as the CPU): make every tensor on its inputs' device, `device=x.device`")
        return f"on a GPU, {at} mixes devices ({shown}): {advice}"
    if "bfloat16" in text and re.search(r"dtype|same type|type mismatch", text, re.I):
        return (f"on a GPU, {at} meets a bfloat16 tensor: a tensor made without `dtype=` takes MAX's default "
                f"dtype, which is bfloat16 on a GPU (float32 on the CPU). State the dtype (`dtype=x.dtype`, or "
                f"DType.int64 for positions)")
    return None


def wrong_device(what: str, tensor: Any) -> str | None:
    """A result that should be on the GPU but isn't, said for the learner; None when it is."""
    device = getattr(tensor, "device", None)
    if device is None:
        return None
    from max import driver

    if driver.is_virtual_device_mode() and getattr(tensor, "real", False):
        return None  # made with data (from NumPy, say): a virtual GPU can't hold it, so `.to(gpu)` leaves it here
    label = getattr(device, "label", None)
    label = label if isinstance(label, str) else str(device).split(":")[0]
    if label == "gpu":
        return None
    return (f"on a GPU, {what} is on the {label.upper()}: make it on the device you are given (or the inputs' "
            f"device), never a fixed one")


def _shape(text: str) -> str:
    """A shape as MAX prints it in a type ("Dim(24), Dim('seq')") as the learner writes it ("[24, seq]")."""
    return "[" + _DIM.sub(r"\1", text) + "]" if text else "scalar"


def _pinned(exc: BaseException, exercises: Path) -> str | None:
    """Where the learner's code names the CPU as a device, in the files of the failing frames (innermost first):
    the failing line itself, else the nearest line above it in the same function's file."""
    for f in reversed(learner_frames(exc, exercises)):
        try:
            lines = Path(f.filename).read_text("utf-8").splitlines()
        except OSError:
            continue
        for number in range(f.lineno or 0, 0, -1):
            text = lines[number - 1]
            if re.search(r"\bCPU\(\)", text) and not re.search(r"\bor CPU\(\)|^\s*(from|import)\b", text):
                return f"{Path(f.filename).name} line {number}: `{text.strip()}`"
    return None


def _where(exc: BaseException, exercises: Path) -> tuple[str, str] | None:
    frames = learner_frames(exc, exercises)
    if not frames:
        return None
    f = frames[-1]
    return f"{Path(f.filename).name} line {f.lineno}", (f.line or "").strip()
