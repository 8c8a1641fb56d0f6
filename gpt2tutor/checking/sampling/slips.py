"""Naming a sampling slip from the numbers the learner's code computed: while it samples, every uniform draw
and the input of every argmax are kept, and the noisy scores are matched against the usual formulas (the
noise: -log(-log(u)) or a slip of it; the temperature: divided, multiplied, ignored, applied twice; top-k's
mask: which logits it kept). NumPy's refusals of its probabilities are named by calling the learner's code
again with the temperature at 1, or without top-k."""

import contextlib

import numpy as np

from .messages import (
    GAUSSIAN,
    IGNORED,
    INCLUSIVE,
    LARGEST,
    MULTIPLIED,
    NAN_NOISE,
    ONE_PER_ROW,
    PROBABILITIES,
    REVERSED,
    SMALLEST,
    STALE,
    TWICE,
    UNIFORM_RANGE,
    ZERO_FILL,
)
from .stand_ins import LOGITS, FixedLogits, ranked_logits, to_numpy

NOISE_SLIPS = [  # (g(u): what the learner may have added to the scores, from the uniform draws u; what is wrong)
    (lambda u: -np.log(-np.log(u)), None),
    (lambda u: np.log(-np.log(u)), "the noise is log(-log(u)), Gumbel noise with its sign flipped, which favours the "
                                   "likely tokens more than the softmax does: g = -log(-log(u)), a minus outside too"),
    (lambda u: -np.log(u), "the noise is -log(u), one log short: that is exponential noise, not Gumbel noise, and "
                           "its argmax favours the likely tokens: g = -log(-log(u))"),
    (lambda u: np.log(u), "the noise is log(u): not Gumbel noise (and only ever negative); its argmax favours the "
                          "likely tokens: g = -log(-log(u))"),
    (lambda u: u, "the uniform draws were added to the scores as they are: noise between 0 and 1 seldom lets a "
                  "token one logit below the best win. Turn them into Gumbel noise first, g = -log(-log(u))"),
]
TEMPERATURE_SLIPS = [  # (the scores the argmax sees, from the logits z, the noise g and the temperature t; what is wrong)
    (lambda z, g, t: z / t + g, None),
    (lambda z, g, t: z * t + g, MULTIPLIED),
    (lambda z, g, t: z + g, IGNORED),
    (lambda z, g, t: (z + g) / t, "the temperature was ignored in effect: the noise was divided by it along with "
                                  "the logits, and (z + g) / T has the argmax of z + g. Divide the logits only: "
                                  "z / T + g"),
    (lambda z, g, t: z + g / t, "the noise was divided by the temperature instead of the logits: argmax(z + g / T) "
                                "is argmax(T * z + g), the logits multiplied by the temperature in effect. Add the "
                                "noise as it is to z / T"),
    (lambda z, g, t: z / t + g * t, TWICE),
    (lambda z, g, t: z / t * g, "the noise multiplied the scores: Gumbel-max adds it, argmax(z / T + g)"),
]


@contextlib.contextmanager
def recording_draws(ctx):
    """While active, every random draw of the learner's code (uniform or Gaussian) and the input of every argmax are
    kept, so that a wrong distribution can be traced to its formula. Yields the dict they are kept in."""
    from max.experimental import functional as F
    from max.experimental import random

    seen = {"uniform": [], "gaussian": [], "argmax": []}

    def keeping(real, label, kept):
        def wrapped(*args, **kwargs):
            out = real(*args, **kwargs)
            seen[label].append(kept(args, kwargs, out))
            return out

        return wrapped

    with contextlib.ExitStack() as stack:
        for owner, name, label, kept in [
                (random, "uniform", "uniform", lambda a, kw, out: out),
                (random, "gaussian", "gaussian", lambda a, kw, out: out),
                (random, "normal", "gaussian", lambda a, kw, out: out),
                (F, "argmax", "argmax", lambda a, kw, out: a[0] if a else kw.get("x"))]:
            if hasattr(owner, name):
                stack.enter_context(patched(ctx, owner, name, keeping(getattr(owner, name), label, kept)))
        yield seen


def _values(tensor):
    try:
        return np.asarray(to_numpy(tensor), dtype=np.float64)
    except Exception:
        return None


