"""Step 15 checks: padding_mask, batched_attention, GPT2BatchedLMHeadModel and load_batched_gpt2.

A ragged batch (prompts of 1, 5 and 9 tokens, padding first) runs through the learner's model on a small random
GPT-2, then rows get 2, 1 and 3 new tokens, then one each. The check keeps the cache, as a server does: the model
returns the new tokens' keys and values, and the check adds them. Each row's logits must be the ones that row gets
alone, with no padding (NumPy, float64). The padding is not zeros: the padded ids are random tokens, and after the
first call (whose cache is one padded slot a row) the cache's padded slots hold a large value, so a row that sees
padding shows it. Changing one row's tokens must leave the others' logits where they were. A wrong answer is matched
against the usual mistakes, each run in NumPy on the same inputs. Then load_batched_gpt2 runs with Module.compile
recorded and traced, as in step 13.
"""

import importlib
import math

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, StepChecks, loaders
from gpt2tutor.checking.kv_cache import TOLERANCE
from gpt2tutor.checking.loaders import hf_checkpoint
from gpt2tutor.checking.numpy_gpt2 import layer_norm, linear, lm_logits, merged, mlp, qkv, softmax

checks = StepChecks()

LOADER = "load_batched_gpt2"
PLANTED = 1e4  # what the cache's padded slots hold: seen by a row, it shows
PROMPTS = (1, 5, 9)  # each row's prompt; then each row's new tokens at every later call:
LATER = ((2, 1, 3), (1, 1, 1))


# --- the NumPy reference, with the usual mistakes as switches -------------------------------------------

def batched_forward(w, cfg, ids, input_mask, past, past_mask, *, positions="real", padding="finite",
                    causal=True, last="last", softmaxes=1):
    """GPT2BatchedLMHeadModel.forward in float64: (logits [b, vocab], the new tokens' (key, value) per block).

    positions: "real" (real tokens before each, per row), "columns" (past + column: padding counted), "inclusive"
    (the token itself counted), "shared" (the cache's length for every row), "batch" (cached real tokens counted
    over the whole batch), "new_only" (the cache not counted). padding: "finite", "inf" (-inf: NaN), "none", "new_only", "cache_only", "inverted".
    last: "last" or "first" column's logits. softmaxes: 2 normalizes the cached and the new keys' weights apart."""
    w = {k: v.astype(np.float64, copy=False) for k, v in w.items()}
    b, s = ids.shape
    p = past_mask.shape[1]
    mask = np.concatenate([past_mask, input_mask], axis=1)
    before = np.cumsum(input_mask, axis=1) - input_mask  # real new tokens before each new slot
    cached = {"batch": np.full((b, 1), past_mask.sum()), "new_only": np.zeros((b, 1)), "shared": np.full((b, 1), p)}.get(
        positions, past_mask.sum(axis=1, keepdims=True))
    pos = {"columns": np.broadcast_to(p + np.arange(s), (b, s)), "inclusive": cached + before + input_mask}.get(
        positions, cached + before)
    x = w["transformer.wte.weight"][ids] + np.take(w["transformer.wpe.weight"], pos.astype(np.int64), axis=0,
                                                   mode="clip")
    shown = {"none": np.ones_like(mask), "inverted": 1 - mask,
             "new_only": np.concatenate([np.ones_like(past_mask), input_mask], axis=1),
             "cache_only": np.concatenate([past_mask, np.ones_like(input_mask)], axis=1)}.get(padding, mask)
    hide = -np.inf if padding == "inf" else -1e9
    hidden = (shown != 1)[:, None, None, :]  # float32 rounds a score plus -1e9 to -1e9: the score is replaced
    visible = np.arange(p + s)[None, :] <= p + np.arange(s)[:, None]
    causal_mask = np.where(visible | (not causal), 0.0, -np.inf)
    eps, hd, new_key_values = cfg.layer_norm_epsilon, cfg.n_embd // cfg.n_head, []
    with np.errstate(invalid="ignore", over="ignore"):
        for i in range(cfg.n_layer):
            pre = f"transformer.h.{i}."
            q, k, v = qkv(layer_norm(x, w, eps, prefix=f"{pre}ln_1."), w, f"{pre}attn.", cfg.n_head)
            key = np.concatenate([past[i][0], k], axis=2)
            value = np.concatenate([past[i][1], v], axis=2)
            scores = np.where(hidden, hide, q @ key.transpose(0, 1, 3, 2) / math.sqrt(hd)) + causal_mask
            if softmaxes == 2:
                out = softmax(scores[..., :p]) @ past[i][1] + softmax(scores[..., p:]) @ v
            else:
                out = softmax(scores) @ value
            x = x + linear(merged(out), w, f"{pre}attn.c_proj.")
            x = x + mlp(w, layer_norm(x, w, eps, prefix=f"{pre}ln_2."), prefix=f"{pre}mlp.")
            new_key_values.append((k, v))
        h = layer_norm(x[:, -1 if last == "last" else 0], w, eps, prefix="transformer.ln_f.")
        return h @ w["lm_head.weight"].astype(np.float64).T, new_key_values


