"""Step 13 checks: cached_attention, GPT2CachedLMHeadModel and load_cached_gpt2.

Everything is judged on the eager model (each of its calls first as one lazy graph; a check that does not
pass that way runs again op by op: lazy_first): a prefill and later calls, single tokens and a multi-token
chunk, must give the full forward's logits at every position, and the cache must grow by exactly the tokens
fed, block by block. Then load_cached_gpt2 runs with Module.compile recorded and traced
instead of compiled (see gpt2tutor/checking/loaders.py): the module, the input types (a symbolic cache length of its own)
and the weights it passed, and the trace, are judged in the time a trace takes, and the same run is
repeated through what it returned. The compile itself happens once, in the background, at GPT-2 124M's
shapes, where the compiled numbers are compared with the eager ones (gpt2tutor/graphs.py).
"""

import importlib

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks, loaders
from gpt2tutor.checking.kv_cache import TOLERANCE, cache_slip, judge_cache_shapes, judge_cache_values
from gpt2tutor.checking.loaders import hf_checkpoint
from gpt2tutor.checking.numpy_gpt2 import cached_attention, cached_run, heads, lm_logits, qkv

checks = StepChecks()

LOADER = "load_cached_gpt2"


# --- running the learner's model ---------------------------------------------------------------

def empty_cache(ctx, cfg, batch):
    shape = (batch, cfg.n_head, 0, cfg.n_embd // cfg.n_head)
    return [(ctx.tensor(np.zeros(shape, np.float32)), ctx.tensor(np.zeros(shape, np.float32)))
            for _ in range(cfg.n_layer)]


def as_cache(ctx, value, cfg, what):
    """The learner's past_key_values as numpy pairs, checked for structure."""
    if not isinstance(value, (list, tuple)) or len(value) != cfg.n_layer:
        raise CheckFailed(f"{what} returned past_key_values as a {type(value).__name__}"
                          f"{f' of {len(value)}' if isinstance(value, (list, tuple)) else ''}: it should be a list "
                          f"with one (key, value) pair per block ({cfg.n_layer} here)")
    pairs = []
    for i, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise CheckFailed(f"{what}: past_key_values[{i}] should be a (key, value) pair")
        pairs.append(tuple(np.asarray(ctx.as_array(t, what), dtype=np.float64) for t in pair))
    return pairs


def run_chunks(ctx, model, cfg, ids, splits, what):
    """Feeds ids [b, n] in chunks of the sizes in `splits`; returns (logits [b, n, vocab], cache) checking each call."""
    b = ids.shape[0]
    past, outs, seen = empty_cache(ctx, cfg, b), [], 0
    for n in splits:
        chunk = np.ascontiguousarray(ids[:, seen:seen + n])
        label = f"{what}: the call with {n} new token{'s' if n > 1 else ''} after {seen} cached"
        out = ctx.forward(label, model, ctx.tensor(chunk), past)
        if not isinstance(out, (list, tuple)) or len(out) != 2:
            raise CheckFailed(f"{label} returned a {type(out).__name__}: forward returns (logits, past_key_values)")
        logits, past = out
        got = ctx.as_array(logits, label)
        if got.shape != (b, n, cfg.vocab_size):
            raise CheckFailed(f"{label} gave logits of shape {list(got.shape)}, expected the new tokens' "
                              f"{[b, n, cfg.vocab_size]}")
        seen += n
        outs.append(got)
        yield label, np.concatenate(outs, axis=1), as_cache(ctx, past, cfg, label), n


# --- the checks ---------------------------------------------------------------------------------

@checks.structure("cached_attention, GPT2CachedLMHeadModel (your GPT2LMHeadModel's subclass) and load_cached_gpt2")
def structure(ctx):
    ctx.function("cached_attention", ["attn", "hidden_states", "past_key", "past_value"])
    ctx.function("load_cached_gpt2", ["config", "state_dict", "device"])
    cls = ctx.module_class("GPT2CachedLMHeadModel")
    theirs = importlib.import_module("step_11").GPT2LMHeadModel
    if not issubclass(cls, theirs):
        raise CheckFailed("GPT2CachedLMHeadModel must subclass your GPT2LMHeadModel (`from step_11 import "
                          "GPT2LMHeadModel`), so it has the same parameters and step 12's conversion loads into it")
    ctx.expect_parameters_named(cls.forward, "GPT2CachedLMHeadModel.forward", ["input_ids", "past_key_values"])


@checks.behaviour("cached_attention: new queries see every cached key and the new keys up to their own",
                  lazy_first=True)
def attention(ctx):
    from max.experimental import functional as F

    cfg = ctx.config()
    theirs = importlib.import_module("step_07").GPT2MultiHeadAttention
    with F.lazy():
        attn = ctx.call("GPT2MultiHeadAttention(config)", theirs, cfg)
    weights = ctx.random_weights(ctx.shapes(attn))
    ctx.load(attn, weights, "GPT2MultiHeadAttention")
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    hd = cfg.n_embd // cfg.n_head
    cases = []
    for b, p, s in [(2, 3, 3), (2, 5, 2), (1, 0, 4), (3, 4, 1)]:  # p == s first: a cache grown on the wrong axis has the right size
        x = ctx.normal(b, s, cfg.n_embd)
        pk, pv = ctx.normal(b, cfg.n_head, p, hd), ctx.normal(b, cfg.n_head, p, hd)
        cases.append((f"{s} new tokens after {p} cached, batch {b}", (x, pk, pv)))

    outputs = {}  # each case runs once: (output, key, value) as arrays

    def learner(case, part):
        key = id(case)
        if key not in outputs:
            out = ctx.forward("cached_attention", ctx.learner.cached_attention, attn, *(ctx.tensor(a) for a in case))
            if not isinstance(out, (list, tuple)) or len(out) != 3:
                raise CheckFailed(f"cached_attention returned a {type(out).__name__}: it returns (output, key, value)")
            outputs[key] = tuple(ctx.as_array(t, "cached_attention") for t in out)
        return outputs[key][part]

    def expected(case, part, **mistake):
        x, pk, pv = (a.astype(np.float64) for a in case)
        return cached_attention(w, x, cfg.n_head, (pk, pv), **mistake)[part]

    def slip(case, part, got):
        """The known wrong cache the returned key (part 1) or value (part 2) is, named; else None."""
        x, pk, pv = (a.astype(np.float64) for a in case)
        q, k, v = qkv(x, w, "", cfg.n_head)
        _, key, value = cached_attention(w, x, cfg.n_head, (pk, pv))
        past, new, other = (pk, k, value) if part == 1 else (pv, v, key)
        return cache_slip(got, past, new, other, "key" if part == 1 else "value", queries=q,
                          inputs=heads(x, cfg.n_head))

    def judge_cache():
        """The returned key and value, case by case: a shape or a known wrong cache fails here, by name; at the
        first one wrong in an unknown way, the output's mistakes and the comparisons below say more."""
        for part, label in [(1, "the returned key"), (2, "the returned value")]:
            for name, case in cases:
                got = learner(case, part)
                b, p, s = case[1].shape[0], case[1].shape[2], case[0].shape[1]
                want_shape = (b, cfg.n_head, p + s, hd)
                if got.shape == want_shape and np.allclose(got, expected(case, part), atol=TOLERANCE,
                                                           rtol=TOLERANCE):
                    continue
                named = slip(case, part, got)
                if named:
                    raise CheckFailed(f"cached_attention on {name}: {named}")
                if got.shape != want_shape and got.size == np.prod(want_shape):
                    raise CheckFailed(f"cached_attention on {name}: {label} has shape {list(got.shape)}, expected "
                                      f"{list(want_shape)}: the concatenation ran on the wrong axis; the sequence "
                                      "axis of [batch, n_head, seq, head_dim] is 2")
                if got.shape != want_shape:
                    raise CheckFailed(f"cached_attention on {name}: {label} has shape {list(got.shape)}, expected "
                                      f"{list(want_shape)}")
                return

    judge_cache()
    mistakes = [
        Mistake("the mask ignores the cached tokens: new query i is at position past + i, so it sees every cached "
                "key and the new keys up to its own. causal_mask(seq, 0) alone treats the chunk as if it started the "
                "sequence", lambda case: expected(case, 0, mask="from_zero")),
        Mistake("no mask: right for one new token (it may see everything), wrong as soon as several arrive at once "
                "(the prompt, or a chunk); mask the new keys causally", lambda case: expected(case, 0, mask="none")),
        Mistake("among the new tokens the mask is on the wrong side of the diagonal: new query i sees itself and the "
                "new tokens after it, not the ones before (0 where key j <= past + i, -inf after; transposing the "
                "causal mask flips it)", lambda case: expected(case, 0, mask="future")),
        Mistake("the scores are not scaled: divide q @ key^T by sqrt(head_dim), as in step 07",
                lambda case: expected(case, 0, scale="none")),
        Mistake("the scores are divided by head_dim: the scale is 1/sqrt(head_dim), as in step 07",
                lambda case: expected(case, 0, scale="full")),
        Mistake("the softmax runs over the queries (axis -2): each query's weights over the keys sum to 1, so it "
                "runs over the last axis, the keys", lambda case: expected(case, 0, softmax_axis=-2)),
        Mistake("the mask hides the cached keys: new query i sees every cached key (columns 0 .. past-1, all 0 in "
                "the mask) and the new keys up to its own", lambda case: expected(case, 0, mask="hides_cache")),
        Mistake("the two pieces of the mask are joined in the wrong order: the cached columns come first, so the "
                "all-visible [seq, past] block goes left of the new tokens' causal [seq, seq] block",
                lambda case: expected(case, 0, mask="pieces_swapped")),
        Mistake("the mask hides the diagonal: each new query sees its own key too (0 where key j <= past + i)",
                lambda case: expected(case, 0, mask="diagonal_hidden")),
        Mistake("the scores are divided by sqrt(n_embd): the scale is 1/sqrt(head_dim), one head's width "
                "(n_embd // n_head), axis 3 of the cache", lambda case: expected(case, 0, scale="n_embd")),
        Mistake("the scores are divided by sqrt(n_head): the scale is 1/sqrt(head_dim), one head's width, axis 3 "
                "of the cache", lambda case: expected(case, 0, scale="n_head")),
        Mistake("the scores are divided by the square root of the cache's length (axis 2 of past_key): head_dim "
                "is axis 3, [batch, n_head, past, head_dim]", lambda case: expected(case, 0, scale="cache_length")),
        Mistake("the new keys and values are swapped: c_attn's three parts are q, k, v in that order, and the keys "
                "are what the queries are compared with", lambda case: expected(case, 0, order=(0, 2, 1))),
        Mistake("the new keys and values are put in front of the cached ones: the cache first, then the new "
                "tokens, F.concat([past, new], axis=2), so that key j is token j",
                lambda case: expected(case, 0, cache="new_first")),
    ]
    probe = Probe("the attention weights after the softmax (each row sums to 1 over the keys)",
                  lambda case: (case[0].shape[0], cfg.n_head, case[0].shape[1], case[1].shape[2] + case[0].shape[1]),
                  "print(weights.shape, weights.to_numpy().sum(axis=-1))")
    detail = ctx.compare("cached_attention's output", cases, lambda case: learner(case, 0),
                         lambda case: expected(case, 0), mistakes, probe=probe, atol=TOLERANCE, rtol=TOLERANCE)
    for part, label in [(1, "key"), (2, "value")]:
        ctx.compare(f"cached_attention's returned {label} (the cache, then the new tokens')", cases,
                    lambda case, part=part: learner(case, part), lambda case, part=part: expected(case, part),
                    atol=TOLERANCE, rtol=TOLERANCE)
    return detail


@checks.behaviour("GPT2CachedLMHeadModel: a prefill, then single tokens and a chunk, give the full forward's logits",
                  lazy_first=True)
def decoding(ctx):
    cfg = ctx.config()
    model, _, w = loaders.random_model(ctx, cfg, "GPT2CachedLMHeadModel")
    worst = 0.0
    for b, splits in [(3, [3, 1, 2, 1])]:  # a prefill, a single token, a chunk after the cache, a single again
        ids = ctx.token_ids(cfg.vocab_size, b, sum(splits))
        what = f"prompt {splits[0]} then {splits[1:]} new, batch {b}"
        for label, got, cache, fed in run_chunks(ctx, model, cfg, ids, splits, what):
            seen = got.shape[1]
            want, want_cache = cached_run(w, cfg, [ids[:, :seen]])
            judge_cache_shapes(cache, want_cache, fed, label)
            err = np.abs(got - want).max()
            if not err <= TOLERANCE:
                named = ""
                chunks = [ids[:, sum(splits[:i]):sum(splits[:i + 1])] for i in range(len(splits))
                          if sum(splits[:i + 1]) <= seen]
                for message, knobs in [
                    ("the new tokens' positions restarted at 0: they sit at past, past + 1, ... (an arange from past "
                     "to past + seq), so wpe gets the wrong rows", {"positions": "restart"}),
                    ("the new tokens' positions are one too far: the first token of all sits at 0, so with past "
                     "tokens cached the new ones sit at past, past + 1, ...", {"positions": "from_one"}),
                    ("the new tokens' positions start at the number of new tokens: they start at the cache's "
                     "length, axis 2 of a cached key (past_key_values[0][0].shape[2])", {"positions": "new_count"}),
                    ("the new tokens' positions start at n_head: the cache's length is axis 2 of a cached key, "
                     "[batch, n_head, past, head_dim]; axis 1 holds the heads", {"positions": "n_head"}),
                    ("the mask ignores the cached tokens: new query i is at position past + i and sees every cached "
                     "key; causal_mask(seq, 0) alone is right only for the prefill", {"mask": "from_zero"}),
                    ("no mask among the new tokens: wrong as soon as several arrive at once", {"mask": "none"}),
                    ("among the new tokens the mask is on the wrong side of the diagonal: each new query sees itself "
                     "and the new tokens after it, not the ones before", {"mask": "future"}),
                    ("the mask hides the cached keys: every new query sees all of them", {"mask": "hides_cache"}),
                    ("the mask's two pieces are joined in the wrong order: the all-visible cached columns first, "
                     "then the new tokens' causal block", {"mask": "pieces_swapped"}),
                    ("the mask hides the diagonal: each new query sees its own key", {"mask": "diagonal_hidden"}),
                    ("the attention scores are not scaled by 1/sqrt(head_dim)", {"scale": "none"}),
                    ("the attention scores are divided by head_dim, not its square root", {"scale": "full"}),
                ]:
                    if np.allclose(got, cached_run(w, cfg, chunks, **knobs)[0], atol=10 * TOLERANCE):
                        named = f"\nLikely mistake: {message}"
                        break
                if not named:
                    judge_cache_values(cache, want_cache, fed, label, named_only=True)
                raise CheckFailed(f"{label}: the logits differ from a full forward over all {seen} tokens by up to "
                                  f"{err:.3g} (more than {TOLERANCE}){named}")
            judge_cache_values(cache, want_cache, fed, label)
            worst = max(worst, float(err))
    return f"a prefill of 3, a token, a chunk of 2 and a token (batch 3) match the full forward, max abs error {worst:.1e}"


@checks.behaviour("load_cached_gpt2 compiles your cached model for ids [batch, seq] and a cache [batch, n_head, past, "
                  "head_dim], past a symbolic length of its own; it decodes like the full forward",
                  lazy_first=True)
def compiled(ctx):
    cfg = ctx.config()
    hf, ours = hf_checkpoint(ctx, cfg, prefixed=False)
    model, call, converted = loaders.recorded(ctx, LOADER, cfg, hf, ctx.learner.GPT2CachedLMHeadModel,
                                                "GPT2CachedLMHeadModel")
    types = call.input_types
    if len(types) == 1:
        raise CheckFailed(f"{LOADER} gave Module.compile one input type: the cached model's forward takes two, "
                          "the ids and the cache. Add the cache's: model.compile(ids_type, [(kv, kv)] * n_layer, "
                          "weights=...)")
    if len(types) != 2:
        raise CheckFailed(f"{LOADER} gave Module.compile {len(types)} input types: the ids' type, then the "
                          "cache's (a list of one (key, value) pair of types per block)")
    batch, seq = loaders.judge_ids_type(types[0], LOADER)
    loaders.judge_cache_types(types[1], cfg, batch, seq, LOADER)
    loaders.judge_weights(ctx, call, hf, converted, LOADER)
    loaders.judge_trace(ctx, call, LOADER, "a symbolic cache length")
    ids = ctx.token_ids(cfg.vocab_size, 1, 4)
    splits = [4]  # one call: its model and weights (the cache's growth was judged on GPT2CachedLMHeadModel above)
    final = None
    for label, got, cache, fed in run_chunks(ctx, model, cfg, ids, splits, "your model"):
        final = got
        want, want_cache = cached_run(ours, cfg, [ids[:, :got.shape[1]]])
        judge_cache_shapes(cache, want_cache, fed, label)
        if not np.abs(got - want).max() <= TOLERANCE:
            raise CheckFailed(f"{label}: the logits differ from the full forward's by up to "
                              f"{np.abs(got - want).max():.3g}, with the model and weights load_cached_gpt2 passed "
                              "to Module.compile (GPT2CachedLMHeadModel itself matched): does it build the model and "
                              "load the converted weights as the checks did?")
        judge_cache_values(cache, want_cache, fed, label)
    err = float(np.abs(final - lm_logits(ours, ids, cfg)).max())
    return (f"the graph traces with a symbolic cache length in {call.trace_seconds:.2f} s; a prefill of 4 through "
            f"what it returned matches, max abs error {err:.1e}" + loaders.branch_note(call))


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return loaders.loader_on_gpu(ctx, LOADER, cfg, hf_checkpoint(ctx, cfg, prefixed=False)[0])
