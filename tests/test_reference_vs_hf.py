"""The MAX reference modules against HuggingFace transformers' GPT-2 in PyTorch.

Both sides hold the same random weights (PyTorch draws them; step 12's conversion, the tutor's one
converter, carries them over, so it is tested too, and against a layout worked out here by hand) and see
the same inputs. Agreement is
measured as the max absolute difference in float32: <= 1e-4 for the modules, <= 1e-3 on the
logits of the full 124M configuration.

HuggingFace's GPT2Attention and GPT2Block apply no causal mask when called on their own with
the eager attention (GPT2Model builds the mask and passes it down), so the tests for those two
hand them an explicit additive causal mask, and assert that the unmasked output is different:
a non-causal reference could not pass.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpt2tutor.maxenv import tune_process

tune_process()  # before MAX runs anything eagerly: ~15x faster ops

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from max.driver import CPU  # noqa: E402
from max.dtype import DType  # noqa: E402
from max.experimental import functional as F  # noqa: E402
from max.experimental.tensor import Tensor  # noqa: E402
from serving_support import checkpoint_sizes  # noqa: E402
from transformers.models.gpt2 import modeling_gpt2 as hf  # noqa: E402

from gpt2tutor.course.reference.step_01 import GPT2Config  # noqa: E402
from gpt2tutor.course.reference.step_02 import causal_mask  # noqa: E402
from gpt2tutor.course.reference.step_03 import LayerNorm  # noqa: E402
from gpt2tutor.course.reference.step_04 import GPT2MLP  # noqa: E402
from gpt2tutor.course.reference.step_05 import GPT2Embeddings  # noqa: E402
from gpt2tutor.course.reference.step_06 import GPT2PositionEmbeddings  # noqa: E402
from gpt2tutor.course.reference.step_07 import GPT2MultiHeadAttention  # noqa: E402
from gpt2tutor.course.reference.step_09 import GPT2Block  # noqa: E402
from gpt2tutor.course.reference.step_10 import GPT2Model  # noqa: E402
from gpt2tutor.course.reference.step_11 import GPT2LMHeadModel  # noqa: E402
from gpt2tutor.course.reference.step_12 import convert_hf_state_dict, load_gpt2  # noqa: E402
from gpt2tutor.course.reference.step_13 import GPT2CachedLMHeadModel, load_cached_gpt2  # noqa: E402
from gpt2tutor.course.reference.step_14 import generate_tokens  # noqa: E402

MODULE_TOL = 1e-4
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def hf_to_max(state: dict) -> dict[str, np.ndarray]:
    """HF's names to ours, through the conversion step's reference (the one converter the tutor has)."""
    return convert_hf_state_dict(state)


def by_hand(theirs) -> dict[str, np.ndarray]:
    """What the conversion must give, worked out here from HF's own modules: every parameter under
    `transformer.` (the head apart), HF's Conv1D weights [in, out] transposed to Linear's [out, in], no mask
    buffers, and lm_head equal to the token embeddings."""
    out = {}
    for name, value in theirs.state_dict().items():
        if name.endswith((".attn.bias", ".attn.masked_bias")) and not name.endswith("c_attn.bias"):
            continue
        array = value.detach().numpy()
        out[name] = array.T if name.endswith(CONV1D) else array
    out["lm_head.weight"] = theirs.transformer.wte.weight.detach().numpy()
    return out
LOGITS_124M_TOL = 1e-3

# Small configurations with odd sizes, so that mixed-up axes show: (n_embd, n_head, n_inner, n_layer).
SMALL = {
    "d32h4": dict(vocab_size=61, n_positions=24, n_embd=32, n_layer=2, n_head=4, n_inner=96),
    "d48h3": dict(vocab_size=53, n_positions=32, n_embd=48, n_layer=3, n_head=3, n_inner=80,
                  layer_norm_epsilon=1e-3),  # not LayerNorm's default, so a module that ignores the config fails
}
SHAPES = [(1, 1), (2, 5), (3, 7), (1, 13)]  # (batch, seq)


# --- the two sides -----------------------------------------------------------------------------


def configs(sizes: dict) -> tuple[GPT2Config, transformers.GPT2Config]:
    sizes = {"layer_norm_epsilon": 1e-5, **sizes}
    ours = GPT2Config(**sizes)
    theirs = transformers.GPT2Config(
        **sizes, activation_function="gelu_new",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=0, eos_token_id=None, pad_token_id=0,
        attn_implementation="eager",  # the plain softmax(QK^T/sqrt(d) + mask) V, no fused kernel
    )
    assert theirs._attn_implementation == "eager"
    return ours, theirs


def hf_random(cls, *args, seed: int, **kwargs) -> torch.nn.Module:
    """An HF module with random weights at a scale where every parameter matters, in eval mode.

    HF's own init (std 0.02, unit LayerNorms, zero biases) makes most terms negligible, and for 124M
    it costs seconds: the module is built on the meta device and its storage filled here instead.
    LayerNorm scales are 1 +- 0.2 (never exactly 1), biases +-0.2, Conv1D weights [in, out] have
    std 1/sqrt(in) so activations stay near unit scale, embeddings std 1. Unit-variance uniform
    noise: half the cost of normal for the 124M parameters.
    """
    with torch.device("meta"):
        module = cls(*args, **kwargs)
    module = module.to_empty(device="cpu")
    assert not list(module.buffers()), "a buffer would be left uninitialized by to_empty"
    if hasattr(module, "tie_weights"):
        module.tie_weights()  # to_empty unties lm_head from wte
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.uniform_(-math.sqrt(3.0), math.sqrt(3.0), generator=gen)
            if p.ndim == 1 and name.endswith("weight"):
                p.mul_(0.2).add_(1.0)
            elif p.ndim == 1:
                p.mul_(0.2)
            elif not name.endswith(("wte.weight", "wpe.weight")):  # Conv1D: [in, out]
                p.mul_(1.0 / math.sqrt(p.shape[0]))
    return module.eval()


def sub_state(module: torch.nn.Module, prefix: str) -> dict[str, np.ndarray]:
    """A sub-module's HF weights under our names: placed at `prefix` inside a GPT2Model, converted, stripped."""
    state = {prefix + k: v.detach().numpy() for k, v in module.state_dict().items()}
    state.setdefault("wte.weight", np.zeros((1, 1), np.float32))  # the conversion ties lm_head to a wte
    converted = hf_to_max(state)
    full = "transformer." + prefix
    return {k.removeprefix(full): v for k, v in converted.items() if k.startswith(full)}