MISTAKES = [
    ("the positions are counted from the padded start: arange(past, past + seq), as in step 13, counts padding "
     "as history. A token's position is the number of real tokens before it in its own row",
     {"positions": "columns"}),
    ("the positions count the token itself: the first token of a row sits at 0, so count the real tokens before "
     "each one (F.cumsum with exclusive=True)", {"positions": "inclusive"}),
    ("one cache length for every row: past (the cache's axis 2) counts each row's padding too. Each row counts "
     "its own real cached tokens: past_mask summed over axis 1", {"positions": "shared"}),
    ("one count of cached tokens for the whole batch: a sum over every axis adds up every row's. Each row counts "
     "its own: past_mask summed over axis 1", {"positions": "batch"}),
    ("the positions leave out the cached tokens: a row's new tokens come after the real tokens in its cache, so "
     "add each row's count of them (past_mask summed over axis 1)", {"positions": "new_only"}),
    ("padding is hidden with -inf: a padding query that can see nothing but padding gets a row of -inf, softmax "
     "gives NaN, and the next block's key and value carry it into the real tokens (0 * NaN is NaN). Hide padding "
     "with a large finite negative number, -1e9", {"padding": "inf"}),
    ("the padding mask covers only the new tokens: the cache holds padding too, where past_mask is 0. Join "
     "past_mask and input_mask, in that order, and hide both", {"padding": "new_only"}),
    ("the padding mask covers only the cache: the new tokens have padding too, where input_mask is 0",
     {"padding": "cache_only"}),
    ("no padding mask: each row's attention sees its padding, cached and new. Add padding_mask of the row's whole "
     "mask (past_mask, then input_mask) to the scores", {"padding": "none"}),
    ("the padding mask is the wrong way round: it hides the real tokens and shows the padding (1 in the mask is a "
     "real token)", {"padding": "inverted"}),
    ("the causal mask is missing: with padding hidden, new tokens still may not see the new tokens after them",
     {"causal": False}),
    ("the logits are the first column's: with padding first, that is padding for every row shorter than the "
     "longest. Each row's last token is the last column, x[:, -1, :]", {"last": "first"}),
    ("two softmaxes: the weights on the cached keys and on the new keys are normalized apart, so together they sum "
     "to 2. Put the two parts of the scores side by side (F.concat on the last axis), take one softmax, then split "
     "the weights", {"softmaxes": 2}),
]


# --- running the learner's model ---------------------------------------------------------------------

def ragged_calls(ctx, cfg):
    """The calls' inputs: for each, (ids, input_mask, the new tokens per row), padding first, random padding ids."""
    calls = []
    for lengths in (PROMPTS, *LATER):
        s = max(lengths)
        ids = ctx.token_ids(cfg.vocab_size, len(lengths), s)  # the padding too: random tokens, not zeros
        real = np.zeros((len(lengths), s), np.int64)
        for row, n in enumerate(lengths):
            real[row, s - n:] = 1
        calls.append((ids, real, [ids[row, s - n:] for row, n in enumerate(lengths)]))
    return calls


def planted(cache, mask):
    """The cache with every padded slot (mask 0) holding PLANTED."""
    hidden = (mask == 0)[:, None, :, None]
    return [(np.where(hidden, PLANTED, k), np.where(hidden, PLANTED, v)) for k, v in cache]


