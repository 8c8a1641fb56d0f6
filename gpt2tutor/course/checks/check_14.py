"""Step 14 checks: generate_next_token and generate_tokens, through a model that keeps a KV cache.

Sampling cannot be compared token for token with the reference (the random draws differ), so it is
judged by behaviour: greedy decoding equals the reference, seeds repeat, top-k bounds the choice, and
the frequencies of thousands of samples from stand-in models with fixed logits match
softmax(logits / temperature). The stand-in language model keeps a cache as step 13's does, so
generate_tokens must give it the prompt once and then each new token alone.

When the frequencies are off, the check names the slip from the numbers the learner's code computed: while
it samples, every uniform draw and the input of every argmax are kept, and the noisy scores are matched
against the usual formulas (the noise: -log(-log(u)) or a slip of it; the temperature: divided, multiplied,
ignored, applied twice; top-k's mask: which logits it kept). Code that samples otherwise (NumPy, inverse
CDF) is judged by which slip's distribution its frequencies fit, and NumPy's refusals of its probabilities
are named by calling it again with the temperature at 1, or without top-k.
"""

import contextlib
import inspect
import math

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks
from gpt2tutor.checking.numpy_gpt2 import softmax

checks = StepChecks()

OPTIONS = {"temperature": 1.0, "top_k": None, "do_sample": True, "seed": None}
SAMPLES = 2000  # rows of one batch: one call draws this many tokens
LOGITS = np.array([2.0, 1.0, 0.5, 0.0, -1.0, -2.0])  # by rank, most likely first
GREEDY_EVERY_TIME = "every token was the most likely one: with do_sample=True, draw from the distribution"
FAR_FROM_ZERO = -96.0  # added to LOGITS for the bfloat16 case: GPT-2's logits sit far below 0 (bfloat16 steps 0.5 here)
TRUSTED_ORDER = ("the k-th largest logit was read from a fixed column of F.top_k's values, which MAX does not "
                 "promise to sort: take the smallest of the k values, values.min(axis=-1), as the threshold")
LAST_LOGITS = Probe("the last position's logits", lambda case: [case[1].shape[0], case[2]],
                    "print(last.shape, last.to_numpy().argmax(-1))")

# --- the sampling slips, each in its own words ---------------------------------------------------

MULTIPLIED = "the logits were multiplied by the temperature: divide them, logits / temperature"
IGNORED = "the temperature was ignored: divide the logits by it (logits / temperature) before the noise or the softmax"
FIRST_POSITION = "the first position's logits were used: sample from the last position, logits[:, -1, :]"
TWICE = ("the temperature was applied twice: dividing the logits by T and multiplying the noise by T each do the "
         "whole job (argmax(z / T + g) is argmax(z + T * g)), so doing both samples softmax(z / T^2). Do one of them")
SMALLEST = ("top-k kept the k smallest logits: keep the k largest (F.top_k returns the largest) and set every logit "
            "below the k-th largest to -inf")
INCLUSIVE = ("top-k also masked the k-th largest logit itself (`scores <= kth` set to -inf, or only `scores > kth` "
             "kept), so top_k=k keeps k - 1 tokens and top_k=1 none at all. Mask only the logits below the k-th "
             "largest: F.where(scores < kth, float(\"-inf\"), scores)")
REVERSED = ("top-k's comparison points the wrong way: the logits above the k-th largest became -inf and the ones "
            "below it were kept. Mask the ones below it: F.where(scores < kth, float(\"-inf\"), scores)")
LARGEST = ("top-k kept only the most likely token: the threshold is the k-th largest logit, the smallest of "
           "F.top_k's k values (values.min(axis=-1)), not the largest (values.max(axis=-1), or values[:, 0])")
ZERO_FILL = ("the logits outside the top k were set to 0, an ordinary score (e^0 = 1), not an impossible one, so "
             "every token kept a chance: set them to float(\"-inf\")")
STALE = ("top-k had no effect: the logits outside the top k reached the argmax unmasked. The masked scores are "
         "not the ones the noise was added to: sample from what F.where returned")
NO_EFFECT = ("top-k had no effect: tokens outside the k most likely were drawn in their softmax proportions. "
             "Either the comparison points the wrong way (with top_k=1, `scores > kth` masks nothing), or the "
             "masked scores are not the ones sampled: sample from what F.where returned")
