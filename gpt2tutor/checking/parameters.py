"""A module's parameters: their shapes (the one helper that reads them), and judging the learner's against the
reference's, so that GPT-2's real weights load by name."""

from __future__ import annotations

from typing import Any

from .failure import CheckFailed


def parameter_shapes(module: Any) -> dict[str, tuple[int, ...]]:
    """A MAX module's parameter names and shapes, in its own order."""
    return {name: tuple(int(d) for d in t.shape) for name, t in module.parameters}


class ParameterChecks:
    """Context's part that judges a module's parameters (it runs code through `call`, builds via `reference_build`)."""

    shapes = staticmethod(parameter_shapes)

    def reference_shapes(self, name: str, *args, **kwargs) -> dict[str, tuple[int, ...]]:
        """The parameter names and shapes of the reference's `name(*args, **kwargs)`."""
        return parameter_shapes(self.reference_build(name, *args, **kwargs))

    def refuse_known_shapes(self, module: Any, name: str, slips: dict[tuple[int, ...], str]) -> None:
        """Fails naming the slip when the parameter `name` has one of these known wrong shapes."""
        shape = self.call(f"listing the parameters of {type(module).__name__}", parameter_shapes, module).get(name)
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

    @staticmethod
    def expect_parameters(module: Any, expected: dict[str, tuple[int, ...]], owner: str) -> None:
        """The module's parameters have exactly these names (HuggingFace's) and shapes."""
        try:
            got = parameter_shapes(module)
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