def build(cls, *args, **kwargs):
    with F.lazy():
        return cls(*args, **kwargs)


def to_max(array: np.ndarray) -> Tensor:
    return Tensor.from_dlpack(np.ascontiguousarray(array))


def to_numpy(t) -> np.ndarray:
    return np.asarray(t.to_numpy())


def torch_causal_mask(seq: int) -> torch.Tensor:
    """HF's eager attention adds attention_mask to the scores: 0 on and below the diagonal, -inf above."""
    return torch.triu(torch.full((seq, seq), float("-inf")), diagonal=1)[None, None]


def inputs(batch: int, seq: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, seq, dim)) * 1.5 + 0.3).astype(np.float32)


def max_diff(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b)))


# --- step 02: causal_mask -------------------------------------------------------------------


@pytest.mark.parametrize("seq, num_tokens", [(1, 0), (1, 5), (4, 0), (5, 3), (7, 1), (3, 9), (16, 0)])
def test_causal_mask_matches_triu(seq, num_tokens):
    got = to_numpy(causal_mask(seq, num_tokens, dtype=DType.float32, device=CPU()))
    # query i sits at absolute position num_tokens + i and may see keys 0 .. num_tokens + i
    expected = torch.triu(torch.full((seq, seq + num_tokens), float("-inf")), diagonal=num_tokens + 1).numpy()
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), f"\ngot\n{got}\nexpected\n{expected}"


