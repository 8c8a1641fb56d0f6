"""Lazy first, eager verdict: the one way the checks run the learner's code fast.

MAX's eager mode builds, lowers and interprets one graph per op; under F.lazy() a whole forward is one graph,
interpreted in one go. So the learner's code first runs in a *lazy run*, where `Context.forward` builds its
calls lazily and what the code prints is swallowed. Only a pass is taken from a lazy run: anything else (a
wrong answer, an error, or code that reads a value midway, which can't run lazily) runs the same work again
eagerly, and that run gives the verdict and shows what the learner's code printed.

There are two sizes of lazy run, and a check author picks one:
- a whole check, registered with `checks.behaviour(..., lazy_first=True)`: its eager run starts from the same
  random state (NumPy's and MAX's seed), so it sees the same inputs;
- `Context.compare`'s first pass, by default: every case's learner callable in one lazy graph (the weights
  enter it once), else one graph per case; each case that fails runs again eagerly. Inside a lazy-first check
  the check's own run is the lazy run, and compare adds none. Pass `lazy=False` where the callable keeps
  state between calls or reads values midway.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# `ctx` below is the check's Context (checking/context.py), which builds on this module: not imported here
Context = Any
CheckFn = Callable[[Any], "str | None"]  # a check: it takes the Context, returns a detail for its line or None


@contextlib.contextmanager
def lazy_run(ctx: Context) -> Iterator[None]:
    """The learner's code in a lazy run: ctx.forward builds lazily, and nothing printed is shown."""
    ctx.lazy = True
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        ctx.lazy = False


def passed_lazily(ctx: Context, run: Callable[[], Any]) -> tuple[bool, Any]:
    """(True, what `run()` returned) when it ran through in a lazy run, else (False, None)."""
    try:
        with lazy_run(ctx):
            return True, run()
    except (Exception, SystemExit):
        return False, None


def lazy_first(check: CheckFn) -> CheckFn:
    """`check` run in a lazy run first; when that does not pass, again eagerly from the same random state."""

    def run(ctx: Context) -> str | None:
        from max.experimental import realization_context

        rng_state, seed = ctx.rng.bit_generator.state, realization_context.seed().item()
        ran, result = passed_lazily(ctx, lambda: check(ctx))
        if ran:
            return result
        ctx.rng.bit_generator.state = rng_state
        realization_context.set_seed(seed)
        return check(ctx)

    return run


def lazy_outputs(ctx: Context, inputs: list[Any], learner: Callable[[Any], Any]) -> list[np.ndarray | None]:
    """compare's lazy run: the learner's output on each of `inputs`, None where it did not run lazily. Every case
    in one graph first; if that raises, one graph per case."""
    from max.experimental import functional as F

    def batch(some: list[Any]) -> list[np.ndarray]:
        with F.lazy():
            values = [learner(one) for one in some]
        return [ctx.as_array(value, "the lazy run") for value in values]

    ran, found = passed_lazily(ctx, lambda: batch(inputs))
    if ran:
        return found
    if len(inputs) == 1:
        return [None]
    outputs: list[np.ndarray | None] = []
    for one in inputs:
        ran, found = passed_lazily(ctx, lambda one=one: batch([one]))
        outputs.extend(found if ran else [None])
    return outputs
