"""Step 12 checks: convert_hf_state_dict and load_gpt2.

The conversion is judged entry by entry against what it must give (cheap, and each classic mistake has a
shape of its own: which names are missing or extra, which weights came out transposed). Then load_gpt2 runs
with Module.compile recorded and traced instead of compiled (see gpt2tutor/checking/loaders.py): what it compiled, the input
types and weights it passed and whether the graph traces are judged in the time a trace takes, and its
model's logits for two input shapes are compared with a numpy GPT-2 holding the same weights.
"""

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, StepChecks, loaders
from gpt2tutor.checking.loaders import CONV1D, hf_checkpoint
from gpt2tutor.checking.numpy_gpt2 import lm_logits

checks = StepChecks()

ATTENTION, MLP = CONV1D[:2], CONV1D[2:]
LOADER = "load_gpt2"


def _name_problems(got, expected, form):
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if not missing and not extra:
        return
    if any(k.startswith(("transformer.transformer.", "transformer.lm_head")) for k in extra):
        raise CheckFailed(f"on a checkpoint {form}, your keys include {next(k for k in extra if k.startswith('transformer.'))}:"
                          " the `transformer.` prefix was added to a name that already had it (or to lm_head). "
                          "Strip it first when present, then add it once to every body weight")
    if extra and all(k.startswith(("h.", "wte.", "wpe.", "ln_f.")) for k in extra):
        raise CheckFailed(f"on a checkpoint {form}, your keys lack the `transformer.` prefix (e.g. {extra[0]}): "
                          "your GPT2LMHeadModel names them transformer.h.0..., transformer.wte.weight, ...")
    if any(k.endswith((".attn.bias", ".attn.masked_bias")) for k in extra):
        shown = next(k for k in extra if k.endswith((".attn.bias", ".attn.masked_bias")))
        raise CheckFailed(f"on a checkpoint {form}, your result holds {shown}: the buffers attn.bias and "
                          "attn.masked_bias are the causal mask HF precomputed, not parameters; your model makes its "
                          "own mask (step 02). The contract drops them: the result holds your model's names, and no "
                          "other (Module.compile would skip them, but load_state_dict refuses them)")
    if any(k.endswith("attn.c_attn.bias") for k in missing):
        raise CheckFailed(f"on a checkpoint {form}, {next(k for k in missing if k.endswith('c_attn.bias'))} is missing: "
                          "it is a real parameter whose name ends like the attn.bias buffer; match the buffer with "
                          "its dot, `.attn.bias`")
    if missing == ["lm_head.weight"]:
        raise CheckFailed(f"on a checkpoint {form}, lm_head.weight is missing: GPT-2's head is tied to the token "
                          "embeddings, and files saved from GPT2Model don't store it. Add a copy of "
                          "transformer.wte.weight")
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else ""))
    if extra:
        parts.append("unexpected " + ", ".join(extra[:3]) + (" ..." if len(extra) > 3 else ""))
    raise CheckFailed(f"on a checkpoint {form}, the names are not your GPT2LMHeadModel's: {'; '.join(parts)}")


def _layout_problems(got, expected, form):
    wrong, transposed = [], []
    for name, want in expected.items():
        value = got[name]
        if not isinstance(value, np.ndarray):
            try:
                value = np.asarray(value)
            except Exception:
                raise CheckFailed(f"{name} is a {type(value).__name__}, not a numpy array") from None
        if value.shape == want.shape and np.allclose(value, want, atol=1e-6):
            if value.dtype != np.float32:
                raise CheckFailed(f"{name} is {value.dtype}: GPT-2's weights are float32 (np.asarray(x, np.float32))")
            if not value.flags.c_contiguous:
                raise CheckFailed(f"{name} is a transposed view, not a contiguous array: MAX takes a contiguous "
                                  "array as it is, without a copy, so the contract asks for contiguous arrays: finish "
                                  "with np.ascontiguousarray")
            continue
        if value.ndim == 2 and value.T.shape == want.shape and np.allclose(value.T, want, atol=1e-6):
            transposed.append(name)
        else:
            wrong.append(name)
    if not wrong and not transposed:
        return
    kinds = {suffix for k in transposed for suffix in CONV1D if k.endswith(suffix)}
    embeddings = [k for k in transposed if k.endswith(("wte.weight", "wpe.weight"))]
    if embeddings:
        raise CheckFailed(f"{embeddings[0]} came out transposed: only HF's four Conv1D weights (attn.c_attn, "
                          "attn.c_proj, mlp.c_fc, mlp.c_proj) are stored [in, out]. The embedding tables are "
                          "lookups, [rows, n_embd], already as Embedding wants them: transpose only the Conv1D ones")
    if "lm_head.weight" in wrong:
        raise CheckFailed("lm_head.weight does not hold transformer.wte.weight's values: GPT-2's head is tied to the "
                          "token embeddings, so give lm_head a copy of wte (not random values, not transposed)")
    untouched = [k for k in transposed if k.endswith(CONV1D)]
    if untouched:
        if set(kinds) == set(CONV1D):
            raise CheckFailed(f"on a checkpoint {form}, the Conv1D weights were not transposed (e.g. {untouched[0]}): "
                              "HF's Conv1D stores [in, out] and Linear wants [out, in]. Transpose attn.c_attn, "
                              "attn.c_proj, mlp.c_fc and mlp.c_proj (`.T`)")
        if set(kinds) <= set(MLP):
            raise CheckFailed(f"{untouched[0]} is still [in, out]: only the attention's projections were transposed. "
                              "The MLP's c_fc and c_proj are Conv1D layers too")
        if set(kinds) <= set(ATTENTION):
            raise CheckFailed(f"{untouched[0]} is still [in, out]: only the MLP's projections were transposed. "
                              "The attention's c_attn and c_proj are Conv1D layers too")
        raise CheckFailed(f"{untouched[0]} is still [in, out] (HF's Conv1D layout): transpose every one of attn.c_attn, "
                          "attn.c_proj, mlp.c_fc and mlp.c_proj")
    if transposed:
        raise CheckFailed(f"{transposed[0]} came out transposed: only the four Conv1D weights need `.T`")
    raise CheckFailed(f"{wrong[0]} does not hold the checkpoint's values (shape {list(np.shape(got[wrong[0]]))}, "
                      f"expected {list(expected[wrong[0]].shape)})")