# --- step 03: LayerNorm -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 8), (2, 5, 32), (3, 7, 48), (4, 768)])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layer_norm_matches_torch(shape, eps):
    dim = shape[-1]
    rng = np.random.default_rng(dim)
    x = (rng.standard_normal(shape) * 3.0 + 2.0).astype(np.float32)  # far from mean 0, variance 1
    gamma = (1.0 + 0.3 * rng.standard_normal(dim)).astype(np.float32)
    beta = (0.3 * rng.standard_normal(dim)).astype(np.float32)
    ours = build(LayerNorm, dim, eps=eps)
    ours.load_state_dict({"weight": gamma, "bias": beta})
    expected = torch.nn.functional.layer_norm(
        torch.from_numpy(x), (dim,), torch.from_numpy(gamma), torch.from_numpy(beta), eps
    ).numpy()
    assert max_diff(to_numpy(ours(to_max(x))), expected) <= MODULE_TOL


def test_layer_norm_takes_eps_from_constructor():
    dim = 16
    x = (np.random.default_rng(0).standard_normal((2, 3, dim)) * 0.05).astype(np.float32)  # small variance: eps shows
    ours = build(LayerNorm, dim, eps=1e-2)
    ours.load_state_dict({"weight": np.ones(dim, np.float32), "bias": np.zeros(dim, np.float32)})
    expected = torch.nn.functional.layer_norm(torch.from_numpy(x), (dim,), eps=1e-2).numpy()
    assert max_diff(to_numpy(ours(to_max(x))), expected) <= MODULE_TOL


# --- step 04: GPT2MLP -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_mlp_matches_hf(name):
    ours_cfg, hf_cfg = configs(SMALL[name])
    theirs = hf_random(hf.GPT2MLP, hf_cfg.n_inner, hf_cfg, seed=4)
    ours = build(GPT2MLP, ours_cfg.n_inner, ours_cfg)
    ours.load_state_dict(sub_state(theirs, "h.0.mlp."))
    for i, (b, s) in enumerate(SHAPES):
        x = inputs(b, s, ours_cfg.n_embd, seed=i)
        with torch.no_grad():
            expected = theirs(torch.from_numpy(x)).numpy()
        assert max_diff(to_numpy(ours(to_max(x))), expected) <= MODULE_TOL, (b, s)


# --- steps 05 and 06: embeddings -----------------------------------------------------------------


def test_embeddings_match_hf():
    ours_cfg, hf_cfg = configs(SMALL["d32h4"])
    theirs = hf_random(hf.GPT2Model, hf_cfg, seed=5)
    tok = build(GPT2Embeddings, ours_cfg)
    tok.load_state_dict({"wte.weight": theirs.wte.weight.detach().numpy()})
    pos = build(GPT2PositionEmbeddings, ours_cfg)
    pos.load_state_dict({"wpe.weight": theirs.wpe.weight.detach().numpy()})
    for i, (b, s) in enumerate(SHAPES):
        ids = np.random.default_rng(i).integers(0, ours_cfg.vocab_size, (b, s), dtype=np.int64)
        with torch.no_grad():
            want_tok = theirs.wte(torch.from_numpy(ids)).numpy()
            want_pos = theirs.wpe(torch.arange(s)[None]).numpy()  # [1, s, d], as GPT2Model does
        assert max_diff(to_numpy(tok(to_max(ids))), want_tok) == 0.0
        got_pos = to_numpy(pos(to_max(ids)))
        assert max_diff(np.broadcast_to(got_pos, want_tok.shape), np.broadcast_to(want_pos, want_tok.shape)) == 0.0