GAUSSIAN = ("the noise is Gaussian (random.gaussian): the argmax of logits plus Gaussian noise is not a sample from "
            "their softmax. Gumbel-max needs Gumbel noise: g = -log(-log(u)), u uniform in (0, 1)")
NAN_NOISE = ("the noise is NaN: log(u) is negative for u in (0, 1), so log(log(u)) has no value, and the argmax "
             "of NaN scores is index 0, whatever the seed. Gumbel noise negates the inner log first: "
             "g = -log(-log(u))")
ONE_PER_ROW = ("there is one noise value per row (the uniform draw has shape {shape}): every logit of a row gets "
               "the same noise, so the argmax is the greedy pick. Draw one per logit: random.uniform(scores.shape, "
               "...)")
UNIFORM_RANGE = ("the uniform draws lie between {lo:.3g} and {hi:.3g}: Gumbel noise -log(-log(u)) needs u over all of "
                 "(0, 1), range=(1e-10, 1.0)")
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
PROBABILITIES = "NumPy's choice refused the probabilities it was given"


def to_numpy(value):
    return value.to_numpy() if hasattr(value, "to_numpy") else np.asarray(value)


class FixedLogits:
    """A stand-in model: the same logits [batch, seq, vocab] whatever the ids (in `dtype`, float32 by default)."""

    def __init__(self, ctx, logits, dtype=None):
        self.logits = np.ascontiguousarray(logits, dtype=np.float32)
        self.output = ctx.tensor(self.logits)
        if dtype is not None:
            self.output = self.output.cast(dtype)

    def __call__(self, input_ids):
        return self.output


class PrefixSumModel:
    """A stand-in language model with a cache: position t's logits are a table row picked by the sum of every
    id fed so far up to t (earlier calls included), so every new token changes what comes next. It records
    what each call was given; reset() empties the cache."""

    def __init__(self, ctx, vocab_size, favourite_boost):
        self.ctx = ctx
        self.table = ctx.normal(vocab_size, vocab_size, scale=0.3)
        # each row's favourite is never its own index, so a token fed back always moves the sum on
        favourite = (np.arange(vocab_size) + ctx.rng.integers(1, vocab_size, vocab_size)) % vocab_size
        self.table[np.arange(vocab_size), favourite] += favourite_boost
        self.reset()

    def reset(self):
        self.sums = None  # [batch, 1]: the sum of the ids seen so far
        self.fed = []  # the ids of each call

    def __call__(self, input_ids):
        ids = to_numpy(input_ids)
        if ids.ndim != 2 or (self.sums is not None and ids.shape[0] != self.sums.shape[0]):
            raise CheckFailed(f"the model was called with ids of shape {list(ids.shape)}; after the prompt, "
                              "each call takes [batch, 1]: the token just picked for every sequence")
        self.fed.append(ids.copy())
        before = self.sums if self.sums is not None else np.zeros((ids.shape[0], 1), dtype=np.int64)
        running = before + np.cumsum(ids, axis=1)
        self.sums = running[:, -1:]
        return self.ctx.tensor(self.table[running % len(self.table)])


def expect_cache_use(what, model, prompt, got):
    """The calls a cached model must see: the prompt, then each picked token alone, in order."""
    fed, new = model.fed, got.shape[1] - prompt.shape[1]
    if not fed or fed[0].shape != prompt.shape or (fed[0] != prompt).any():
        raise CheckFailed(f"{what}: the model's first call should get the whole prompt {list(prompt.shape)}, "
                          f"it got {list(fed[0].shape) if fed else 'nothing'}")
    for i, ids in enumerate(fed[1:], start=1):
        if ids.shape[1] != 1:
            raise CheckFailed(f"{what}: call {i + 1} of the model got {ids.shape[1]} tokens. The model keeps a KV "
                              "cache now (step 13): it has seen the prompt and every earlier token, so after the "
                              "first call pass only the token just picked, [batch, 1] (e.g. `input_ids = "
                              "next_token` for the next call, while you keep the whole sequence to return)")
        if i <= new and (ids[:, 0] != got[:, prompt.shape[1] + i - 1]).any():
            raise CheckFailed(f"{what}: call {i + 1} of the model got other ids than the token picked before "
                              "it: feed back the token just chosen, so the cache holds the sequence you return")
    if len(fed) != new:
        raise CheckFailed(f"{what}: the model was called {len(fed)} times for {new} new tokens: once for the "
                          "prompt (which predicts the first new token), then once per later token")


