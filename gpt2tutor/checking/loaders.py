"""Judging what a learner's loader passed to Module.compile (steps 12 and 13), from the recorded call, and the
random HF checkpoint the loaders are given.

The check runs their `load_gpt2` / `load_cached_gpt2` with Module.compile recorded and traced instead of run
(compiles.py): these helpers name what is wrong with the module, the input types, the
weights and the trace, each mistake in its own words, in the time a trace takes. The numbers are judged
after, by running what their loader returned (eagerly, with the weights they passed).
"""

from __future__ import annotations

import numpy as np

from ..frames import learner_traceback
from .compiles import recording, select_into_softmax, symbolic_hint
from .failure import CheckFailed
from .parameters import parameter_shapes

NAN_MASK = ("your attention masks the scores with F.where(mask, -inf, scores) (or its mirror) right before the "
            "softmax. That is right eagerly, but MAX 26.7's compiler fuses softmax(where(mask, -inf, s)) @ v into "
            "one attention kernel that multiplies the mask by -inf, so every visible key gets 0 * -inf = NaN and "
            "every compiled logit is NaN. Add the mask instead: scores + mask, with mask 0 where a key is visible "
            "and -inf elsewhere (causal_mask builds one)")


CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")  # HF's, [in, out]


def hf_checkpoint(ctx, cfg, *, prefixed):
    """A random GPT-2 state dict as HuggingFace stores it: Conv1D weights [in, out], the mask buffers, and
    (in the prefixed form, saved from GPT2LMHeadModel) lm_head.weight equal to wte; without the prefix (saved
    from GPT2Model) there is no lm_head. Returns (hf_state_dict, our GPT2LMHeadModel's dict)."""
    ours = ctx.random_weights(ctx.reference_shapes("GPT2LMHeadModel", cfg))
    ours["lm_head.weight"] = ours["transformer.wte.weight"].copy()
    hf = {}
    for name, value in ours.items():
        if name == "lm_head.weight":
            continue
        key = name if prefixed else name.removeprefix("transformer.")
        hf[key] = np.ascontiguousarray(value.T) if name.endswith(CONV1D) else value.copy()
    for i in range(cfg.n_layer):
        key = f"transformer.h.{i}.attn" if prefixed else f"h.{i}.attn"
        hf[f"{key}.bias"] = np.tril(np.ones((cfg.n_positions, cfg.n_positions), dtype=np.float32))[None, None]
        hf[f"{key}.masked_bias"] = np.array(-1e4, dtype=np.float32)
    if prefixed:
        hf["lm_head.weight"] = hf["transformer.wte.weight"]  # tied: the same array, as HF saves it
    return hf, ours


def random_model(ctx, cfg, name: str):
    """The learner's GPT2LMHeadModel subclass `name`, built lazily and holding a random HF checkpoint's weights
    (ours): (model, the HF state dict, ours)."""
    from max.experimental import functional as F

    cls = ctx.module_class(name)
    hf, ours = hf_checkpoint(ctx, cfg, prefixed=True)
    with F.lazy():
        model = ctx.call(f"{name}(config)", cls, cfg)
    ctx.load(model, ours, name)
    return model, hf, ours


def recorded(ctx, loader: str, cfg, hf: dict, expected: type, name: str):
    """Runs the learner's `loader(cfg, hf)` with Module.compile recorded: (what it returned, the call, what their
    conversion gives for `hf`), once it compiled an instance of `expected`."""
    converted = ctx.call("convert_hf_state_dict", ctx.learner.convert_hf_state_dict, {k: v.copy() for k, v in hf.items()})
    model, call = ctx.recorded_compile(f"{loader}(config, state_dict)", getattr(ctx.learner, loader), cfg, hf)
    call = the_call(ctx, model, call, loader)
    judge_module(call, expected, name, loader)
    return model, call, converted


def the_call(ctx, result, call, loader: str):
    """The recorded call, once the loader did call Module.compile and returned what it gave back."""
    from max.experimental.nn import Module

    if call is None:
        if isinstance(result, Module):
            raise CheckFailed(f"{loader} returned the module itself, which runs op by op: return what "
                              "model.compile(...) returns")
        raise CheckFailed(f"{loader} never called Module.compile: build the model under F.lazy(), then return "
                          "model.compile(input types..., weights=...)")
    if isinstance(result, Module):
        raise CheckFailed(f"{loader} returned the module itself, which runs op by op: return what "
                          "model.compile(...) returns")
    if not callable(result):
        raise CheckFailed(f"{loader} returned a {type(result).__name__}: return the compiled model")
    return call


