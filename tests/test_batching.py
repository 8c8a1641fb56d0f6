"""The serving batch (gpt2tutor/serving/batching.py): requests join, leave, sit a step out and start over, and
every answer is the logits its request gets alone.

The batched model here is the reference's GPT2BatchedLMHeadModel run eagerly (no compile), with a small random
checkpoint's weights; the expected logits are HF transformers' for each request's tokens, run alone.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from serving_support import save_checkpoint  # noqa: E402

from gpt2tutor.maxenv import load_max  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(BatchedGPT2 over the eager reference model, HF's model) for one small checkpoint."""
    load_max("max.driver")
    from max.driver import CPU
    from max.dtype import DType
    from max.experimental.tensor import default_device, default_dtype

    from gpt2tutor.generation.checkpoint import resolve
    from gpt2tutor.generation.pipeline import reference_code
    from gpt2tutor.serving.batching import BatchedGPT2

    folder = save_checkpoint(tmp_path_factory.mktemp("batching") / "tiny")
    checkpoint = resolve(str(folder))
    code = reference_code()
    course = code.role("batched_model")

    def eager(config, state_dict, *, device=None):
        with default_device(CPU()), default_dtype(DType.float32):
            model = course.GPT2BatchedLMHeadModel(config)
            model.load_state_dict(course.convert_hf_state_dict(state_dict))
        return model

    loader = SimpleNamespace(load_batched_gpt2=eager, GPT2BatchedLMHeadModel=course.GPT2BatchedLMHeadModel)
    fake = SimpleNamespace(role=lambda role: loader if role == "batched_model" else code.role(role),
                           failure=code.failure, whose=code.whose)
    hf = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    batch = BatchedGPT2(fake, checkpoint.config, checkpoint.hf_state_dict(), CPU())
    batch.folder = folder
    return batch, hf


def alone(hf, tokens: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return hf(torch.tensor(tokens[None])).logits[0, -1].numpy()


def test_requests_join_leave_skip_a_step_and_start_over(served) -> None:
    batch, hf = served
    rng = np.random.default_rng(0)
    vocab = hf.config.vocab_size
    tokens = {name: rng.integers(1, vocab, n) for name, n in (("a", 3), ("b", 7), ("c", 5), ("d", 2))}

    def step(*names: str) -> None:
        requests = [(n, tokens[n]) for n in names]
        got = batch.next_token_logits(requests)
        assert got.shape == (len(names), vocab)
        for row, name in zip(got, names):
            np.testing.assert_allclose(row, alone(hf, tokens[name]), atol=2e-4, err_msg=name)
        for name in names:  # each request's next token, as MAX would append it
            tokens[name] = np.append(tokens[name], rng.integers(1, vocab))

    step("a", "b")  # two prompts of different lengths
    step("a", "b", "c")  # c joins while a and b decode
    step("c", "b")  # a sits this step out, and the order differs from the rows'
    step("a", "b", "c")  # a is back: its cache was left as it was
    batch.release("a")
    step("b", "c", "d")  # a's row goes, d joins
    assert batch.rows == ["b", "c", "d"]
    tokens["c"] = rng.integers(1, vocab, 4)  # c's tokens no longer extend what its cache holds: it starts over
    step("b", "c", "d")
    assert sorted(batch.rows) == ["b", "c", "d"]


def test_rows_take_turns_and_the_capacity_follows_the_longest_row(served) -> None:
    """Three requests take turns feeding chunks of 6 tokens: a row sitting a step out gets nothing written, so
    each row's cache holds exactly its own tokens; the capacity doubles as the longest row grows past it, and
    halves once that row leaves and the others fit in a quarter of it."""
    from gpt2tutor.serving.batching import SMALLEST

    batch, hf = served
    rng = np.random.default_rng(1)
    vocab = hf.config.vocab_size
    tokens = {n: rng.integers(1, vocab, 2) for n in ("x", "y", "z")}
    for request in batch.rows:  # the last test's
        batch.release(request)
    batch.next_token_logits([(n, tokens[n]) for n in tokens])
    for i in range(8):
        name = "xyz"[i] if i < 3 else "x"  # a chunk each, then x alone: y and z hold 8 tokens, x 38
        tokens[name] = np.append(tokens[name], rng.integers(1, vocab, 6))
        got = batch.next_token_logits([(name, tokens[name])])
        np.testing.assert_allclose(got[0], alone(hf, tokens[name]), atol=2e-4, err_msg=f"{name} at step {i}")
        assert [int(u) for u in batch._used] == [len(tokens[r]) for r in batch.rows]
    assert batch._capacity == 64  # 16, 32, 64: doubled as x grew to 38
    batch.release("x")
    for name in ("y", "z"):
        tokens[name] = np.append(tokens[name], rng.integers(1, vocab))
    got = batch.next_token_logits([(n, tokens[n]) for n in ("y", "z")])
    for row, name in zip(got, ("y", "z")):
        np.testing.assert_allclose(row, alone(hf, tokens[name]), atol=2e-4, err_msg=name)
    assert batch.rows == ["y", "z"] and batch._capacity == max(SMALLEST, 32)  # 9 tokens a row: 64 halves once (8 slots would not hold them)


def test_a_compiled_graph_that_disagrees_with_gpt2_is_refused(served) -> None:
    """The loader's model is trusted only once it matches GPT-2 row by row: one whose logits are off (here by
    a constant, as a graph that lost a mask would be by more) never serves."""
    from gpt2tutor.generation.pipeline import LearnerCodeError
    from gpt2tutor.serving.batching import BatchedGPT2

    batch, _ = served
    good = batch.code.role("batched_model").load_batched_gpt2

    def off(config, state_dict, *, device=None):
        model = good(config, state_dict, device=device)
        return lambda *args: (lambda out: (out[0] + 0.5, out[1]))(model(*args))

    code = SimpleNamespace(role=lambda role: SimpleNamespace(load_batched_gpt2=off) if role == "batched_model"
                           else batch.code.role(role), failure=batch.code.failure, whose="your code")
    from gpt2tutor.generation.checkpoint import resolve

    checkpoint = resolve(str(batch.folder))
    with pytest.raises(LearnerCodeError, match="differ by up to 0.5"):
        BatchedGPT2(code, checkpoint.config, checkpoint.hf_state_dict(), batch.device)