# --- step 07: GPT2MultiHeadAttention --------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_attention_matches_hf_with_causal_mask(name):
    ours_cfg, hf_cfg = configs(SMALL[name])
    theirs = hf_random(hf.GPT2Attention, hf_cfg, layer_idx=0, seed=7)
    ours = build(GPT2MultiHeadAttention, ours_cfg)
    ours.load_state_dict(sub_state(theirs, "h.0.attn."))
    for i, (b, s) in enumerate(SHAPES):
        x = inputs(b, s, ours_cfg.n_embd, seed=10 + i)
        got = to_numpy(ours(to_max(x)))
        with torch.no_grad():
            expected, _ = theirs(torch.from_numpy(x), attention_mask=torch_causal_mask(s))
            unmasked, _ = theirs(torch.from_numpy(x))  # eager GPT2Attention on its own: no causal mask
        assert max_diff(got, expected.numpy()) <= MODULE_TOL, (b, s)
        if s > 1:
            # the test would catch a non-causal reference: without the mask HF's answer is far from ours
            assert max_diff(got, unmasked.numpy()) > 1e-2, (b, s)


def test_attention_never_looks_ahead():
    """Changing the last token changes no earlier position's output (independent of HF)."""
    ours_cfg, hf_cfg = configs(SMALL["d32h4"])
    theirs = hf_random(hf.GPT2Attention, hf_cfg, layer_idx=0, seed=8)
    ours = build(GPT2MultiHeadAttention, ours_cfg)
    ours.load_state_dict(sub_state(theirs, "h.0.attn."))
    x = inputs(2, 6, ours_cfg.n_embd, seed=1)
    y = x.copy()
    y[:, -1, :] += 5.0
    a, b = to_numpy(ours(to_max(x))), to_numpy(ours(to_max(y)))
    assert max_diff(a[:, :-1], b[:, :-1]) <= 1e-6
    assert max_diff(a[:, -1], b[:, -1]) > 1e-2


# --- step 09: GPT2Block ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_block_matches_hf_with_causal_mask(name):
    ours_cfg, hf_cfg = configs(SMALL[name])
    theirs = hf_random(hf.GPT2Block, hf_cfg, layer_idx=0, seed=9)
    ours = build(GPT2Block, ours_cfg)
    ours.load_state_dict(sub_state(theirs, "h.0."))
    for i, (b, s) in enumerate(SHAPES):
        x = inputs(b, s, ours_cfg.n_embd, seed=20 + i)
        got = to_numpy(ours(to_max(x)))
        with torch.no_grad():
            expected = theirs(torch.from_numpy(x), attention_mask=torch_causal_mask(s))
            unmasked = theirs(torch.from_numpy(x))
        assert max_diff(got, expected.numpy()) <= MODULE_TOL, (b, s)
        if s > 1:
            assert max_diff(got, unmasked.numpy()) > 1e-2, (b, s)


# --- step 10: GPT2Model ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_model_matches_hf(name):
    ours_cfg, hf_cfg = configs(SMALL[name])
    theirs = hf_random(hf.GPT2Model, hf_cfg, seed=10)
    weights = hf_to_max(theirs.state_dict())
    ours = build(GPT2Model, ours_cfg)
    ours.load_state_dict({k.removeprefix("transformer."): v for k, v in weights.items() if k != "lm_head.weight"})
    for i, (b, s) in enumerate(SHAPES):
        ids = np.random.default_rng(30 + i).integers(0, ours_cfg.vocab_size, (b, s), dtype=np.int64)
        with torch.no_grad():
            expected = theirs(torch.from_numpy(ids)).last_hidden_state.numpy()
        assert max_diff(to_numpy(ours(to_max(ids))), expected) <= MODULE_TOL, (b, s)