def small_gpt2(ctx):
    """The reference GPT2LMHeadModel, small, with random weights."""
    from max.experimental import functional as F

    from ..reference.step_11 import GPT2LMHeadModel

    cfg = ctx.config()
    with F.lazy():
        model = GPT2LMHeadModel(cfg)
    model.load_state_dict(ctx.random_weights({n: tuple(int(d) for d in t.shape) for n, t in model.parameters}))
    return model, cfg


def next_tokens(ctx, value, logits_shape):
    """The learner's token ids as [batch, 1]; [batch] is accepted too."""
    batch, seq, vocab = logits_shape
    got = ctx.as_array(value, "generate_next_token")
    if got.shape not in ((batch, 1), (batch,)):
        hint = ""
        if vocab in got.shape:
            hint = ": the argmax or sample ran over the wrong axis; it must choose among the vocabulary, the last axis"
        elif seq > 1 and seq in got.shape:
            hint = ": a token came out for every position; only the last position's logits predict the next token"
        raise CheckFailed(f"generate_next_token returned shape {list(got.shape)} for logits of shape "
                          f"{[batch, seq, vocab]}: it should give one token id per sequence, [batch, 1] "
                          f"([batch] is accepted too){hint}")
    if got.dtype != np.int64:
        raise CheckFailed(f"generate_next_token returned {got.dtype} values: token ids are int64 "
                          "(`.cast(DType.int64)`)")
    if got.min() < 0 or got.max() >= vocab:
        raise CheckFailed(f"generate_next_token returned token id {got.max() if got.max() >= vocab else got.min()}, "
                          f"outside the vocabulary of these logits (0 .. {vocab - 1}): pick an index along the last "
                          "axis of the last position's logits")
    return got.reshape(batch, 1)


def sequences(ctx, value, batch, seq, new):
    got = ctx.as_array(value, "generate_tokens")
    if got.shape != (batch, seq + new):
        hint = " (only the new tokens? keep the prompt in front)" if got.shape == (batch, new) else ""
        raise CheckFailed(f"generate_tokens returned shape {list(got.shape)} for a prompt of shape {[batch, seq]} and "
                          f"max_new_tokens={new}: expected [batch, seq + max_new_tokens] = {[batch, seq + new]}{hint}")
    if got.dtype != np.int64:
        raise CheckFailed(f"generate_tokens returned {got.dtype} values: token ids are int64")
    return got


def ranked_logits(ctx, rows):
    """[rows, 2, vocab] logits holding LOGITS in a random order per row (the first position reversed),
    and each row's rank of every token id (0 = the most likely)."""
    vocab = len(LOGITS)
    order = np.argsort(ctx.rng.random((rows, vocab)), axis=1)  # order[r, j]: the token with rank j in row r
    logits = np.empty((rows, 2, vocab))
    np.put_along_axis(logits[:, 1], order, np.broadcast_to(LOGITS, (rows, vocab)), axis=1)
    np.put_along_axis(logits[:, 0], order, np.broadcast_to(LOGITS[::-1], (rows, vocab)), axis=1)
    return logits, np.argsort(order, axis=1)


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


def judged_call(ctx, what, fn, *args, **options):
    """ctx.forward, with NumPy's refusals of the probabilities named (in an eager run: a lazy-first run that fails
    runs again eagerly anyway)."""
    try:
        return ctx.forward(what, fn, *args, **options)
    except CheckFailed as failed:
        named = None if ctx.lazy else numpy_choice_slip(ctx, str(failed), options)
        if named:
            raise CheckFailed(f"{what}: {named}\n{failed}") from None
        raise


def restricted(scores, k):
    """softmax over the first k scores (the k most likely), zero for the rest."""
    p = softmax(scores[:k])
    return np.concatenate([p, np.zeros(len(scores) - k)])


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


