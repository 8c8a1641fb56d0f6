"""The checks' toolkit, without MAX: a check imports only the toolkit (never another check or a reference), the
toolkit and the checks stay in small modules, and the one NumPy GPT-2 gives with its KV cache what it gives
without."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from gpt2tutor.checking.numpy_gpt2 import attention, cached_attention, cached_run, lm_logits

PACKAGE = Path(__file__).resolve().parents[1] / "gpt2tutor"
CHECKS = sorted((PACKAGE / "course" / "checks").glob("*.py"))
TOOLKIT = sorted((PACKAGE / "checking").rglob("*.py"))


def imported(path: Path) -> set[str]:
    """The modules a file imports, relative ones written with their leading dots."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("path", CHECKS, ids=[p.stem for p in CHECKS])
def test_a_check_imports_the_toolkit_never_another_check_or_a_reference(path: Path) -> None:
    ours = {name for name in imported(path) if name.startswith((".", "gpt2tutor"))}
    assert all(name == "gpt2tutor.checking" or name.startswith("gpt2tutor.checking.") for name in ours), ours
    assert not (path.name.startswith("_") and path.name != "__init__.py"), "shared check helpers live in the toolkit"


@pytest.mark.parametrize("path", CHECKS + TOOLKIT, ids=[str(p.relative_to(PACKAGE)) for p in CHECKS + TOOLKIT])
def test_the_checks_and_their_toolkit_stay_in_small_modules(path: Path) -> None:
    assert len(path.read_text("utf-8").splitlines()) < 400


def small_gpt2(rng: np.random.Generator):
    cfg = SimpleNamespace(vocab_size=11, n_positions=16, n_embd=12, n_layer=2, n_head=3, layer_norm_epsilon=1e-5)
    e, shapes = cfg.n_embd, {"transformer.wte.weight": (11, 12), "transformer.wpe.weight": (16, 12),
                             "transformer.ln_f.weight": (12,), "transformer.ln_f.bias": (12,), "lm_head.weight": (11, 12)}
    for i in range(cfg.n_layer):
        for name, shape in [("ln_1", (e,)), ("ln_2", (e,))]:
            shapes |= {f"transformer.h.{i}.{name}.weight": shape, f"transformer.h.{i}.{name}.bias": shape}
        for name, (out, into) in [("attn.c_attn", (3 * e, e)), ("attn.c_proj", (e, e)), ("mlp.c_fc", (4 * e, e)),
                                  ("mlp.c_proj", (e, 4 * e))]:
            shapes |= {f"transformer.h.{i}.{name}.weight": (out, into), f"transformer.h.{i}.{name}.bias": (out,)}
    return {name: rng.standard_normal(shape) / np.sqrt(shape[-1]) for name, shape in shapes.items()}, cfg


def test_the_cached_forward_fed_in_chunks_gives_the_full_forwards_logits() -> None:
    rng = np.random.default_rng(0)
    w, cfg = small_gpt2(rng)
    ids = rng.integers(0, cfg.vocab_size, (2, 7))
    logits, cache = cached_run(w, cfg, [ids[:, :3], ids[:, 3:4], ids[:, 4:]])
    np.testing.assert_allclose(logits, lm_logits(w, ids, cfg), atol=1e-10)
    assert [k.shape for k, _ in cache] == [(2, cfg.n_head, 7, cfg.n_embd // cfg.n_head)] * cfg.n_layer
    restarted, _ = cached_run(w, cfg, [ids[:, :3], ids[:, 3:]], positions="restart")
    assert np.abs(restarted[:, 3:] - logits[:, 3:]).max() > 1e-3


def test_attention_with_nothing_cached_is_cached_attention_from_an_empty_cache() -> None:
    rng = np.random.default_rng(1)
    w = {"c_attn.weight": rng.standard_normal((24, 8)), "c_attn.bias": rng.standard_normal(24),
         "c_proj.weight": rng.standard_normal((8, 8)), "c_proj.bias": rng.standard_normal(8)}
    x = rng.standard_normal((2, 5, 8))
    empty = (np.zeros((2, 2, 0, 4)), np.zeros((2, 2, 0, 4)))
    for switches in [{}, dict(mask="flipped"), dict(scale=1.0), dict(order=(0, 2, 1))]:
        np.testing.assert_allclose(attention(w, x, 2, **switches), cached_attention(w, x, 2, empty, **switches)[0])
    out, key, _ = cached_attention(w, x[:, 3:], 2, cached_attention(w, x[:, :3], 2)[1:])
    np.testing.assert_allclose(out, attention(w, x, 2)[:, 3:], atol=1e-10)
    assert key.shape == (2, 2, 5, 4)
