"""Context's part that judges outputs: the learner's against the reference's, case by case, and, when they
differ, the diagnosis: a known mistake whose output matches, else the next move (an intermediate to print)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .failure import CheckFailed
from .lazy import lazy_outputs

PRINTED_TAIL = 2000  # characters of what the learner's code printed on a failing case, kept for the message


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


GENERIC_PROBE = Probe("the shape of each intermediate in your code, line by line, against the lesson's "
                      "'Shapes' table", "as the table says", "print(x.shape)")


class JudgesOutputs:
    """Comparing outputs (needs `slack` and `lazy`, and `call` from RunsCode)."""

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
        `lazy`: the learner's callable runs first in a lazy run (checking/lazy.py); pass False where it keeps
        state between calls or reads values midway.
        """
        cases = list(cases)
        atol, rtol = atol * self.slack, rtol * self.slack
        firsts = lazy_outputs(self, [inputs for _, inputs in cases], learner) if lazy and not self.lazy \
            else [None] * len(cases)
        worst, n = 0.0, 0
        for (label, inputs), got in zip(cases, firsts):
            n += 1
            expected = np.asarray(self.as_array(reference(inputs), "the reference"))
            if got is None or got.shape != expected.shape or not close(got, expected, atol, rtol).all():
                got = self._eagerly(what, label, learner, inputs, expected, mistakes, probe, atol, rtol)
            worst = max(worst, float(np.max(abs_error(got, expected), initial=0.0)))
        return f"{n} random cases agree with the reference, max abs error {worst:.1e}"

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
        ok = close(got, expected, atol, rtol)
        if not ok.all():
            raise CheckFailed(
                f"{what} on {label}: {mismatch_report(got, expected, ok)}"
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
            if wrong.shape == got.shape and close(got, wrong, atol * 10, rtol * 10).all():
                return f"\nLikely mistake: {mistake.message}{shown}"
        return (probe or GENERIC_PROBE).advice(inputs) + shown


def close(got: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """Where `got` agrees with `expected`: exactly for ids and flags, within tolerance for numbers."""
    if got.dtype.kind in "iub" or expected.dtype.kind in "iub":
        return got == expected
    both_inf = np.isinf(got) & np.isinf(expected) & (np.sign(got) == np.sign(expected))
    with np.errstate(invalid="ignore", over="ignore"):  # an infinite expected value is matched only exactly
        return both_inf | (np.isfinite(expected) & (np.abs(got - expected) <= atol + rtol * np.abs(expected)))


def abs_error(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected| in float64: 0 where both hold the same infinity, inf where only one is infinite."""
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    return np.where(np.isinf(got) & (got == expected), 0.0, err)


def mismatch_report(got: np.ndarray, expected: np.ndarray, ok: np.ndarray) -> str:
    first = tuple(int(i) for i in np.argwhere(~ok)[0])
    if got.dtype.kind in "iub" and expected.dtype.kind in "iub":  # ids or flags: an error size means nothing
        return (f"{int((~ok).sum())} of {ok.size} values differ; "
                f"first at index {list(first)}: got {got[first]}, expected {expected[first]}")
    err = abs_error(got, expected)
    share = 100.0 * ok.mean()
    return (
        f"max abs error {float(err.max()):.3g}; {share:.1f}% of values within tolerance; "
        f"first mismatch at index {list(first)}: got {got[first]:.6g}, expected {expected[first]:.6g}"
    )