def draw(ctx, model, ids, vocab, **options):
    """The learner's generate_next_token(model, ids, **options) as [batch, 1] int64 ids."""
    what = "generate_next_token(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")"
    out = judged_call(ctx, what, ctx.learner.generate_next_token, model, ctx.tensor(ids), **options)
    return next_tokens(ctx, out, (*ids.shape, vocab))


def ranks_of(tokens, rank):
    """Each sampled token's rank in its row (tokens: [rows, 1])."""
    return np.take_along_axis(rank, tokens, axis=1)[:, 0]


def run_tokens(ctx, model, prompt, new, **options):
    """The learner's generate_tokens(model, prompt, new, **options), checked for shape, dtype and prompt."""
    what = f"generate_tokens(max_new_tokens={new}, " + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")"
    if hasattr(model, "reset"):
        model.reset()
    out = judged_call(ctx, what, ctx.learner.generate_tokens, model, ctx.tensor(prompt), new, **options)
    got = sequences(ctx, out, *prompt.shape, new)
    if (got[:, : prompt.shape[1]] != prompt).any():
        raise CheckFailed(f"{what} changed the prompt: the first seq columns must be input_ids as given, "
                          "with the new tokens after them")
    if hasattr(model, "fed"):
        expect_cache_use(what, model, prompt, got)
    return got


def reference_tokens(ctx, model, prompt, new, **options):
    if hasattr(model, "reset"):
        model.reset()
    return to_numpy(ctx.reference.generate_tokens(model, ctx.tensor(prompt), new, **options))


# --- the checks ---------------------------------------------------------------------------------

@checks.structure("generate_next_token and generate_tokens take the model, the ids and the sampling options")
def structure(ctx):
    for name, leading in [("generate_next_token", ["model", "input_ids"]),
                          ("generate_tokens", ["model", "input_ids", "max_new_tokens"])]:
        fn = ctx.function(name, [*leading, *OPTIONS])
        params = inspect.signature(fn).parameters
        for option, default in OPTIONS.items():
            if option in params and params[option].default != default:
                shown = "no default" if params[option].default is inspect.Parameter.empty else \
                    f"{params[option].default!r}"
                raise CheckFailed(f"`{name}`'s `{option}` should default to {default!r} (it has {shown})")


@checks.behaviour("generate_next_token(do_sample=False) picks the last position's highest logit", lazy_first=True)
def greedy(ctx):
    fixed = FixedLogits(ctx, ctx.normal(64, 3, 11, scale=0.5))
    ids = ctx.token_ids(11, 64, 3)
    if (draw(ctx, fixed, ids, 11, do_sample=False) != draw(ctx, fixed, ids, 11, do_sample=False)).any():
        raise CheckFailed("two calls with do_sample=False gave different tokens for the same logits: greedy decoding "
                          "must not sample; take the argmax of the last position's logits")
    model, cfg = small_gpt2(ctx)
    cases = [("a stand-in model's logits [64, 3, 11]", (fixed, ids, 11)),
             ("a small GPT-2 on input_ids [2, 5]", (model, ctx.token_ids(cfg.vocab_size, 2, 5), cfg.vocab_size))]

    def first_position(case):
        model, ids, _ = case
        return np.argmax(to_numpy(model(ctx.tensor(ids)))[:, 0], axis=-1)[:, None]

    mistakes = [Mistake("the first position's logits were used: the next token is predicted by the last position, "
                        "logits[:, -1, :]", first_position)]
    return ctx.compare("generate_next_token(do_sample=False)", cases,
                       lambda case: draw(ctx, *case, do_sample=False),
                       lambda case: ctx.forward("the reference", ctx.reference.generate_next_token, case[0],
                                                ctx.tensor(case[1]), do_sample=False),
                       mistakes, probe=LAST_LOGITS, lazy=False)  # draw() reads the ids (lazy_first runs it lazily)