def _fits(got, predicted, where):
    """Whether the argmax's input is `predicted` (up to a shift per row, which no argmax sees) on `where`."""
    with np.errstate(invalid="ignore"):
        ok = where & np.isfinite(predicted)
        if ok.sum() < max(4, where.sum() // 2):
            return False
        diff = np.where(ok, got - predicted, np.nan)
        # a shift per row, where a row has two entries or more to tell it from a different formula
        several = ok.sum(axis=1, keepdims=True) >= 2
        shift = np.where(several, np.nanmedian(np.where(several, diff, 0.0), axis=1, keepdims=True), 0.0)
        close = np.abs(diff - shift) <= 1e-3 + 1e-3 * np.abs(predicted)
    return bool(close[ok].mean() >= 0.99)


def sampling_slip(seen, logits, t, k=None):
    """What the recorded numbers of one draw say went wrong, in the learner's terms; None when they say nothing.
    logits: [rows, vocab], the last position's logits the draw was given; t and k its temperature and top_k."""
    z = np.asarray(logits, dtype=np.float64)
    rows, vocab = z.shape
    if seen["gaussian"] and not seen["uniform"]:
        return GAUSSIAN
    picked = [v for v in (_values(a) for a in seen["argmax"]) if v is not None and v.shape == z.shape]
    if not picked:
        return None
    got = picked[-1]
    if np.isnan(got).any():
        return NAN_NOISE
    draws = [v for v in (_values(u) for u in seen["uniform"]) if v is not None]
    for u in draws:
        if vocab > 1 and u.ndim and u.shape[-1] == 1 and u.size > 1:
            return ONE_PER_ROW.format(shape=list(u.shape))
    draws = [u for u in draws if u.ndim == z.ndim and all(d in (1, w) for d, w in zip(u.shape, z.shape))]
    rank = np.argsort(np.argsort(-z, axis=1), axis=1)  # 0: the row's most likely token
    kept = got != -np.inf  # what the mask left (the noise multiplied into -inf can make +inf: not a mask)
    masking = k is not None and k < vocab
    top = rank < k if masking else np.ones_like(kept)
    fit = formula(got, z, t, draws, kept & top)
    if fit is not None and fit[0] and "multiplied the scores" in fit[0]:
        return fit[0]
    if masking:
        for want, message in [(rank < k, None), (rank < k - 1, INCLUSIVE), (rank >= k - 1, REVERSED),
                              (rank >= k, REVERSED), (rank >= vocab - k, SMALLEST), (rank < 1, LARGEST)]:
            if want.all():  # at k = 1 "everything from the k-th down" is everything: nothing masked, judged below
                continue
            if (kept == want).all():
                if message:
                    return message
                break
        else:
            if not kept.all() or fit is None:
                return None
            _, scores, g = fit  # top-k kept every logit: set to 0, or left as they were?
            with np.errstate(all="ignore"):
                zeroed = scores(np.where(top, z, 0.0), g, t)
            return ZERO_FILL if _fits(got, zeroed, np.ones_like(kept)) else STALE
    if fit is None:
        return None
    if fit[0]:
        return fit[0]
    u = next(iter(draws))
    lo, hi = float(u.min()), float(u.max())
    if u.size >= 1000 and (lo > 0.01 or hi < 0.99):
        return UNIFORM_RANGE.format(lo=lo, hi=hi)
    return None


def formula(got, z, t, draws, where):
    """Which noise and temperature formula the argmax's input `got` follows on `where`, from the uniform draws:
    (what is wrong, or "" when nothing is; the scores function; the noise), or None when none fits."""
    for u in draws:
        u = np.broadcast_to(u, z.shape)
        for noise, noise_slip in NOISE_SLIPS:
            with np.errstate(all="ignore"):
                g = noise(u)
            for scores, temperature_slip in TEMPERATURE_SLIPS:
                with np.errstate(all="ignore"):
                    predicted = scores(z, g, t)
                if _fits(got, predicted, where):
                    return "; and ".join(m for m in (noise_slip, temperature_slip) if m), scores, g
    return None


def numpy_choice_slip(ctx, text, options):
    """NumPy's refusal of the probabilities named: by calling generate_next_token again with the temperature at 1,
    or without top_k, to find the option that breaks them. None when the error is something else."""
    lowered = text.lower()
    if "probabilities contain nan" in lowered:
        if options.get("top_k") is not None:
            return (f"{PROBABILITIES}: they contain NaN. A row whose scores are all -inf has no softmax (0 / 0): "
                    f"the mask hid every logit. {INCLUSIVE}")
        return (f"{PROBABILITIES}: they contain NaN. Compute the softmax as exp(scores - max) / sum, in float64 "
                "(a row of -inf scores, or exp of a large logit, gives NaN)")
    if "probabilities are not non-negative" in lowered:
        return (f"{PROBABILITIES}: some are negative. Probabilities are the softmax of the scores, "
                "exp(scores - max) / sum, never the scores themselves")
    if "probabilities do not sum to 1" not in lowered:
        return None
    logits, _ = ranked_logits(ctx, 8)
    model, ids = FixedLogits(ctx, logits), ctx.tensor(ctx.token_ids(len(LOGITS), 8, 2))

    def works(**changed):
        try:
            ctx.learner.generate_next_token(model, ids, **{**options, **changed})
            return True
        except Exception:
            return False

    if options.get("temperature", 1.0) != 1.0 and works(temperature=1.0):
        return (f"{PROBABILITIES}: they do not sum to 1, and only when the temperature is not 1, so the temperature "
                "divided the probabilities. Divide the logits instead, before the softmax: softmax(logits / T) is "
                "the tempered distribution, and the softmax's own division makes it sum to 1")
    if options.get("top_k") is not None and works(top_k=None):
        return (f"{PROBABILITIES}: they do not sum to 1, and only with top_k: the probabilities outside the top k "
                "were zeroed after the softmax, so the rest sum to less than 1. Set those logits to -inf before the "
                "softmax (or divide what is left by its sum)")
    return (f"{PROBABILITIES}: they do not sum to 1 (it checks to about 1e-8 in float64). Divide exp(scores - max) "
            "by its row's sum, in float64, after every change to the scores")


@contextlib.contextmanager
def patched(ctx, owner, name, replacement):
    """`owner.name` is `replacement` for a while, and so is any name the learner's module gave the original."""
    real = getattr(owner, name)
    targets = [(owner, name), *[(ctx.learner, n) for n, v in vars(ctx.learner).items() if v is real]]
    for where, attr in targets:
        setattr(where, attr, replacement)
    try:
        yield
    finally:
        for where, attr in targets:
            setattr(where, attr, real)


@contextlib.contextmanager
def top_k_out_of_order(ctx):
    """While active, F.top_k (and the learner's own name for it) returns the k largest values and their indices
    rotated by one place, the largest last: an order MAX's documentation allows, since it promises none."""
    from max.experimental import functional as F

    real = F.top_k

    def rotated(x, k, axis=-1):
        values, indices = real(x, k, axis=axis)
        if k < 2:
            return values, indices

        def rotate(t):
            first, rest = F.split(t, [1, k - 1], axis=axis)
            return F.concat([rest, first], axis=axis)

        return rotate(values), rotate(indices)

    with patched(ctx, F, "top_k", rotated):
        yield