def judge_module(call, expected: type, name: str, loader: str) -> None:
    from max.dtype import DType

    if not isinstance(call.module, expected):
        raise CheckFailed(f"{loader} compiled a {type(call.module).__name__}: compile your {name}")
    wrong = [(n, t.dtype) for n, t in call.module.parameters if t.dtype != DType.float32]
    if wrong:
        raise CheckFailed(f"{wrong[0][0]} is {wrong[0][1]}: build the model under default_dtype(DType.float32), as "
                          "GPT-2's weights are float32")


def _dims(t) -> list:
    return list(t.shape)


def _symbolic(dim) -> bool:
    from max.graph import SymbolicDim

    return isinstance(dim, SymbolicDim)


def judge_ids_type(t, loader: str, position: str = "the first input type") -> tuple[str, str]:
    """ids: int64, [batch, seq], both symbolic. Returns the two dims' names."""
    from max.dtype import DType
    from max.graph import TensorType

    if not isinstance(t, TensorType):
        raise CheckFailed(f"{loader}: {position} is a {type(t).__name__}, not a TensorType: "
                          "TensorType(DType.int64, [\"batch\", \"seq\"], DeviceRef.from_device(device))")
    if t.dtype != DType.int64:
        raise CheckFailed(f"{loader}: the token ids' TensorType is {t.dtype}: ids are int64 (DType.int64), as "
                          "the tokenizer gives them and Embedding takes them")
    dims = _dims(t)
    if len(dims) != 2:
        raise CheckFailed(f"{loader}: the token ids' TensorType has {len(dims)} dims {[str(d) for d in dims]}; "
                          "ids are [batch, seq]")
    static = [str(d) for d in dims if not _symbolic(d)]
    if static:
        raise CheckFailed(f"{loader}: the token ids' TensorType is {[str(d) for d in dims]}: a static size "
                          "compiles a graph for that size only (any other batch or length is refused). Name the "
                          "dims instead: [\"batch\", \"seq\"] are symbolic, any size")
    if dims[0].name == dims[1].name:
        raise CheckFailed(f"{loader}: the token ids' TensorType names both dims {dims[0].name!r}: the graph then "
                          "accepts only batch == seq. Give them two names, [\"batch\", \"seq\"]")
    return dims[0].name, dims[1].name


def judge_weights(ctx, call, hf: dict, converted: dict, loader: str) -> None:
    """`weights=` holds what their own conversion gives for this checkpoint, fitting every parameter."""
    if call.weights is None:
        raise CheckFailed(f"{loader} compiled without weights=: the graph then holds the model's own random "
                          "initial values. Pass the converted state dict: model.compile(..., weights=converted)")
    weights = call.weights
    if not hasattr(weights, "keys"):
        raise CheckFailed(f"{loader}: weights= is a {type(weights).__name__}: pass the dict your "
                          "convert_hf_state_dict returns")
    keys = set(weights.keys())
    if keys == set(hf) and keys != set(converted):
        raise CheckFailed(f"{loader} passed the HF state dict as it came (HF's names, Conv1D weights [in, out]) "
                          "to weights=: convert it first with your convert_hf_state_dict")
    params = parameter_shapes(call.module)
    missing = sorted(set(params) - keys)
    if missing:
        raise CheckFailed(f"{loader}: weights= has no {missing[0]}" + (f" (and {len(missing) - 1} more)" if
                          len(missing) > 1 else "") + ": Module.compile looks up every parameter of the model by "
                          "its name, so the converted dict must hold them all")
    for name, shape in params.items():
        value = np.asarray(weights[name])
        if value.shape != shape:
            raise CheckFailed(f"{loader}: weights={name!r} has shape {list(value.shape)}; the parameter is "
                              f"{list(shape)}")
        if name in converted and not np.array_equal(value, np.asarray(converted[name])):
            raise CheckFailed(f"{loader}: weights={name!r} is not what your convert_hf_state_dict gives for "
                              "this checkpoint: pass the converted state dict of the checkpoint given")


def judge_trace(ctx, call, loader: str, dims: str = "symbolic dims") -> None:
    """The graph traced: else why not, the symbolic-dim hint first when that is the trouble."""
    if call.error is not None:
        hint = symbolic_hint(call.error)
        lead = f"{loader}'s model does not trace with {dims}: {hint}" if hint else \
            f"{loader}'s model does not trace into a graph (Module.compile would fail the same way)"
        raise CheckFailed(f"{lead}\n{learner_traceback(call.error, ctx.exercises)}")
    if select_into_softmax(call.graph_text):
        raise CheckFailed(f"{loader}: {NAN_MASK}")