def unpack(ctx, out, cfg, b, seq, past_len, what):
    """(logits [b, vocab], the new tokens' (key, value) per block) as float64 NumPy, once their shapes are right."""
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        counted = f" of {len(out)}" if isinstance(out, (list, tuple)) else ""
        raise CheckFailed(f"{what} returned a {type(out).__name__}{counted}: forward returns two things, (logits, "
                          "new_key_values), the new tokens' (key, value) per block; the caller keeps the cache and "
                          "the mask")
    logits, new = out
    got = ctx.as_array(logits, what)
    if got.ndim == 3 and got.shape[0] == b and got.shape[2] == cfg.vocab_size:
        raise CheckFailed(f"{what} gave logits of shape {list(got.shape)}: return only each row's last token's, "
                          f"[batch, vocab_size] = {[b, cfg.vocab_size]} (x[:, -1, :] before ln_f and lm_head)")
    if got.shape != (b, cfg.vocab_size):
        raise CheckFailed(f"{what} gave logits of shape {list(got.shape)}, expected [batch, vocab_size] = "
                          f"{[b, cfg.vocab_size]}")
    if not isinstance(new, (list, tuple)) or len(new) != cfg.n_layer or \
            not all(isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in new):
        raise CheckFailed(f"{what} returned its key/values as a {type(new).__name__}: one (key, value) pair per "
                          f"block ({cfg.n_layer} here), as in step 13")
    pairs = [tuple(np.asarray(ctx.as_array(t, what), np.float64) for t in pair) for pair in new]
    shape = (b, cfg.n_head, seq, cfg.n_embd // cfg.n_head)
    for t in (t for pair in pairs for t in pair):
        if t.shape == (b, cfg.n_head, past_len + seq, shape[3]):
            raise CheckFailed(f"{what} returned keys of shape {list(t.shape)}, the cache and the new tokens "
                              f"together, as step 13 does: return only the new tokens' key and value, {list(shape)} "
                              "([batch, n_head, seq, head_dim]); the caller keeps the cache and writes them into it")
        if t.shape != shape:
            raise CheckFailed(f"{what} returned a key or value of shape {list(t.shape)}: the new tokens' are "
                              f"[batch, n_head, seq, head_dim] = {list(shape)}")
    return got, pairs


def run_model(ctx, cfg, forward, calls, *, alter=None):
    """Runs `forward(ids, input_mask, past, past_mask)` (numpy in, numpy out) over the calls, keeping the cache as a
    server does: it starts as one padded slot a row (a cache is never empty), of zeros (so the mistakes that show
    padding differ by which padding they show), and each call's new keys and values are added to it, every padded
    slot then holding PLANTED; yields (label, logits)."""
    b = len(PROMPTS)
    hd = cfg.n_embd // cfg.n_head
    past_mask = np.zeros((b, 1), np.int64)
    past = [(np.zeros((b, cfg.n_head, 1, hd)),) * 2 for _ in range(cfg.n_layer)]
    for n, (ids, real, _) in enumerate(calls):
        if alter is not None and n == alter[0]:
            ids = alter[1](ids)
        label = ["the prompts of 1, 5 and 9 tokens", "2, 1 and 3 new tokens", "one new token each"][n]
        logits, new = forward(ids, real, past, past_mask, label)
        yield label, logits
        past_mask = np.concatenate([past_mask, real], axis=1)
        past = planted([(np.concatenate([pk, k], axis=2), np.concatenate([pv, v], axis=2))
                        for (pk, pv), (k, v) in zip(past, new)], past_mask)


def learner_forward(ctx, model, cfg):
    def forward(ids, real, past, past_mask, label):
        what = f"GPT2BatchedLMHeadModel on {label}"
        tensors = [(ctx.tensor(k.astype(np.float32)), ctx.tensor(v.astype(np.float32))) for k, v in past]
        out = ctx.forward(what, model, ctx.tensor(ids), ctx.tensor(real), tensors, ctx.tensor(past_mask))
        return unpack(ctx, out, cfg, ids.shape[0], ids.shape[1], past_mask.shape[1], what)
    return forward


def numpy_forward(w, cfg, **mistake):
    def forward(ids, real, past, past_mask, label):
        return batched_forward(w, cfg, ids, real, past, past_mask, **mistake)
    return forward


def alone(w, cfg, calls):
    """Each row's logits after each call, run alone with no padding: [call][row] -> [vocab]."""
    out, history = [], [np.zeros(0, np.int64) for _ in PROMPTS]
    for _, _, fed in calls:
        history = [np.concatenate([h, f]) for h, f in zip(history, fed)]
        out.append(np.stack([lm_logits(w, h[None], cfg)[0, -1] for h in history]))
    return out


# --- the checks ---------------------------------------------------------------------------------------

@checks.structure("padding_mask, batched_attention, GPT2BatchedLMHeadModel (your GPT2CachedLMHeadModel's subclass) "
                  "and load_batched_gpt2")
def structure(ctx):
    ctx.function("padding_mask", ["attention_mask"])
    ctx.function("batched_attention", ["attn", "hidden_states", "past_key", "past_value", "padding"])
    ctx.function("load_batched_gpt2", ["config", "state_dict", "device"])
    cls = ctx.module_class("GPT2BatchedLMHeadModel")
    theirs = importlib.import_module("step_13").GPT2CachedLMHeadModel
    if not issubclass(cls, theirs):
        raise CheckFailed("GPT2BatchedLMHeadModel must subclass your GPT2CachedLMHeadModel (`from step_13 import "
                          "GPT2CachedLMHeadModel`), so it has your GPT-2's parameters and step 12's conversion "
                          "loads into it")
    ctx.expect_parameters_named(cls.forward, "GPT2BatchedLMHeadModel.forward",
                                ["input_ids", "input_mask", "past_key_values", "past_mask"])


@checks.behaviour("padding_mask: 0 on real tokens, a large finite negative number on padding, [batch, 1, 1, total]")
def mask(ctx):
    given = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]], np.int64)
    got = ctx.as_array(ctx.forward("padding_mask", ctx.learner.padding_mask, ctx.tensor(given)), "padding_mask")
    if got.size == given.size and got.shape != (3, 1, 1, 5):
        raise CheckFailed(f"padding_mask gave shape {list(got.shape)} for a mask [3, 5]: reshape it to [batch, 1, 1, "
                          "total], so it adds to the scores [batch, n_head, seq, total] of every head and query")
    if got.shape != (3, 1, 1, 5):
        raise CheckFailed(f"padding_mask gave shape {list(got.shape)} for a mask [3, 5]: expected [3, 1, 1, 5]")
    got = got.reshape(3, 5).astype(np.float64)
    real, padding = got[given == 1], got[given == 0]
    if np.isinf(padding).any() or np.isnan(padding).any():
        raise CheckFailed("padding_mask puts -inf (or NaN) on the padding: a padding query that sees nothing but "
                          "padding then gets NaN from the softmax, and the next block carries it into the real "
                          "tokens. Use a large finite negative number, such as -1e9")
    if np.allclose(padding, 0) and (real < -1e3).all():
        raise CheckFailed("padding_mask is the wrong way round: it hides the real tokens (1 in attention_mask) and "
                          "shows the padding (0)")
    if not np.allclose(real, 0):
        raise CheckFailed(f"padding_mask gives {real.min():.3g} .. {real.max():.3g} on real tokens: they must stay "
                          "visible, 0")
    if not (padding <= -1e4).all():
        raise CheckFailed(f"padding_mask gives {padding.max():.3g} on padding: too small to hide it next to scores "
                          "of tens; use a large negative number, such as -1e9")
    return f"padding {padding.max():.3g}, real tokens 0, shape [3, 1, 1, 5]"