# --- the checks ---------------------------------------------------------------------------------

@checks.structure("convert_hf_state_dict(state_dict) and load_gpt2(config, state_dict, device=None) exist")
def structure(ctx):
    ctx.function("convert_hf_state_dict", ["state_dict"])
    ctx.function("load_gpt2", ["config", "state_dict", "device"])


@checks.behaviour("convert_hf_state_dict gives your model's names and layouts, from both forms of HF checkpoint")
def conversion(ctx):
    cfg = ctx.config()
    details = []
    for prefixed in (True, False):
        form = "saved with the `transformer.` prefix" if prefixed else "saved without the `transformer.` prefix"
        hf, expected = hf_checkpoint(ctx, cfg, prefixed=prefixed)
        given = {k: v.copy() for k, v in hf.items()}
        got = ctx.call("convert_hf_state_dict", ctx.learner.convert_hf_state_dict, given)
        if not isinstance(got, dict):
            raise CheckFailed(f"convert_hf_state_dict returned a {type(got).__name__}, not a dict of arrays")
        _name_problems(got, expected, form)
        _layout_problems(got, expected, form)
        details.append(f"{len(hf)} HF entries -> {len(got)}")
    return "both key forms convert exactly (" + "; ".join(details) + ")"


@checks.behaviour("load_gpt2 compiles your GPT2LMHeadModel for int64 ids [batch, seq], symbolic, with your converted "
                  "weights; its logits match GPT-2's to 1e-4")
def compiled_logits(ctx):
    import importlib

    cfg = ctx.config()
    hf, ours = hf_checkpoint(ctx, cfg, prefixed=False)
    model, call, converted = loaders.recorded(ctx, LOADER, cfg, hf, importlib.import_module("step_11").GPT2LMHeadModel,
                                                "GPT2LMHeadModel")
    if len(call.input_types) != 1:
        raise CheckFailed(f"{LOADER} gave Module.compile {len(call.input_types)} input types: GPT2LMHeadModel's "
                          "forward takes one input, the token ids")
    loaders.judge_ids_type(call.input_types[0], LOADER)
    loaders.judge_weights(ctx, call, hf, converted, LOADER)
    loaders.judge_trace(ctx, call, LOADER)
    worst = 0.0
    for shape in [(1, 5), (3, 7)]:
        ids = ctx.token_ids(cfg.vocab_size, *shape)
        out = ctx.call(f"your model on input_ids of shape {list(shape)}", model, ctx.tensor(ids))
        if isinstance(out, (list, tuple)) and len(out) == 1:
            out = out[0]
        got = ctx.as_array(out, "your model")
        want = lm_logits(ours, ids, cfg)
        if got.shape != want.shape:
            raise CheckFailed(f"your model gave logits of shape {list(got.shape)} for input_ids "
                              f"{list(shape)}, expected {list(want.shape)}")
        err = float(np.abs(got - want).max())
        if not err <= 1e-4:
            raise CheckFailed(f"your model's logits for input_ids {list(shape)} differ from GPT-2's by up to "
                              f"{err:.3g} (more than 1e-4), with the weights load_gpt2 passed")
        worst = max(worst, err)
    return (f"the graph traces with symbolic [batch, seq] in {call.trace_seconds:.2f} s; logits for [1, 5] and "
            f"[3, 7] match, max abs error {worst:.1e}" + loaders.branch_note(call))


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return loaders.loader_on_gpu(ctx, LOADER, cfg, hf_checkpoint(ctx, cfg, prefixed=False)[0])
