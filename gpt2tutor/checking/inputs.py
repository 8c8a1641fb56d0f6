"""Context's part that makes what the checks feed the learner's code: small configurations, random weights that
make every parameter matter, random inputs, and MAX tensors of them on the checks' device."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import by_role


class MakesInputs:
    """Inputs and weights for the checks, drawn from `rng` (needs `device`, and the other parts' `call`,
    `build`, `module_class`, `reference_build`, `expect_parameters`)."""

    def config(self, **overrides) -> Any:
        """A small GPT-2 configuration: fast to run, odd sizes so that mixed-up axes show."""
        GPT2Config = by_role("config").reference().GPT2Config

        sizes = dict(vocab_size=61, n_positions=24, n_embd=32, n_layer=2, n_head=4, n_inner=96)
        sizes.update(overrides)
        return GPT2Config(**sizes)

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
