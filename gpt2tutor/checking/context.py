"""What a check module works with: the learner's module, the reference, weights, inputs, comparisons."""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..events import Compiled, Compiling
from ..frames import learner_traceback
from ..registry import by_role

CheckFn = Callable[["Context"], "str | None"]


class CheckFailed(Exception):
    """A check did not pass; the message is written for the learner."""


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: when the learner's output matches `output`, `message` names the mistake."""

    message: str
    output: Callable[[Any], Any]


@dataclass(frozen=True)
class Probe:
    """The next move when a wrong output matches no known mistake: an intermediate worth printing.

    `shape` is its expected shape, as text ("[batch, n_head, seq, seq]") or computed from a case's inputs;
    `code` is one line that prints it, to paste into the learner's code.
    """

    what: str
    shape: str | Callable[[Any], Sequence[int]]
    code: str

    def advice(self, inputs: Any) -> str:
        shape = self.shape if isinstance(self.shape, str) else str([int(n) for n in self.shape(inputs)])
        return (f"\nNo known mistake matches. Next move: print {self.what}, which should have shape {shape} "
                f"here. Add `{self.code}` after the line that computes it and check again: what your code "
                f"prints on the failing case is shown below. (`gpt2tutor hint --debugging`: printing in MAX.)")


DEVICE_ENV = "GPT2TUTOR_DEVICE"  # "gpu": `check --device gpu` runs the learner's code on the GPU
GPU_SLACK = 50.0  # 2e-5 on the CPU is 1e-3 on a GPU
GENERIC_PROBE = Probe("the shape of each intermediate in your code, line by line, against the lesson's "
                      "'Shapes' table", "as the table says", "print(x.shape)")
PRINTED_TAIL = 2000  # characters of what the learner's code printed on a failing case, kept for the message


class StepChecks:
    """The checks one step declares, in the order they are registered."""

    def __init__(self) -> None:
        self.structure_checks: list[tuple[str, CheckFn]] = []
        self.behaviour_checks: list[tuple[str, CheckFn]] = []

    def structure(self, name: str) -> Callable[[CheckFn], CheckFn]:
        return self._register(self.structure_checks, name)

    def behaviour(self, name: str, *, lazy_first: bool = False) -> Callable[[CheckFn], CheckFn]:
        """`lazy_first`: run the check first with the learner's forward calls (Context.forward) as lazy graphs;
        a pass stands, anything else runs it again eagerly (see _lazy_first)."""
        return self._register(self.behaviour_checks, name, _lazy_first if lazy_first else None)

    @staticmethod
    def _register(into: list, name: str, wrap: Callable[[CheckFn], CheckFn] | None = None
                  ) -> Callable[[CheckFn], CheckFn]:
        def add(fn: CheckFn) -> CheckFn:
            into.append((name, wrap(fn) if wrap else fn))
            return fn

        return add


def _lazy_first(check: CheckFn) -> CheckFn:
    """The check run with Context.lazy on: each forward call of the learner's model is one lazy MAX graph, realized
    when its result is read, instead of one graph per op (check 13's checks: 1.5-2x faster). When that run passes,
    its result stands. Anything else (a failure, or code that reads a value midway, which can't run lazily) runs
    the check again eagerly, from the same random state (NumPy's and MAX's seed), and that run gives the verdict
    and shows what the learner's code printed."""

    def run(ctx: Context) -> str | None:
        from max.experimental import realization_context

        rng_state, seed = ctx.rng.bit_generator.state, realization_context.seed().item()
        ctx.lazy = True
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                return check(ctx)
        except (Exception, SystemExit):
            pass
        finally:
            ctx.lazy = False
        ctx.rng.bit_generator.state = rng_state
        realization_context.set_seed(seed)
        return check(ctx)

    return run