@checks.behaviour("the same seed gives the same tokens, another seed other tokens")
def seeds(ctx):
    fixed = FixedLogits(ctx, ctx.normal(64, 2, 11, scale=0.5))
    ids = ctx.token_ids(11, 64, 2)
    seed = int(ctx.rng.integers(1, 10_000))
    with recording_draws(ctx) as seen:
        first = draw(ctx, fixed, ids, 11, seed=seed)
    again, other = (draw(ctx, fixed, ids, 11, seed=s) for s in (seed, seed + 1))
    if (first == other).all():
        slip = sampling_slip(seen, fixed.logits[:, -1], 1.0)
        if slip in (NAN_NOISE, GAUSSIAN) or (slip or "").startswith("there is one noise value per row"):
            raise CheckFailed(f"seeds {seed} and {seed + 1} gave the same 64 tokens: {slip}")
    if (first == np.argmax(fixed.logits[:, -1], axis=-1)[:, None]).all() and (first == other).all():
        raise CheckFailed(GREEDY_EVERY_TIME)
    if (first != again).any():
        raise CheckFailed(f"two calls with seed={seed} gave different tokens: seed the random draw with `seed` "
                          "(max.experimental.random.set_seed(seed), or a numpy Generator made from it), so that a "
                          "seed repeats its sample")
    if (first == other).all():
        raise CheckFailed(f"seeds {seed} and {seed + 1} gave the same 64 tokens: the seed must drive the random "
                          "draw, so that another seed gives another sample")
    return f"seed {seed} repeated its 64 tokens; seed {seed + 1} gave others"


@checks.behaviour("top_k=1 always picks the most likely token")
def top_1(ctx):
    spread_of_top_1(ctx)
    fixed = FixedLogits(ctx, ctx.normal(16, 3, 11))
    cases = [(f"temperature={t}", (ctx.token_ids(11, 16, 3), t)) for t in (0.7, 1.5)]

    def pick(choose, position=-1):
        return lambda case: choose(fixed.logits[:, position], axis=-1)[:, None]

    mistakes = [Mistake(SMALLEST, pick(np.argmin)), Mistake(FIRST_POSITION, pick(np.argmax, 0))]
    seed = int(ctx.rng.integers(1, 10_000))
    return ctx.compare(
        "generate_next_token(top_k=1)", cases,
        lambda case: draw(ctx, fixed, case[0], 11, top_k=1, temperature=case[1], seed=seed),
        lambda case: ctx.reference.generate_next_token(fixed, ctx.tensor(case[0]), top_k=1, temperature=case[1],
                                                       seed=seed),
        mistakes, probe=Probe("the scores after top-k: -inf everywhere but each row's largest", lambda case: [16, 11],
                              "print(scores.to_numpy()[:2])"), lazy=False)


def spread_of_top_1(ctx):
    """top_k=1 on SAMPLES rows: a draw that is not always the most likely token names its threshold slip (a wrong
    pick that is the same every time is left to the comparison with the reference, which names those)."""
    logits, rank = ranked_logits(ctx, SAMPLES)
    ids = ctx.token_ids(len(LOGITS), SAMPLES, 2)
    with recording_draws(ctx) as seen:
        tokens = draw(ctx, FixedLogits(ctx, logits), ids, len(LOGITS), top_k=1, seed=int(ctx.rng.integers(1, 10_000)))
    ranks = ranks_of(tokens, rank)
    if (ranks == 0).all() or len(np.unique(ranks)) == 1:
        return
    slip = sampling_slip(seen, logits[:, -1], 1.0, 1)
    if slip == STALE:  # at top_k=1 a reversed comparison masks nothing too: top_k=3 tells them apart
        with recording_draws(ctx) as seen:
            draw(ctx, FixedLogits(ctx, logits), ids, len(LOGITS), top_k=3, seed=int(ctx.rng.integers(1, 10_000)))
        slip = REVERSED if sampling_slip(seen, logits[:, -1], 1.0, 3) == REVERSED else STALE
    freq = np.bincount(ranks, minlength=len(LOGITS)) / len(ranks)
    named = slip or closest(freq, top_k_alternatives(1.0, 1), frequency_bound(len(ranks), len(LOGITS)))
    raise CheckFailed(f"generate_next_token(top_k=1): {int((ranks != 0).sum())} of {SAMPLES} draws were not the most "
                      f"likely token (frequencies by rank {np.round(freq, 3).tolist()}): top_k=1 leaves only that one "
                      "to draw" + (f"\nLikely mistake: {named}" if named else ""))


