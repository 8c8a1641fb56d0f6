"""How a check module declares its checks: `checks = StepChecks()`, then `@checks.structure(...)` and
`@checks.behaviour(...)` on functions that take a Context."""

from __future__ import annotations

from collections.abc import Callable

from .lazy import CheckFn, lazy_first


class StepChecks:
    """The checks one step declares, in the order they are registered."""

    def __init__(self) -> None:
        self.structure_checks: list[tuple[str, CheckFn]] = []
        self.behaviour_checks: list[tuple[str, CheckFn]] = []

    def structure(self, name: str) -> Callable[[CheckFn], CheckFn]:
        return self._register(self.structure_checks, name)

    def behaviour(self, name: str, *, lazy_first: bool = False) -> Callable[[CheckFn], CheckFn]:
        """`lazy_first`: the whole check runs first as a lazy run (checking/lazy.py)."""
        return self._register(self.behaviour_checks, name, _lazy_first if lazy_first else None)

    @staticmethod
    def _register(into: list, name: str, wrap: Callable[[CheckFn], CheckFn] | None = None
                  ) -> Callable[[CheckFn], CheckFn]:
        def add(fn: CheckFn) -> CheckFn:
            into.append((name, wrap(fn) if wrap else fn))
            return fn

        return add


_lazy_first = lazy_first  # the keyword `lazy_first` hides the function inside `behaviour`