class Context:
    """Everything a step's checks need; one per step per check run."""

    def __init__(self, step, learner: ModuleType, reference: ModuleType, exercises: Path, seed: int,
                 emit: Callable[[Any], None] = lambda record: None):
        self.step = step
        self.learner = learner
        self.reference = reference
        self.exercises = exercises
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._emit = emit  # progress records for the runner (it pauses the time limit while compiling)
        self.lazy = False  # in a lazy-first run (StepChecks.behaviour(lazy_first=True)): forward() builds lazily
        self.device = os.environ.get(DEVICE_ENV, "cpu")  # where the learner's code runs: "cpu" or "gpu"

    @contextmanager
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

    @contextmanager
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

    # --- looking things up --------------------------------------------------------------

    def attr(self, name: str) -> Any:
        """A name the learner's file must define."""
        if not hasattr(self.learner, name):
            raise CheckFailed(f"{self.step.filename} defines no `{name}`: the step asks for it by this exact name")
        return getattr(self.learner, name)

    def module_class(self, name: str) -> type:
        """A class the learner's file must define, subclassing MAX's Module."""
        from max.experimental.nn import Module

        cls = self.attr(name)
        if not inspect.isclass(cls):
            raise CheckFailed(f"`{name}` should be a class, but it is a {type(cls).__name__}")
        if not issubclass(cls, Module):
            raise CheckFailed(f"`{name}` must subclass max.experimental.nn.Module, so MAX can find its weights")
        if cls.forward is Module.forward:
            raise CheckFailed(f"`{name}` has no forward method: the computation goes in `forward`")
        return cls

    def learner_module(self, name: str, params: Sequence[str], *args, **kwargs) -> Any:
        """The learner's `name(*args, **kwargs)`, once `name` is a Module class whose __init__ takes `params`."""
        cls = self.module_class(name)
        self.expect_parameters_named(cls.__init__, f"{name}.__init__", params)
        return self.build(cls, *args, **kwargs)

    def function(self, name: str, params: Sequence[str]) -> Callable:
        """A function the learner's file must define, accepting these parameter names."""
        fn = self.attr(name)
        if not callable(fn):
            raise CheckFailed(f"`{name}` should be a function")
        self.expect_parameters_named(fn, name, params)
        return fn

    def expect_parameters_named(self, fn: Callable, label: str, params: Sequence[str]) -> None:
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return
        names = set(sig.parameters)
        var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        missing = [p for p in params if p not in names and not var_kw]
        if missing:
            raise CheckFailed(
                f"`{label}` should take the parameter(s) {', '.join(missing)}: "
                f"the signature asked for is ({', '.join(params)})"
            )

    # --- running the learner's code -------------------------------------------------------

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
        """A forward call of a model or layer: `call`, inside F.lazy() in a lazy-first run, so that its ops make
        one graph, realized when a result is read (as_array)."""
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

    def reference_build(self, name: str, *args, **kwargs) -> Any:
        from max.experimental import functional as F

        with F.lazy():
            return getattr(self.reference, name)(*args, **kwargs)

    # --- configurations, weights and inputs ------------------------------------------------

    def config(self, **overrides) -> Any:
        """A small GPT-2 configuration: fast to run, odd sizes so that mixed-up axes show."""
        GPT2Config = by_role("config").reference().GPT2Config

        sizes = dict(vocab_size=61, n_positions=24, n_embd=32, n_layer=2, n_head=4, n_inner=96)
        sizes.update(overrides)
        return GPT2Config(**sizes)

    @staticmethod
    def shapes(module: Any) -> dict[str, tuple[int, ...]]:
        """A module's parameter names and shapes."""
        return {name: tuple(int(d) for d in t.shape) for name, t in module.parameters}

    def reference_shapes(self, name: str, *args, **kwargs) -> dict[str, tuple[int, ...]]:
        """The parameter names and shapes of the reference's `name(*args, **kwargs)`."""
        return self.shapes(self.reference_build(name, *args, **kwargs))

    def refuse_known_shapes(self, module: Any, name: str, slips: dict[tuple[int, ...], str]) -> None:
        """Fails naming the slip when the parameter `name` has one of these known wrong shapes."""
        shape = self.call(f"listing the parameters of {type(module).__name__}", self.shapes, module).get(name)
        if shape in slips:
            raise CheckFailed(f"{name} has shape {list(shape)}: {slips[shape]}")

    def expect_reference_parameters(self, module: Any, name: str, *args, **kwargs) -> None:
        """The learner's module has the parameters of the reference's `name(*args, **kwargs)`."""
        self.expect_parameters(module, self.reference_shapes(name, *args, **kwargs), name)

    def shared_parameters(self, module: Any, owner: str) -> list[tuple[str, str]]:
        """Pairs of parameter names that are one and the same tensor (one module reused under two names)."""
        first, pairs = {}, []
        for name, tensor in self.call(f"listing the parameters of {owner}", lambda: list(module.parameters)):
            if id(tensor) in first:
                pairs.append((first[id(tensor)], name))
            else:
                first[id(tensor)] = name
        return pairs

    def expect_parameters(self, module: Any, expected: dict[str, tuple[int, ...]], owner: str) -> None:
        """The module's parameters have exactly these names (HuggingFace's) and shapes."""
        try:
            got = self.shapes(module)
        except Exception as exc:
            raise CheckFailed(f"could not list the parameters of {owner}: {exc}") from None
        missing = [n for n in expected if n not in got]
        extra = [n for n in got if n not in expected]
        problems = []
        if missing:
            problems.append("missing " + ", ".join(f"{n} {list(expected[n])}" for n in missing))
        if extra:
            problems.append("unexpected " + ", ".join(f"{n} {list(got[n])}" for n in extra))
        problems += [
            f"{n} has shape {list(got[n])}, expected {list(expected[n])}"
            for n in expected if n in got and got[n] != expected[n]
        ]
        if problems:
            raise CheckFailed(
                f"{owner}'s parameters must carry GPT-2's names and shapes so the real weights load: "
                + "; ".join(problems)
            )

    def random_weights(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        """Random weights that keep activations near unit scale and make every parameter matter."""
        weights = {}
        for name, shape in shapes.items():
            leaf = name.rsplit(".", 1)[-1]
            if len(shape) == 1 and leaf == "weight":  # a norm's scale: near 1, never exactly 1
                w = 1.0 + 0.3 * self.rng.standard_normal(shape)
            elif len(shape) == 1:  # a bias
                w = 0.3 * self.rng.standard_normal(shape)
            elif name.endswith(("wte.weight", "wpe.weight")):
                w = self.rng.standard_normal(shape)
            else:  # a Linear weight [out, in]
                w = self.rng.standard_normal(shape) / np.sqrt(shape[-1])
            weights[name] = np.ascontiguousarray(w, dtype=np.float32)
        return weights

    def load(self, module: Any, weights: dict[str, np.ndarray], owner: str) -> None:
        self.call(f"loading weights into {owner}", module.load_state_dict, weights)

    def paired(self, name: str, *args, **kwargs) -> tuple[Any, Any, dict[str, np.ndarray]]:
        """The learner's and the reference's `name(*args, **kwargs)`, holding the same random weights."""
        reference = self.reference_build(name, *args, **kwargs)
        shapes = self.shapes(reference)
        learner = self.build(self.module_class(name), *args, **kwargs)
        self.expect_parameters(learner, shapes, name)
        weights = self.random_weights(shapes)
        reference.load_state_dict(weights)
        self.load(learner, weights, name)
        return learner, reference, weights

    def normal(self, *shape: int, scale: float = 1.0) -> np.ndarray:
        return (scale * self.rng.standard_normal(shape)).astype(np.float32)

    def token_ids(self, vocab_size: int, *shape: int) -> np.ndarray:
        return self.rng.integers(0, vocab_size, size=shape, dtype=np.int64)

    def tensor(self, array: np.ndarray) -> Any:
        """A MAX tensor of this array on the checks' device."""
        from max.experimental.tensor import Tensor

        value = Tensor.from_dlpack(np.ascontiguousarray(array))
        if self.device == "gpu":
            from max.driver import Accelerator

            value = value.to(Accelerator())
        return value

    # --- judging outputs ------------------------------------------------------------------

    def as_array(self, value: Any, what: str) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return value
        to_numpy = getattr(value, "to_numpy", None)
        if to_numpy is None:
            raise CheckFailed(f"{what} returned a {type(value).__name__}, not a MAX Tensor")
        return np.asarray(self.call(what, to_numpy))  # from any device: MAX copies to the CPU first

    def compare(
        self,
        what: str,
        cases: Iterable[tuple[str, Any]],
        learner: Callable[[Any], Any],
        reference: Callable[[Any], Any],
        mistakes: Sequence[Mistake] = (),
        *,
        probe: Probe | None = None,
        atol: float = 2e-5,
        rtol: float = 2e-5,
        lazy: bool = True,
    ) -> str:
        """Runs learner and reference on every case; fails naming a known mistake when one matches,
        else with `probe`'s next move and what the learner's code printed on that case.

        `cases` are (label, inputs) pairs; the callables take the inputs and return a Tensor or array.
        `lazy`: first run the learner's callable lazily, every case in one MAX graph (see _lazily); pass False
        where it keeps state between calls or reads values midway.
        """
        cases = list(cases)
        atol, rtol = atol * self.slack, rtol * self.slack
        lazily = self._lazily([inputs for _, inputs in cases], learner) if lazy else [None] * len(cases)
        worst, n = 0.0, 0
        for (label, inputs), got in zip(cases, lazily):
            n += 1
            expected = np.asarray(self.as_array(reference(inputs), "the reference"))
            if got is None or got.shape != expected.shape or not _close(got, expected, atol, rtol).all():
                got = self._eagerly(what, label, learner, inputs, expected, mistakes, probe, atol, rtol)
            worst = max(worst, float(np.max(_abs_error(got, expected), initial=0.0)))
        return f"{n} random cases agree with the reference, max abs error {worst:.1e}"

    def _lazily(self, inputs: list[Any], learner: Callable[[Any], Any]) -> list[np.ndarray | None]:
        """The learner's output on each of `inputs`, run lazily: None where that raises.

        MAX's eager mode builds, lowers and interprets one graph per op (~2.5 ms each); under F.lazy() the
        whole forward is one graph, interpreted in one go: 2-3x faster. Every case goes in one graph first (the
        weights enter it once: a quarter faster again than a graph per case); if that raises, one graph per case.
        Code that reads a value midway (to_numpy, item, a branch on a tensor) can't run lazily and raises. Only
        a pass is taken from this run: anything else runs again eagerly, which gives the verdict and what the
        learner's code printed.
        """
        from max.experimental import functional as F

        def run(batch: list[Any]) -> list[np.ndarray]:
            with contextlib.redirect_stdout(io.StringIO()):
                with F.lazy():
                    values = [learner(one) for one in batch]
                return [self.as_array(value, "the lazy run") for value in values]

        try:
            return run(inputs)
        except (Exception, SystemExit):
            if len(inputs) == 1:
                return [None]
        found: list[np.ndarray | None] = []
        for one in inputs:
            try:
                found.extend(run([one]))
            except (Exception, SystemExit):
                found.append(None)
        return found

    def _eagerly(self, what: str, label: str, learner: Callable[[Any], Any], inputs: Any, expected: np.ndarray,
                 mistakes: Sequence[Mistake], probe: Probe | None, atol: float, rtol: float) -> np.ndarray:
        """The learner's output on `inputs`, op by op; fails, diagnosed, unless it agrees with `expected`."""
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            got = self.as_array(self.call(f"{what} on {label}", learner, inputs), what)
        if got.shape != expected.shape:
            raise CheckFailed(
                f"{what} on {label}: the result has shape {list(got.shape)}, expected {list(expected.shape)}"
                + self._diagnose(inputs, got, mistakes, probe, printed.getvalue(), atol, rtol)
            )
        ok = _close(got, expected, atol, rtol)
        if not ok.all():
            raise CheckFailed(
                f"{what} on {label}: {_mismatch_report(got, expected, ok)}"
                + self._diagnose(inputs, got, mistakes, probe, printed.getvalue(), atol, rtol)
            )
        return got

    def _diagnose(self, inputs: Any, got: np.ndarray, mistakes: Sequence[Mistake], probe: Probe | None,
                  printed: str, atol: float, rtol: float) -> str:
        printed = printed.strip()
        shown = "" if not printed else "\nYour code printed on this case:\n" + (
            printed if len(printed) <= PRINTED_TAIL else "…" + printed[-PRINTED_TAIL:])
        for mistake in mistakes:
            wrong = np.asarray(self.as_array(mistake.output(inputs), "a known mistake"))
            if wrong.shape == got.shape and _close(got, wrong, atol * 10, rtol * 10).all():
                return f"\nLikely mistake: {mistake.message}{shown}"
        return (probe or GENERIC_PROBE).advice(inputs) + shown


def _close(got: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    if got.dtype.kind in "iub" or expected.dtype.kind in "iub":
        return got == expected
    both_inf = np.isinf(got) & np.isinf(expected) & (np.sign(got) == np.sign(expected))
    with np.errstate(invalid="ignore", over="ignore"):  # an infinite expected value is matched only exactly
        return both_inf | (np.isfinite(expected) & (np.abs(got - expected) <= atol + rtol * np.abs(expected)))


def _abs_error(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected| in float64: 0 where both hold the same infinity, inf where only one is infinite."""
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    return np.where(np.isinf(got) & (got == expected), 0.0, err)


def _mismatch_report(got: np.ndarray, expected: np.ndarray, ok: np.ndarray) -> str:
    first = tuple(int(i) for i in np.argwhere(~ok)[0])
    if got.dtype.kind in "iub" and expected.dtype.kind in "iub":  # ids or flags: an error size means nothing
        return (f"{int((~ok).sum())} of {ok.size} values differ; "
                f"first at index {list(first)}: got {got[first]}, expected {expected[first]}")
    err = _abs_error(got, expected)
    share = 100.0 * ok.mean()
    return (
        f"max abs error {float(err.max()):.3g}; {share:.1f}% of values within tolerance; "
        f"first mismatch at index {list(first)}: got {got[first]:.6g}, expected {expected[first]:.6g}"
    )


def _args_repr(args: tuple, kwargs: dict) -> str:
    parts = [type(a).__name__ if not isinstance(a, (int, float, str)) else repr(a) for a in args]
    parts += [f"{k}={v!r}" for k, v in kwargs.items()]
    return ", ".join(parts)