@checks.behaviour("sampled tokens follow softmax(logits / temperature)")
def temperature(ctx):
    t = 2.0
    logits, rank = ranked_logits(ctx, SAMPLES)
    with recording_draws(ctx) as seen:
        tokens = draw(ctx, FixedLogits(ctx, logits), ctx.token_ids(len(LOGITS), SAMPLES, 2), len(LOGITS),
                      temperature=t, seed=int(ctx.rng.integers(1, 10_000)))
    return judge_frequencies(f"generate_next_token(temperature={t})", ranks_of(tokens, rank),
                             softmax(LOGITS / t), temperature_alternatives(t),
                             slip=lambda: sampling_slip(seen, logits[:, -1], t))


@checks.behaviour("top_k keeps only the k most likely tokens, in their softmax proportions")
def top_k(ctx):
    k, t = 3, 0.5
    logits, rank = ranked_logits(ctx, SAMPLES)
    with recording_draws(ctx) as seen:
        tokens = draw(ctx, FixedLogits(ctx, logits), ctx.token_ids(len(LOGITS), SAMPLES, 2), len(LOGITS),
                      top_k=k, temperature=t, seed=int(ctx.rng.integers(1, 10_000)))
    ranks = ranks_of(tokens, rank)
    freq = np.bincount(ranks, minlength=len(LOGITS)) / len(ranks)
    if (ranks >= len(LOGITS) - k).all():
        raise CheckFailed(f"with top_k={k} only the {k} smallest logits were ever sampled: {SMALLEST}")
    outside = int((ranks >= k).sum())
    if outside:
        if (ranks >= k - 1).all():
            found = REVERSED
        else:
            candidates = [alt for alt in top_k_alternatives(t, k) if alt[0] in (ZERO_FILL, NO_EFFECT, REVERSED)]
            found = sampling_slip(seen, logits[:, -1], t, k) or \
                closest(freq, candidates, frequency_bound(len(ranks), len(LOGITS)))
        raise CheckFailed(f"with top_k={k}, {outside} of {SAMPLES} sampled tokens were not among the {k} most likely "
                          f"(frequencies by rank {np.round(freq, 3).tolist()}): set every logit below the k-th "
                          "largest to -inf before sampling" + (f"\nLikely mistake: {found}" if found else ""))
    if (ranks == 0).all():
        raise CheckFailed(f"with top_k={k} only the most likely token was ever sampled: {LARGEST}")
    expected = restricted(LOGITS / t, k)
    if expected[k - 1] * SAMPLES >= 50 and not (ranks == k - 1).any():
        raise CheckFailed(f"with top_k={k} the {k}-th most likely token was never sampled in {SAMPLES} draws (its "
                          f"chance is {expected[k - 1]:.3f} a draw): {INCLUSIVE}")
    return judge_frequencies(f"generate_next_token(top_k={k}, temperature={t})", ranks, expected,
                             temperature_alternatives(t, k), slip=lambda: sampling_slip(seen, logits[:, -1], t, k))


@checks.behaviour("generate_tokens(do_sample=False) feeds the prompt once, then each greedy token alone")
def generate_greedy(ctx):
    model = PrefixSumModel(ctx, 13, favourite_boost=2.0)
    cases = [(f"a prompt of shape {list(p.shape)}, {new} new tokens", (p, new))
             for p, new in [(ctx.token_ids(13, 3, 4), 4), (ctx.token_ids(13, 1, 1), 3)]]
    prompt, new = cases[0][1]
    once, twice = (run_tokens(ctx, model, prompt, new, do_sample=False) for _ in range(2))
    if (once != twice).any():
        raise CheckFailed("two calls of generate_tokens(do_sample=False) gave different tokens: pass do_sample on "
                          "to generate_next_token")

    def first_token_repeated(case):
        prompt, new = case
        model.reset()
        first = np.argmax(to_numpy(model(prompt))[:, -1], axis=-1)[:, None]
        return np.concatenate([prompt, np.repeat(first, new, axis=1)], axis=1)

    mistakes = [Mistake("every new token was the first one again: pick each token from the logits of the call "
                        "that fed the one before it", first_token_repeated)]
    return ctx.compare("generate_tokens(do_sample=False)", cases,
                       lambda case: run_tokens(ctx, model, *case, do_sample=False),
                       lambda case: reference_tokens(ctx, model, *case, do_sample=False),
                       mistakes, probe=Probe("the ids you pass to generate_next_token in every round of the loop",
                                             "[batch, seq] in the first round, then [batch, 1]",
                                             "print(new_ids.to_numpy())"), lazy=False)