@checks.behaviour("GPT2BatchedLMHeadModel: each row of a ragged batch gets the logits it gets alone, call after call",
                  lazy_first=True)
def batch(ctx):
    cfg = ctx.config()
    model, _, w = loaders.random_model(ctx, cfg, "GPT2BatchedLMHeadModel")
    calls = ragged_calls(ctx, cfg)
    want = alone(w, cfg, calls)
    forward = learner_forward(ctx, model, cfg)
    runs = list(run_model(ctx, cfg, forward, calls))
    got_all = [got for _, got in runs]
    for n, (label, got) in enumerate(runs):
        err = np.abs(got - want[n]).max(axis=-1)
        if (err <= TOLERANCE).all():
            continue
        row = int(np.nanargmax(np.where(np.isnan(err), np.inf, err)))
        named = ""
        for message, knobs in MISTAKES:  # a mistake is named when it gives every call's logits
            theirs = [lg for _, lg in run_model(ctx, cfg, numpy_forward(w, cfg, **knobs), calls)]
            if all(np.allclose(g, t, rtol=0, atol=10 * TOLERANCE, equal_nan=True) for g, t in zip(got_all, theirs)):
                named = f"\nLikely mistake: {message}"
                break
        shown = "NaN" if np.isnan(err[row]) else f"up to {err[row]:.3g}"
        raise CheckFailed(f"GPT2BatchedLMHeadModel on {label}: row {row}'s logits differ from the ones it gets "
                          f"alone, with no padding, by {shown} (more than {TOLERANCE}){named}")
    # another row's tokens and padding: row 0's prompt changed, rows 1 and 2 must not move
    changed = run_model(ctx, cfg, forward, calls, alter=(0, lambda ids: np.concatenate(
        [ctx.token_ids(cfg.vocab_size, 1, ids.shape[1]), ids[1:]])))
    label, got = next(changed)
    moved = np.abs(got[1:] - got_all[0][1:]).max()
    if not moved <= TOLERANCE:
        raise CheckFailed(f"GPT2BatchedLMHeadModel: rows 1 and 2's logits moved by {moved:.3g} when only row 0's "
                          "tokens changed: something mixes the rows (a sum, max or mean over the batch axis?)")
    worst = max(float(np.abs(g - e).max()) for g, e in zip(got_all, want))
    return (f"prompts of 1, 5 and 9 tokens, then 2, 1 and 3 new, then 1 each, with the padding planted: every row "
            f"matches itself alone, max abs error {worst:.1e}")