@pytest.mark.parametrize("past, new", [(4, 1), (5, 3)])
def test_causal_mask_with_earlier_tokens_matches_hf_past_key_values(past, new):
    """`new` tokens after `past` earlier ones: each layer's new queries attend over the keys of all
    past + new tokens through causal_mask(new, past), against HF's GPT2Model called on the new tokens
    with the past_key_values of the earlier ones (HF builds that mask itself). The reference modules
    give ln, c_attn, c_proj and the MLP; the earlier tokens' hidden states come from the reference block."""
    ours_cfg, hf_cfg = configs(SMALL["d32h4"])
    theirs = hf_random(hf.GPT2Model, hf_cfg, seed=15)
    weights = {k.removeprefix("transformer."): v for k, v in hf_to_max(theirs.state_dict()).items()
               if k != "lm_head.weight"}
    model = build(GPT2Model, ours_cfg)
    model.load_state_dict(weights)
    total, d, n_head = past + new, ours_cfg.n_embd, ours_cfg.n_head
    head_dim = d // n_head
    ids = np.random.default_rng(past * 10 + new).integers(0, ours_cfg.vocab_size, (1, total), dtype=np.int64)
    with torch.no_grad():
        earlier = theirs(torch.from_numpy(ids[:, :past]), use_cache=True)
        expected = theirs(torch.from_numpy(ids[:, past:]), past_key_values=earlier.past_key_values,
                          use_cache=True).last_hidden_state.numpy()

    def heads(t):  # [1, seq, d] -> [1, n_head, seq, head_dim]
        return t.reshape(1, -1, n_head, head_dim).transpose(0, 2, 1, 3)

    mask = to_numpy(causal_mask(new, past, dtype=DType.float32, device=CPU()))  # [new, past + new]

    def run(mask):
        x = weights["wte.weight"][ids] + weights["wpe.weight"][:total][None]  # [1, total, d]
        for block in list(model.h):
            x_past = to_numpy(block(to_max(x[:, :past])))  # the earlier tokens never see the new ones
            q, k, v = np.split(to_numpy(block.attn.c_attn(block.ln_1(to_max(x)))), 3, axis=-1)
            scores = heads(q)[:, :, past:] @ heads(k).transpose(0, 1, 3, 2) / math.sqrt(head_dim) + mask
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            merged = np.ascontiguousarray((probs @ heads(v)).transpose(0, 2, 1, 3).reshape(1, new, d))
            h = x[:, past:] + to_numpy(block.attn.c_proj(to_max(merged)))
            h = h + to_numpy(block.mlp(block.ln_2(to_max(h))))
            x = np.concatenate([x_past, h], axis=1)
        return to_numpy(model.ln_f(to_max(x[:, past:])))

    assert max_diff(run(mask), expected) <= MODULE_TOL
    if new > 1:  # the mask matters here: without it the first new token would see the later ones
        assert max_diff(run(np.zeros_like(mask)), expected) > 1e-2


# --- step 11: GPT2LMHeadModel -----------------------------------------------------------------------


def lm_pair(sizes: dict, seed: int):
    ours_cfg, hf_cfg = configs(sizes)
    theirs = hf_random(hf.GPT2LMHeadModel, hf_cfg, seed=seed)
    assert theirs.lm_head.weight.data_ptr() == theirs.transformer.wte.weight.data_ptr()  # tied in HF
    ours = build(GPT2LMHeadModel, ours_cfg)
    ours.load_state_dict(hf_to_max(theirs.state_dict()))
    return ours, theirs


@pytest.mark.parametrize("name", SMALL)
def test_lm_head_model_matches_hf(name):
    ours, theirs = lm_pair(SMALL[name], seed=11)
    vocab = theirs.config.vocab_size
    for i, (b, s) in enumerate(SHAPES):
        ids = np.random.default_rng(40 + i).integers(0, vocab, (b, s), dtype=np.int64)
        with torch.no_grad():
            expected = theirs(torch.from_numpy(ids)).logits.numpy()
        assert max_diff(to_numpy(ours(to_max(ids))), expected) <= MODULE_TOL, (b, s)


def test_lm_head_model_124m_matches_hf():
    """The full GPT-2 (124M) shape with random weights: one forward of 8 tokens."""
    sizes = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=3072)
    assert GPT2Config(**sizes) == GPT2Config()  # the defaults are GPT-2 (124M)
    ours, theirs = lm_pair(sizes, seed=124)
    ids = np.random.default_rng(124).integers(0, sizes["vocab_size"], (1, 8), dtype=np.int64)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(ids)).logits.numpy()
    got = to_numpy(ours(to_max(ids)))
    assert got.shape == (1, 8, sizes["vocab_size"])
    assert max_diff(got, expected) <= LOGITS_124M_TOL
    assert np.array_equal(got.argmax(-1), expected.argmax(-1))