@checks.behaviour("generate_tokens passes seed, top_k and temperature on to every step")
def generate_sampling(ctx):
    model = PrefixSumModel(ctx, 13, favourite_boost=2.0)
    prompt, new = ctx.token_ids(13, 3, 4), 3
    seed = int(ctx.rng.integers(1, 10_000))
    first, again, other = (run_tokens(ctx, model, prompt, new, seed=s) for s in (seed, seed, seed + 1))
    if (first != again).any():
        raise CheckFailed(f"two calls of generate_tokens(seed={seed}) gave different tokens: seed once at the start "
                          "(or pass the seed on), so that a seed repeats the whole sequence")
    if (first == other).all():
        raise CheckFailed(f"generate_tokens with seeds {seed} and {seed + 1} gave the same tokens: the seed must "
                          "reach the sampling")
    reseeded(ctx, seed)
    greedy = reference_tokens(ctx, model, prompt, new, do_sample=False)
    if (run_tokens(ctx, model, prompt, new, top_k=1, seed=seed) != greedy).any():
        raise CheckFailed("generate_tokens(top_k=1) did not give the greedy tokens: pass top_k on to "
                          "generate_next_token")
    t = 2.0
    logits, rank = ranked_logits(ctx, SAMPLES)
    out = run_tokens(ctx, FixedLogits(ctx, logits), ctx.token_ids(len(LOGITS), SAMPLES, 2), 1, temperature=t,
                     seed=seed)
    alternatives = [("the temperature did not reach generate_next_token: pass it on", softmax(LOGITS))]
    return judge_frequencies(f"generate_tokens(max_new_tokens=1, temperature={t})",
                             ranks_of(out[:, -1:], rank), softmax(LOGITS / t), alternatives)


def reseeded(ctx, seed):
    """generate_tokens with a seed, on a model whose logits never change: a generator seeded again before every
    token redraws the same numbers, so every sequence repeats its first sampled token."""
    rows, new = 64, 6
    logits, _ = ranked_logits(ctx, rows)
    out = run_tokens(ctx, FixedLogits(ctx, logits), ctx.token_ids(len(LOGITS), rows, 2), new, seed=seed)
    picked = out[:, 2:]
    if (picked == picked[:, :1]).all() and not (picked[:, 0] == np.argmax(logits[:, -1], axis=-1)).all():
        raise CheckFailed(f"generate_tokens(max_new_tokens={new}, seed={seed}), with the same logits at every step, "
                          f"repeated each sequence's first sampled token {new} times in all {rows} sequences: the "
                          "random generator was seeded again before every token (seed= passed on to every "
                          "generate_next_token call, or a new np.random.default_rng(seed) each call), so it redrew "
                          "the same numbers. Seed once, before the loop, and let it run on (with NumPy, one "
                          "generator, or seed + i for step i)")


class _Stop(BaseException):
    """Raised in place of a host copy the CPU cannot make of a bfloat16 graph: the dtype was all we needed.
    A BaseException, so that ctx.call lets it through as it would not a learner's error."""


