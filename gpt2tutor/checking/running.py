"""Context's part that runs code: the learner's (their errors become failures showing their own traceback), the
reference's, and on which device; compiles are announced so the time limit waits."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..events import Compiled, Compiling
from ..frames import learner_traceback
from ..registry import defining
from .failure import CheckFailed

GPU_SLACK = 50.0  # 2e-5 on the CPU is 1e-3 on a GPU


class RunsCode:
    """Running code for the checks (needs `device`, `exercises`, `lazy`, `reference` and `_emit`)."""

    def call(self, what: str, fn: Callable, *args, **kwargs) -> Any:
        """Runs learner code, turning an exception into a failure that shows their own traceback."""
        try:
            return fn(*args, **kwargs)
        except CheckFailed:
            raise
        except NotImplementedError as exc:
            raise CheckFailed(f"{what} is still a placeholder:\n{learner_traceback(exc, self.exercises)}") from None
        except (Exception, SystemExit) as exc:
            raise CheckFailed(f"{what} raised an error:\n{learner_traceback(exc, self.exercises)}") from None

    def forward(self, what: str, fn: Callable, *args, **kwargs) -> Any:
        """A forward call of a model or layer: `call`, built lazily in a lazy run (checking/lazy.py), so that its
        ops make one graph, realized when a result is read (as_array)."""
        if not self.lazy:
            return self.call(what, fn, *args, **kwargs)
        from max.experimental import functional as F

        with F.lazy():
            return self.call(what, fn, *args, **kwargs)

    def build(self, cls: type, *args, **kwargs) -> Any:
        """An instance of the learner's module, built lazily (no random init is computed)."""
        from max.experimental import functional as F

        with F.lazy():
            return self.call(f"{cls.__name__}({_args_repr(args, kwargs)})", cls, *args, **kwargs)

    def reference_of(self, name: str) -> Any:
        """The reference's `name`: this step's, else the step that defines it (a check never imports a reference)."""
        found = getattr(self.reference, name, None)
        return found if found is not None else getattr(defining(name).reference(), name)

    def reference_build(self, name: str, *args, **kwargs) -> Any:
        from max.experimental import functional as F

        with F.lazy():
            return self.reference_of(name)(*args, **kwargs)

    @contextlib.contextmanager
    def compiling(self, label: str) -> Iterator[None]:
        """Around a Module.compile of the learner's model: the CLI says so, and the time limit waits."""
        started = time.perf_counter()
        self._emit(Compiling(label, "graph"))
        try:
            yield
        finally:
            self._emit(Compiled(label, "graph", round(time.perf_counter() - started, 2)))

    def recorded_compile(self, what: str, fn: Callable, *args, **kwargs) -> tuple[Any, Any]:
        """Runs learner code that compiles a model (their load_gpt2), with Module.compile recorded and traced
        instead of run (checking/compiles.py). Returns what it returned and the CompileCall it made (the one
        whose result it returned, else the last; None when it never called compile)."""
        from .compiles import Recorded, recording

        with recording(self.exercises) as calls:
            result = self.call(what, fn, *args, **kwargs)
        if isinstance(result, Recorded):
            return result, result.call
        return result, (calls[-1] if calls else None)

    # --- the device -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def on_device(self) -> Iterator[None]:
        """Around a step's checks: on a GPU (`check --device gpu`), MAX's default device is the GPU and the default
        dtype float32 (a GPU's own default is bfloat16), so the learner's modules are made there and inputs follow
        (`tensor`); outputs come back to the CPU to be judged (`as_array`) against references computed there."""
        if self.device != "gpu":
            yield
            return
        from max.driver import Accelerator
        from max.dtype import DType
        from max.experimental.tensor import default_device, default_dtype

        with default_device(Accelerator()), default_dtype(DType.float32):
            yield

    @property
    def slack(self) -> float:
        """How much looser numeric comparisons are on a GPU, whose kernels sum in other orders."""
        return GPU_SLACK if self.device == "gpu" else 1.0

    def on_gpu(self, what: str, run: Callable[[Any], Any]) -> str:
        """The GPU check of a step: `run(gpu)` traces the learner's code for a GPU (checking/devices.py; no GPU
        needed) and returns the tensors or types that should be on it. A device mistake fails with its name; code
        that can't be traced for another reason is not judged here (the other checks judge it)."""
        from . import devices

        with devices.gpu() as gpu:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    results = run(gpu)
            except CheckFailed:
                raise
            except NotImplementedError as exc:
                raise CheckFailed(f"{what} is still a placeholder:\n{learner_traceback(exc, self.exercises)}") from None
            except Exception as exc:
                found = devices.device_mistake(exc, self.exercises)
                if found:
                    raise CheckFailed(found) from None
                return (f"{what} could not be traced for a GPU ({type(exc).__name__}), so its devices are not "
                        "judged here")
            for result in results if isinstance(results, (list, tuple)) else [results]:
                found = devices.wrong_device(what, result)
                if found:
                    raise CheckFailed(found)
        return f"{what} traces for a GPU with every tensor on it (a virtual GPU when the machine has none)"

    def forward_on_gpu(self, name: str, args: Sequence[Any], dtype: str, shape: Sequence[int | str]) -> str:
        """The GPU check of a module's step: the learner's `name(*args)` built on the GPU, its forward traced for
        one input of this dtype and shape (names are symbolic dims)."""
        from .devices import tensor_type, trace_module

        cls = self.module_class(name)
        return self.on_gpu(f"{name}.forward", lambda gpu: trace_module(
            lambda: cls(*args), lambda module, x: module(x), [tensor_type(dtype, shape)]))


def _args_repr(args: tuple, kwargs: dict) -> str:
    parts = [type(a).__name__ if not isinstance(a, (int, float, str)) else repr(a) for a in args]
    parts += [f"{k}={v!r}" for k, v in kwargs.items()]
    return ", ".join(parts)
