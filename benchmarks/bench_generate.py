"""Greedy generation speed on the CPU: the learner's pipeline, the tutor's MAX GPT-2 with and without a KV cache, and HF.

    python benchmarks/bench_generate.py [--new-tokens 64] [--prompt-tokens 16] [--repeats 3]

Builds the full GPT-2 (124M) configuration with random weights (HF's own init; the same values go to
every implementation), then generates greedily from the same prompt with:

  learner    what `gpt2tutor generate` runs for a learner, here on a workspace holding the reference
             solutions: their conversion (step 12), their cached model compiled by their load_cached_gpt2
             (step 13, the cache grown by concatenation), their generate_tokens (step 14)
  max_kv     gpt2tutor.generation.kv_model: compiled graph, preallocated KV cache written in place
  max_nocache the reference GPT2LMHeadModel compiled with a symbolic length, whole sequence per token
  hf         transformers' GPT2LMHeadModel.generate in PyTorch on the CPU, with its KV cache
  hf_loop    the same PyTorch model called token by token with its past key/values and argmax, by
             hand: no generate() machinery (logits processors, stopping criteria), the bare model

Timings use the definitions `gpt2tutor generate` reports: time to first token from the moment the
prompt goes in; tokens/s over the tokens after the first. Compilation is one-time and reported apart.
Each implementation runs `--repeats` times, interleaved so that load from other processes falls on
all of them alike; the table shows the best run and the median. PyTorch gets as many threads as
this process may use, which is what MAX's runtime uses.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpt2tutor.maxenv import tune_process  # noqa: E402

tune_process()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from gpt2tutor.generation.kv_model import CompiledGPT2  # noqa: E402
from gpt2tutor.generation.loop import Timings, generate_cached  # noqa: E402
from gpt2tutor.generation.sampling import SamplingSettings  # noqa: E402
from gpt2tutor.course.reference.step_01 import GPT2Config  # noqa: E402
from gpt2tutor.weights import hf_to_max  # noqa: E402


def hf_model() -> torch.nn.Module:
    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(n_positions=1024, n_embd=768, n_layer=12, n_head=12, vocab_size=50257)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).eval()


class TokenClock:
    """A transformers streamer that timestamps each generated token (the first put() is the prompt)."""

    def __init__(self):
        self.timings = Timings()
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.timings.mark()

    def end(self) -> None:
        pass


def run_hf(model, prompt: list[int], new_tokens: int) -> tuple[list[int], Timings]:
    clock = TokenClock()
    ids = torch.tensor([prompt])
    with torch.no_grad():
        clock.timings.start = time.perf_counter()
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, use_cache=True, streamer=clock,
                             pad_token_id=0, eos_token_id=None)
    return out[0, len(prompt):].tolist(), clock.timings


def run_hf_loop(model, prompt: list[int], new_tokens: int) -> tuple[list[int], Timings]:
    timings = Timings()
    ids, past, out = torch.tensor([prompt]), None, []
    with torch.inference_mode():
        timings.start = time.perf_counter()
        for _ in range(new_tokens):
            step = model(ids, past_key_values=past, use_cache=True)
            past = step.past_key_values
            ids = step.logits[:, -1].argmax(-1, keepdim=True)  # [1, 1]: the only input of the next call
            out.append(int(ids))
            timings.mark()
    return out, timings


class NoCacheModel:
    """The reference GPT2LMHeadModel as one compiled graph; every token reruns the whole sequence."""

    def __init__(self, config: GPT2Config, weights: dict[str, np.ndarray]):
        from max.driver import CPU
        from max.dtype import DType
        from max.experimental import functional as F
        from max.experimental.tensor import default_device
        from max.graph import DeviceRef, TensorType

        from gpt2tutor.course.reference.step_11 import GPT2LMHeadModel

        with default_device(CPU()), F.lazy():
            model = GPT2LMHeadModel(config)
        self._run = model.compile(TensorType(DType.int64, [1, "seq"], DeviceRef.CPU()), weights=weights)

    def generate(self, prompt: list[int], new_tokens: int) -> tuple[list[int], Timings]:
        from max.driver import Buffer

        ids = list(prompt)
        timings = Timings()
        for _ in range(new_tokens):
            (logits,) = self._run.execute_raw(Buffer.from_numpy(np.asarray([ids], dtype=np.int64)))
            ids.append(int(np.argmax(logits.to_numpy()[0, -1])))  # logits: [1, seq, vocab]
            timings.mark()
        return ids[len(prompt):], timings


class LearnerPipeline:
    """The learner's code from a workspace of reference solutions, driven as `gpt2tutor generate` drives it."""

    def __init__(self, config: GPT2Config, hf_weights: dict[str, np.ndarray], stack: ExitStack):
        from max.driver import CPU

        from gpt2tutor.course import STEPS
        from gpt2tutor.generation.learner_model import LearnerModel, learner_imports

        exercises = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-learner-"))) / "exercises"
        exercises.mkdir()
        for step in STEPS:
            (exercises / step.filename).write_text(step.solution(), encoding="utf-8")
        self.exercises = exercises
        self.modules = stack.enter_context(learner_imports(exercises))
        self.model = LearnerModel(self.modules, config, hf_weights, CPU(), exercises)

    def generate(self, prompt: list[int], new_tokens: int) -> tuple[list[int], Timings]:
        from max.driver import CPU

        from gpt2tutor.generation.learner_model import generate_with_learner_code

        self.model.reset()
        timings = Timings()
        ids = generate_with_learner_code(self.modules, self.model, prompt, max_new_tokens=new_tokens, greedy=True,
                                         temperature=1.0, top_k=None, top_p=None, seed=None, device=CPU(),
                                         on_token=lambda token: timings.mark(), exercises=self.exercises)
        return ids, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-nocache", action="store_true", help="leave out the recomputing MAX model")
    args = parser.parse_args()

    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(threads)
    print(f"GPT-2 124M, random weights · greedy · {args.prompt_tokens}-token prompt, {args.new_tokens} new tokens · "
          f"CPU, {threads} threads · torch {torch.__version__}, transformers {transformers.__version__}")

    hf = hf_model()
    hf_weights = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    weights = hf_to_max(hf_weights)
    config = GPT2Config()
    prompt = [int(t) for t in np.random.default_rng(0).integers(0, config.vocab_size, args.prompt_tokens)]

    stack = ExitStack()
    compile_s: dict[str, float] = {}
    t0 = time.perf_counter()
    learner = LearnerPipeline(config, hf_weights, stack)
    compile_s["learner"] = time.perf_counter() - t0
    del hf_weights
    t0 = time.perf_counter()
    kv = CompiledGPT2(config, weights)
    compile_s["max_kv"] = time.perf_counter() - t0
    nocache = None
    if not args.skip_nocache:
        t0 = time.perf_counter()
        nocache = NoCacheModel(config, weights)
        compile_s["max_nocache"] = time.perf_counter() - t0
    del weights

    greedy = SamplingSettings(greedy=True)
    runners = {"learner": lambda: learner.generate(prompt, args.new_tokens),
               "max_kv": lambda: generate_cached(kv, prompt, args.new_tokens, greedy), "hf": None}
    if nocache is not None:
        runners["max_nocache"] = lambda: nocache.generate(prompt, args.new_tokens)
    runners["hf"] = lambda: run_hf(hf, prompt, args.new_tokens)
    runners["hf_loop"] = lambda: run_hf_loop(hf, prompt, args.new_tokens)

    for run in runners.values():  # warm-up: first-call allocations, thread pools
        run()
    results: dict[str, list[Timings]] = {name: [] for name in runners}
    outputs: dict[str, list[int]] = {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            outputs[name], timings = run()
            results[name].append(timings)

    agree = all(ids == outputs["hf"] for ids in outputs.values())
    print(f"{'':12} {'compile s':>10} {'ttft s':>8} {'tok/s best':>11} {'tok/s median':>13}")
    best: dict[str, float] = {}
    for name, runs in results.items():
        rates = [t.tokens_per_s for t in runs]
        best[name] = max(rates)
        ttft = min(t.time_to_first_token_s for t in runs)
        comp = f"{compile_s[name]:.1f}" if name in compile_s else "-"
        print(f"{name:12} {comp:>10} {ttft:>8.3f} {best[name]:>11.1f} {statistics.median(rates):>13.1f}")
    print(f"same tokens from every implementation: {'yes' if agree else 'NO'}")
    print(f"max_kv/hf_loop tokens_per_s ratio: {best['max_kv'] / best['hf_loop']:.2f}")
    print(f"max_kv/hf tokens_per_s ratio: {best['max_kv'] / best['hf']:.2f}")
    print(f"learner/hf tokens_per_s ratio: {best['learner'] / best['hf']:.2f}")
    print(f"learner/reference tokens_per_s ratio: {best['learner'] / best['max_kv']:.2f}")
    stack.close()


if __name__ == "__main__":
    main()