def test_conversion_drops_mask_buffers_but_keeps_attention_biases():
    """Older GPT-2 checkpoints carry the causal mask as h.N.attn.bias / attn.masked_bias buffers;
    those go, while c_attn.bias and c_proj.bias (which end in "attn.bias" too) stay."""
    ours, theirs = lm_pair(SMALL["d32h4"], seed=13)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    n = theirs.config.n_positions
    for i in range(theirs.config.n_layer):
        state[f"transformer.h.{i}.attn.bias"] = np.tril(np.ones((n, n), np.float32))[None, None]
        state[f"transformer.h.{i}.attn.masked_bias"] = np.array(-1e4, np.float32)
    converted = hf_to_max(state)
    assert not [k for k in converted if k.endswith((".attn.bias", ".attn.masked_bias"))]
    assert set(converted) == {name for name, _ in ours.parameters}
    ours.load_state_dict(converted)


# --- step 12: the conversion and the compiled model ---------------------------------------------------


def hf_state(theirs, *, prefixed: bool) -> dict[str, np.ndarray]:
    """HF's state dict as numpy, with the mask buffers old checkpoints carry; without the prefix it is what
    GPT2Model.save_pretrained writes (no lm_head)."""
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    n = theirs.config.n_positions
    for i in range(theirs.config.n_layer):
        state[f"transformer.h.{i}.attn.bias"] = np.tril(np.ones((n, n), np.float32))[None, None]
        state[f"transformer.h.{i}.attn.masked_bias"] = np.array(-1e4, np.float32)
    if not prefixed:
        state = {k.removeprefix("transformer."): v for k, v in state.items() if k != "lm_head.weight"}
    return state


@pytest.mark.parametrize("prefixed", [True, False])
def test_conversion_gives_our_names_and_layouts(prefixed):
    _, theirs = lm_pair(SMALL["d48h3"], seed=21)
    ours = convert_hf_state_dict(hf_state(theirs, prefixed=prefixed))
    expected = by_hand(theirs)
    assert set(ours) == set(expected)
    for name, value in expected.items():
        assert ours[name].dtype == np.float32 and ours[name].flags.c_contiguous, name
        assert np.array_equal(ours[name], value), name


def test_compiled_model_matches_hf():
    """load_gpt2 compiles once for symbolic batch and seq: several shapes through one graph."""
    sizes = SMALL["d32h4"]  # the only test that compiles load_gpt2's graph
    _, theirs = lm_pair(sizes, seed=22)
    compiled = load_gpt2(GPT2Config(**sizes), hf_state(theirs, prefixed=False))
    for i, (b, s) in enumerate(SHAPES):
        ids = np.random.default_rng(60 + i).integers(0, sizes["vocab_size"], (b, s), dtype=np.int64)
        with torch.no_grad():
            expected = theirs(torch.from_numpy(ids)).logits.numpy()
        assert max_diff(to_numpy(compiled(to_max(ids))), expected) <= MODULE_TOL, (b, s)


# --- step 13: cached decoding against HF's past_key_values ----------------------------------------------


