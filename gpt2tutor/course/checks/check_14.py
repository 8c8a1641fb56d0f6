"""Step 14 checks: generate_next_token and generate_tokens, through a model that keeps a KV cache.

Sampling cannot be compared token for token with the reference (the random draws differ), so it is
judged by behaviour: greedy decoding equals the reference, seeds repeat, top-k bounds the choice, and
the frequencies of thousands of samples from stand-in models with fixed logits match
softmax(logits / temperature). The stand-in language model keeps a cache as step 13's does, so
generate_tokens must give it the prompt once and then each new token alone.

When the frequencies are off, the toolkit's sampling diagnosis (gpt2tutor/checking/sampling/) names the
slip from the numbers the learner's code computed, or from which slip's distribution its frequencies fit.
"""

import contextlib
import inspect

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks
from gpt2tutor.checking.numpy_gpt2 import softmax
from gpt2tutor.checking.sampling.calls import draw, ranks_of, reference_tokens, run_tokens
from gpt2tutor.checking.sampling.frequencies import (
    closest,
    frequency_bound,
    judge_frequencies,
    restricted,
    temperature_alternatives,
    top_k_alternatives,
)
from gpt2tutor.checking.sampling.messages import (
    FIRST_POSITION,
    GAUSSIAN,
    GREEDY_EVERY_TIME,
    INCLUSIVE,
    LARGEST,
    NAN_NOISE,
    NO_EFFECT,
    REVERSED,
    SMALLEST,
    STALE,
    TRUSTED_ORDER,
    ZERO_FILL,
)
from gpt2tutor.checking.sampling.slips import patched, recording_draws, sampling_slip, top_k_out_of_order
from gpt2tutor.checking.sampling.stand_ins import LOGITS, FixedLogits, PrefixSumModel, ranked_logits, to_numpy

checks = StepChecks()

OPTIONS = {"temperature": 1.0, "top_k": None, "do_sample": True, "seed": None}
SAMPLES = 2000  # rows of one batch: one call draws this many tokens
FAR_FROM_ZERO = -96.0  # added to LOGITS for the bfloat16 case: GPT-2's logits sit far below 0 (bfloat16 steps 0.5 here)
LAST_LOGITS = Probe("the last position's logits", lambda case: [case[1].shape[0], case[2]],
                    "print(last.shape, last.to_numpy().argmax(-1))")


def small_gpt2(ctx):
    """The reference GPT2LMHeadModel, small, with random weights."""
    cfg = ctx.config()
    model = ctx.reference_build("GPT2LMHeadModel", cfg)
    model.load_state_dict(ctx.random_weights(ctx.shapes(model)))
    return model, cfg


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
                       mistakes, probe=LAST_LOGITS, lazy=False)  # draw() reads the ids it drew


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