def branch_note(call) -> str:
    """A note for a passing check: the learner's lines that compare a symbolic dim, decided once when tracing."""
    if not call.dim_branches:
        return ""
    lines = "; ".join(call.dim_branches[:3])
    return (f". Note: {lines} compares a symbolic dim: in the graph it has no value, `==` gives a plain bool "
            "and `if dim:` is always true, so one branch is decided when tracing and taken on every call; the "
            "background compile checks the compiled numbers")


def judge_cache_types(cache, cfg, batch: str, seq: str, loader: str) -> None:
    """The second input type: one (key, value) pair per block, each float32 [batch, n_head, past, head_dim],
    `past` a symbolic length of its own."""
    from max.dtype import DType
    from max.graph import TensorType

    if not isinstance(cache, (list, tuple)):
        raise CheckFailed(f"{loader}: the cache's input type is a {type(cache).__name__}: give a list with one "
                          "(key type, value type) pair per block, [(kv, kv)] * config.n_layer")
    if len(cache) != cfg.n_layer:
        raise CheckFailed(f"{loader}: the cache's input type has {len(cache)} pairs for {cfg.n_layer} blocks: one "
                          "(key type, value type) pair per block")
    head_dim = cfg.n_embd // cfg.n_head
    for i, pair in enumerate(cache):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise CheckFailed(f"{loader}: entry {i} of the cache's input type is not a (key type, value type) pair")
        for part, t in zip(("key", "value"), pair):
            what = f"{loader}: block {i}'s cached {part} type"
            if not isinstance(t, TensorType):
                raise CheckFailed(f"{what} is a {type(t).__name__}, not a TensorType")
            if t.dtype != DType.float32:
                raise CheckFailed(f"{what} is {t.dtype}: the cache holds the model's keys and values, float32")
            dims = _dims(t)
            shown = [str(d) for d in dims]
            if len(dims) != 4:
                raise CheckFailed(f"{what} is {shown}: keys and values are [batch, n_head, past, head_dim]")
            b, h, p, d = dims
            if _symbolic(h) or int(h) != cfg.n_head or _symbolic(d) or int(d) != head_dim:
                raise CheckFailed(f"{what} is {shown}: its heads and their width are fixed by the config, "
                                  f"[batch, {cfg.n_head}, past, {head_dim}] (config.n_head, n_embd // n_head)")
            if not _symbolic(p):
                raise CheckFailed(f"{what} is {shown}: a static cache length compiles a graph for that one length, "
                                  "but the cache grows by every token. Name it: [\"batch\", n_head, \"past\", head_dim]")
            if p.name == seq:
                raise CheckFailed(f"{what} is {shown}: its length has the name {seq!r}, like the new tokens' in the "
                                  "ids' type, so the graph requires the cache to be exactly as long as the new "
                                  "tokens (MAX refuses the first call whose lengths differ: \"symbolic dimension "
                                  f"'{seq}' ... does not match prior uses\"). Give the cache's length a name of its "
                                  "own: \"past\"")
            if p.name == batch:
                raise CheckFailed(f"{what} is {shown}: its length has the name {batch!r}, like the batch: give it a "
                                  "name of its own, \"past\"")
            if not _symbolic(b) or b.name != batch:
                raise CheckFailed(f"{what} is {shown}: its first dim is the batch, the same as the ids' ({batch!r}): "
                                  f"[{batch!r}, n_head, \"past\", head_dim]")


def loader_on_gpu(ctx, loader: str, cfg, hf: dict) -> str:
    """The GPU check of a loader's step (ctx.on_gpu): the learner's `loader(cfg, hf, device=<a GPU>)`."""
    return ctx.on_gpu(f"{loader}(config, state_dict, device=<a GPU>)", lambda gpu: _on_gpu(ctx, loader, cfg, hf, gpu))


def _on_gpu(ctx, loader: str, cfg, hf: dict, gpu) -> list:
    """Runs the learner's `loader(cfg, hf, device=gpu)` with Module.compile recorded: a trace that failed is
    raised (a device mistake is named there), and the input types and parameters are returned, which should all
    be on the GPU. Nothing when the loader never compiled (the other checks say so)."""
    with recording(ctx.exercises) as calls:
        getattr(ctx.learner, loader)(cfg, {k: v.copy() for k, v in hf.items()}, device=gpu)
    if not calls:
        return []
    call = calls[-1]
    if call.error is not None:
        raise call.error
    types, todo = [], list(call.input_types)
    while todo:
        item = todo.pop()
        if isinstance(item, (list, tuple)):
            todo.extend(item)
        else:
            types.append(item)
    return types + [t for _, t in call.module.parameters]
