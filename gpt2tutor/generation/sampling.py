"""How to choose tokens (the settings `generate` takes), and top-p, the one filter the course leaves out.

Choosing a token is the course's own generation step (temperature, top-k, greedy and seeded draws): the
tutor runs the learner's, or the reference's, and adds only the nucleus (top-p) filter below, applied to
the logits before their code samples from them.
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
    z = np.exp(logits[order] - np.max(logits))
    probs = z / z.sum()
    before = np.cumsum(probs) - probs  # probability mass of the tokens ranked above each one
    keep = np.zeros(logits.shape, dtype=bool)
    keep[order[before < top_p]] = True
    return keep