@checks.behaviour("with bfloat16 logits (a GPU's default) the sampling runs in float32")
def bfloat16_logits(ctx):
    """MAX's CPU computes nothing in bfloat16, so this is judged by dtypes: the learner's code runs under F.lazy(),
    which builds the graph without computing it, and every random draw, argmax and copy to NumPy is recorded."""
    from max.dtype import DType
    from max.experimental import functional as F
    from max.experimental import random
    from max.experimental.tensor import Tensor

    seen = []

    def recording(real, label, tensor_of):
        def wrapped(*args, **kwargs):
            out = real(*args, **kwargs)
            seen.append((label, tensor_of(args, out).dtype))
            return out

        return wrapped

    def host_copy(tensor, *args, **kwargs):
        seen.append(("copy to NumPy", tensor.dtype))
        raise _Stop

    logits, rank = ranked_logits(ctx, 8)
    with contextlib.ExitStack() as stack:
        for owner, name, label, tensor_of in [(random, "uniform", "random draw", lambda a, out: out),
                                              (random, "gaussian", "random draw", lambda a, out: out),
                                              (F, "argmax", "argmax", lambda a, out: a[0])]:
            stack.enter_context(patched(ctx, owner, name, recording(getattr(owner, name), label, tensor_of)))
        stack.enter_context(patched(ctx, Tensor, "__dlpack__", host_copy))
        stack.enter_context(F.lazy())
        model = FixedLogits(ctx, logits + FAR_FROM_ZERO, dtype=DType.bfloat16)
        try:
            ctx.call("generate_next_token on bfloat16 logits", ctx.learner.generate_next_token, model,
                     ctx.tensor(ctx.token_ids(len(LOGITS), 8, 2)), seed=int(ctx.rng.integers(1, 10_000)))
        except _Stop:
            pass
        except CheckFailed as failed:
            if "UnsupportedGraphError" not in str(failed) or "bfloat16" not in str(failed):
                raise
            return ("not judged: your code needs values during the draw, which MAX's CPU cannot compute "
                    "from bfloat16; on a GPU, cast the logits to float32 first")
    wrong = [label for label, dtype in seen if dtype == DType.bfloat16]
    if "copy to NumPy" in wrong:
        raise CheckFailed("the bfloat16 logits were copied to NumPy as they are, but NumPy has no bfloat16 (and a "
                          "GPU gives bfloat16 logits): cast them to float32 first, last.cast(DType.float32)")
    if wrong:
        raise CheckFailed(f"given bfloat16 logits, the sampling ran in bfloat16 (a {wrong[0]} in bfloat16). It keeps "
                          "8 significant bits: noise added to scores near -96 is rounded to steps of 0.5, and noise "
                          "drawn in bfloat16 loses its tail, which biases the sample. Cast the scores to float32 "
                          "(last.cast(DType.float32)) and draw the noise with dtype=DType.float32")
    if not seen:
        return "no random draw, argmax or NumPy copy seen, so nothing to judge in bfloat16"
    return "given bfloat16 logits, every " + " and ".join(sorted({label for label, _ in seen})) + " was in float32"


@checks.behaviour("top_k does not rely on the order of F.top_k's values")
def top_k_any_order(ctx):
    k = 3
    logits, rank = ranked_logits(ctx, SAMPLES)
    with top_k_out_of_order(ctx), recording_draws(ctx) as seen:
        tokens = draw(ctx, FixedLogits(ctx, logits), ctx.token_ids(len(LOGITS), SAMPLES, 2), len(LOGITS),
                      top_k=k, seed=int(ctx.rng.integers(1, 10_000)))
    ranks = ranks_of(tokens, rank)
    if (ranks == 0).all():
        raise CheckFailed(f"with F.top_k returning its values largest last, top_k={k} always gave the most likely "
                          f"token: {TRUSTED_ORDER}")
    if (ranks >= k).any():
        raise CheckFailed(f"with F.top_k returning its values in another order, top_k={k} sampled tokens outside the "
                          f"{k} most likely: {TRUSTED_ORDER}")
    return judge_frequencies(f"generate_next_token(top_k={k}) with F.top_k's values out of order", ranks,
                             restricted(LOGITS, k), [(TRUSTED_ORDER, np.eye(len(LOGITS))[0])],
                             slip=lambda: sampling_slip(seen, logits[:, -1], 1.0, k))


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    """Sampling runs eagerly on the logits' device: noise, constants and masks must be made there too."""
    next_token, tokens = ctx.attr("generate_next_token"), ctx.attr("generate_tokens")

    def run(gpu):
        from max.dtype import DType
        from max.experimental import functional as F
        from max.experimental import random
        from max.experimental.tensor import Tensor

        def model(input_ids):  # a GPU model's logits for these ids
            return random.normal([2, input_ids.shape[1], 61], dtype=DType.float32, device=gpu)

        with F.lazy():
            ids = Tensor.zeros([2, 3], dtype=DType.int64, device=gpu)
            for settings in [dict(do_sample=False), dict(temperature=0.7, top_k=5, seed=3), dict(seed=4)]:
                next_token(model, ids, **settings)
                tokens(model, ids, 2, **settings)
        return []  # where the tokens end up is not judged: the pipeline reads them back to the CPU

    return ctx.on_gpu("generate_next_token and generate_tokens, greedy and sampled, on a GPU's logits", run)