@checks.behaviour("load_batched_gpt2 compiles your batched model for ids and input_mask [batch, seq], the cache and "
                  "past_mask [batch, past]; it answers like the eager model", lazy_first=True)
def compiled(ctx):
    cfg = ctx.config()
    hf, ours = hf_checkpoint(ctx, cfg, prefixed=False)
    model, call, converted = loaders.recorded(ctx, LOADER, cfg, hf, ctx.learner.GPT2BatchedLMHeadModel,
                                              "GPT2BatchedLMHeadModel")
    types = call.input_types
    if len(types) != 4:
        raise CheckFailed(f"{LOADER} gave Module.compile {len(types)} input types: the batched forward takes four, "
                          "model.compile(ids_type, mask_type, [(kv, kv)] * n_layer, past_mask_type, weights=...)")
    batch, seq = loaders.judge_ids_type(types[0], LOADER)
    judge_mask_type(types[1], batch, seq, "input_mask", "seq")
    loaders.judge_cache_types(types[2], cfg, batch, seq, LOADER)
    judge_mask_type(types[3], batch, types[2][0][0].shape[2].name, "past_mask", "past")
    loaders.judge_weights(ctx, call, hf, converted, LOADER)
    loaders.judge_trace(ctx, call, LOADER, "symbolic batch, seq and past")
    calls = ragged_calls(ctx, cfg)[:2]
    want = alone(ours, cfg, calls)
    err = 0.0
    for n, (label, got) in enumerate(run_model(ctx, cfg, learner_forward(ctx, model, cfg), calls)):
        err = max(err, float(np.abs(got - want[n]).max()))
        if not err <= TOLERANCE:
            raise CheckFailed(f"what {LOADER} returned, on {label}: the logits differ from each row's alone by up to "
                              f"{err:.3g}, with the model and weights it passed to Module.compile "
                              "(GPT2BatchedLMHeadModel itself matched): does it build the model and load the converted "
                              "weights as the checks did?")
    return (f"the graph traces with symbolic batch, seq and past in {call.trace_seconds:.2f} s; a ragged prefill "
            f"and a step through what it returned match, max abs error {err:.1e}" + loaders.branch_note(call))


def judge_mask_type(t, batch, length, name, expected):
    """input_mask [batch, seq] and past_mask [batch, past]: int64, their length the ids' or the cache's dim."""
    from max.dtype import DType
    from max.graph import TensorType

    if not isinstance(t, TensorType):
        raise CheckFailed(f"{LOADER}: {name}'s input type is a {type(t).__name__}, not a TensorType")
    dims = [getattr(d, "name", str(d)) for d in t.shape]
    if t.dtype != DType.int64:
        raise CheckFailed(f"{LOADER}: {name}'s TensorType is {t.dtype}: the masks are int64 0s and 1s, as the "
                          "tutor passes them")
    if dims != [batch, length]:
        raise CheckFailed(f"{LOADER}: {name}'s TensorType is {[str(d) for d in t.shape]}: expected "
                          f"[{batch!r}, {length!r}], the same names as the {'ids' if expected == 'seq' else 'cache'}' "
                          f"(an input type's dims are names, never an expression such as past + seq)")


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return loaders.loader_on_gpu(ctx, LOADER, cfg, hf_checkpoint(ctx, cfg, prefixed=False)[0])