def empty_cache(config: GPT2Config, batch: int) -> list:
    shape = (batch, config.n_head, 0, config.n_embd // config.n_head)
    return [(to_max(np.zeros(shape, np.float32)), to_max(np.zeros(shape, np.float32))) for _ in range(config.n_layer)]


def hf_incremental(theirs, ids: np.ndarray, splits: list[int]) -> list[np.ndarray]:
    """HF's logits for each chunk, fed with use_cache and its past_key_values."""
    out, past, seen = [], None, 0
    with torch.no_grad():
        for n in splits:
            step = theirs(torch.from_numpy(ids[:, seen:seen + n]), past_key_values=past, use_cache=True)
            out.append(step.logits.numpy())
            past, seen = step.past_key_values, seen + n
    return out


SPLITS = [(1, [5, 1, 1, 1]), (2, [3, 3, 1]), (3, [1, 1, 2, 1])]  # (batch, prefill then chunks)


@pytest.mark.parametrize("name", SMALL)
def test_cached_model_matches_hf_past_key_values(name):
    sizes = SMALL[name]
    config = GPT2Config(**sizes)
    _, theirs = lm_pair(sizes, seed=31)
    with F.lazy():
        ours = GPT2CachedLMHeadModel(config)
    ours.load_state_dict(convert_hf_state_dict(hf_state(theirs, prefixed=True)))
    for b, splits in SPLITS:
        ids = np.random.default_rng(b).integers(0, sizes["vocab_size"], (b, sum(splits)), dtype=np.int64)
        past, seen = empty_cache(config, b), 0
        for n, expected in zip(splits, hf_incremental(theirs, ids, splits)):
            logits, past = ours(to_max(np.ascontiguousarray(ids[:, seen:seen + n])), past)
            seen += n
            assert max_diff(to_numpy(logits), expected) <= MODULE_TOL, (name, b, splits, seen)
            assert [tuple(int(d) for d in k.shape) for k, _ in past] == \
                [(b, config.n_head, seen, config.n_embd // config.n_head)] * config.n_layer


def test_compiled_cached_model_matches_hf_past_key_values():
    """One graph, symbolic cache length: the prefill, a chunk and single tokens all run through it. At the sizes
    of the tests' checkpoint, which generate and serve compile too: the suite compiles this graph once."""
    sizes = checkpoint_sizes()
    config = GPT2Config(**sizes)
    _, theirs = lm_pair(sizes, seed=32)
    compiled = load_cached_gpt2(config, hf_state(theirs, prefixed=False))
    for b, splits in SPLITS:
        ids = np.random.default_rng(10 + b).integers(0, sizes["vocab_size"], (b, sum(splits)), dtype=np.int64)
        past, seen = empty_cache(config, b), 0
        for n, expected in zip(splits, hf_incremental(theirs, ids, splits)):
            logits, past = compiled(to_max(np.ascontiguousarray(ids[:, seen:seen + n])), past)
            seen += n
            assert max_diff(to_numpy(logits), expected) <= MODULE_TOL, (b, splits, seen)


# --- step 14: greedy generation through the cache ---------------------------------------------------------


class Cached:
    """A model that keeps its cache between calls, as step 14's generate_tokens expects."""

    def __init__(self, model, config: GPT2Config, batch: int):
        self.model, self.past, self.fed = model, empty_cache(config, batch), []

    def __call__(self, ids):
        self.fed.append(int(ids.shape[1]))
        logits, self.past = self.model(ids, self.past)
        return logits


def test_greedy_generation_matches_hf_generate():
    sizes = SMALL["d32h4"]
    config = GPT2Config(**sizes)
    _, theirs = lm_pair(sizes, seed=12)
    with F.lazy():
        ours = GPT2CachedLMHeadModel(config)
    ours.load_state_dict(convert_hf_state_dict(hf_state(theirs, prefixed=True)))
    vocab, new = theirs.config.vocab_size, 10
    prompt = np.random.default_rng(12).integers(0, vocab, (2, 4), dtype=np.int64)
    with torch.no_grad():
        expected = theirs.generate(
            torch.from_numpy(prompt), attention_mask=torch.ones(prompt.shape, dtype=torch.long),
            max_new_tokens=new, min_new_tokens=new, do_sample=False, num_beams=1,
            eos_token_id=None, pad_token_id=0,
        ).numpy()
    model = Cached(ours, config, 2)
    got = to_numpy(generate_tokens(model, to_max(prompt), new, do_sample=False))
    assert model.fed == [4] + [1] * (new - 1)  # the prompt once, then one token a call
    assert got.shape == (2, 4 + new) == expected.shape
    assert np.array_equal(got[:, :4], prompt)
    assert np.array_equal(got, expected), f"\nours {got}\nHF   {expected}"
