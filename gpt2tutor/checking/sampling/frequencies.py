"""Judging sampled tokens by their frequencies: within what chance allows of softmax(logits / temperature),
else the slip whose distribution they fit."""

import math

import numpy as np

from ..failure import CheckFailed
from ..numpy_gpt2 import softmax
from .messages import (
    FIRST_POSITION,
    GREEDY_EVERY_TIME,
    IGNORED,
    INCLUSIVE,
    LARGEST,
    MULTIPLIED,
    NO_EFFECT,
    REVERSED,
    TWICE,
    ZERO_FILL,
)
from .stand_ins import LOGITS


def judge_frequencies(what, ranks, expected, alternatives, slip=None):
    """Passes when the rank frequencies are within a bound a correct sampler exceeds with probability < 1e-6.
    Else names the mistake: `slip()` first (what the recorded numbers say), then the alternative distribution
    (message, probabilities by rank) closest to the frequencies, if chance allows it."""
    n, vocab = len(ranks), len(expected)
    freq = np.bincount(ranks, minlength=vocab) / n
    # Bretagnolle-Huber-Carol: P(|freq - p|_1 >= eps) <= 2^vocab * exp(-n eps^2 / 2)
    bound = frequency_bound(n, vocab)
    distance = float(np.abs(freq - expected).sum())
    shown = f"{np.round(freq, 3).tolist()}, expected {np.round(expected, 3).tolist()}"
    if distance <= bound:
        return f"{n} samples: frequencies by rank {shown} (L1 distance {distance:.3f} <= {bound:.3f})"
    named = (slip() if slip is not None else None) or closest(freq, alternatives, bound)
    raise CheckFailed(f"{what}: the {n} sampled tokens do not follow softmax(logits / temperature). Frequencies of "
                      f"the most likely token, the next, and so on: {shown} (L1 distance {distance:.3f}, "
                      f"more than the {bound:.3f} chance allows)" + (f"\nLikely mistake: {named}" if named else ""))


def frequency_bound(n, vocab):
    return math.sqrt(2 * (vocab * math.log(2) + math.log(1e6)) / n)


def closest(freq, alternatives, bound):
    """The message of the alternative distribution nearest to the frequencies, when within the bound."""
    fits = sorted((float(np.abs(freq - p).sum()), i) for i, (_, p) in enumerate(alternatives))
    return alternatives[fits[0][1]][0] if fits and fits[0][0] <= bound else None


def tempered(scores, t, k=None):
    """The distribution by rank of softmax(scores / t), restricted to the k most likely when k is given."""
    return softmax(scores / t) if k is None else restricted(scores / t, k)


def restricted(scores, k):
    """softmax over the first k scores (the k most likely), zero for the rest."""
    p = softmax(scores[:k])
    return np.concatenate([p, np.zeros(len(scores) - k)])


def temperature_alternatives(t, k=None):
    """The temperature slips' distributions by rank, for LOGITS at temperature t (and top-k)."""
    found = [(MULTIPLIED, tempered(LOGITS * t * t, t, k)), (IGNORED, tempered(LOGITS, 1.0, k)),
             (TWICE, tempered(LOGITS / t, t, k)), (GREEDY_EVERY_TIME, np.eye(len(LOGITS))[0])]
    return found + ([(FIRST_POSITION, softmax(LOGITS[::-1] / t))] if k is None else [])


def top_k_alternatives(t, k):
    """The threshold slips' distributions by rank, for LOGITS at temperature t with top_k=k."""
    z, vocab = LOGITS / t, len(LOGITS)
    kept_below = np.concatenate([np.zeros(k - 1), softmax(z[k - 1:])])
    return [(INCLUSIVE, restricted(z, k - 1)) if k > 1 else (INCLUSIVE, np.full(vocab, 1 / vocab)),
            (ZERO_FILL, softmax(np.where(np.arange(vocab) < k, z, 0.0))), (NO_EFFECT, softmax(z)),
            (REVERSED, kept_below), (LARGEST, np.eye(vocab)[0])]
