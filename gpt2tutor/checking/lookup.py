"""Context's part that looks up the names the learner's file must define, each refusal saying what is asked."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from .failure import CheckFailed


class LearnerNames:
    """Finding the learner's classes and functions (needs `learner`, `step`, and `build` from RunsCode)."""

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

    @staticmethod
    def expect_parameters_named(fn: Callable, label: str, params: Sequence[str]) -> None:
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
