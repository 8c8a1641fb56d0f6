"""Choosing the next token from the last position's logits, on the host, for the reference model.

The order is HuggingFace's: temperature, then top-k, then top-p (nucleus), then a draw from the
softmax of what is left. A seeded numpy Generator makes the same seed give the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SamplingSettings:
    greedy: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None


def nucleus_mask(logits: np.ndarray, top_p: float) -> np.ndarray:
    """True for the smallest set of most likely tokens whose probabilities sum to >= top_p.

    logits: [vocab] (already divided by the temperature). The most likely token is always kept.
    """
    order = np.argsort(-logits, kind="stable")  # most likely first
    probs = _softmax(logits[order])
    before = np.cumsum(probs) - probs  # probability mass of the tokens ranked above each one
    keep = np.zeros(logits.shape, dtype=bool)
    keep[order[before < top_p]] = True
    return keep


class Sampler:
    def __init__(self, settings: SamplingSettings):
        self.settings = settings
        self._rng = np.random.default_rng(settings.seed)

    def __call__(self, logits: np.ndarray) -> int:
        """logits: [vocab] float32 -> one token id."""
        s = self.settings
        if s.greedy:
            return int(np.argmax(logits))
        scores = logits.astype(np.float64) / s.temperature
        if s.top_k is not None and s.top_k < scores.shape[-1]:
            kth_best = np.partition(scores, -s.top_k)[-s.top_k]
            scores = np.where(scores < kth_best, -np.inf, scores)
        if s.top_p is not None and s.top_p < 1.0:
            scores = np.where(nucleus_mask(scores, s.top_p), scores, -np.inf)
        probs = _softmax(scores)
        return int(self._rng.choice(probs.shape[-1], p=probs))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - np.max(x))
    return z / z.sum()
