"""Greedy generation speed on the CPU or a GPU: the course's pipeline (the reference solutions', and a learner's written
differently), against HF transformers.

    python benchmarks/bench_generate.py [--new-tokens 64] [--prompt-tokens 16] [--repeats 3] [--with-nocache]
                                        [--device cpu|gpu]

Builds the full GPT-2 (124M) configuration with random weights (HF's own init; the same values go to
every implementation), then generates greedily from the same prompt with:

  reference   what `gpt2tutor generate --reference` runs: the course's reference solutions through the pipeline
              (gpt2tutor/generation/pipeline.py): step 12's conversion, step 13's cached model compiled by its
              load_cached_gpt2 (the cache grown by concatenation), step 14's generate_tokens (eager MAX ops)
  one_loop_off  the same, with MAX's own asyncio.run per eager op (GPT2TUTOR_ONE_LOOP=0): what the tutor's
              one event loop per thread (maxinternals.one_event_loop_per_thread) saves
  learner     what `gpt2tutor generate` runs for a learner whose step 13 and 14 are written differently from
              the reference: tests/variants/step_13/other_style.py and tests/variants/step_14/numpy_sampler.py
              (the rest the reference solutions)
  nocache     with --with-nocache: step 12's load_gpt2 (no cache), the whole sequence again for every token
  hf          transformers' GPT2LMHeadModel.generate in PyTorch on the same device, with its KV cache
  hf_loop     the same PyTorch model called token by token with its past key/values and argmax, by
              hand: no generate() machinery (logits processors, stopping criteria), the bare model

Timings use the definitions `gpt2tutor generate` reports: time to first token from the moment the
prompt goes in; tokens/s over the tokens after the first. Compilation is one-time and reported apart
(MAX's disk cache serves a graph compiled before). Each implementation runs `--repeats` times,
interleaved so that load from other processes falls on all of them alike; the table shows the best run
and the median. PyTorch gets as many threads as this process may use, which is what MAX's runtime uses.
The last line is learner/reference tokens per second.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["GPT2TUTOR_ONE_LOOP"] = "0"  # switched per run below

from gpt2tutor.maxenv import tune_process  # noqa: E402

tune_process()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from max.experimental import functional  # noqa: E402

from gpt2tutor import maxinternals  # noqa: E402
from gpt2tutor.generation.pipeline import CachedModel, Timings, generate, learner_code, reference_code  # noqa: E402
from gpt2tutor.generation.sampling import SamplingSettings  # noqa: E402
from gpt2tutor.registry import STEPS, by_role  # noqa: E402

MAX_OWN_RUN = functional._run
maxinternals.one_event_loop_per_thread()
ONE_LOOP_RUN = functional._run
VARIANTS = ROOT / "tests" / "variants"
LEARNER_FILES = {by_role("cached_model"): "other_style.py", by_role("generation"): "numpy_sampler.py"}


DEVICE = "cpu"  # --device: where every implementation runs


def hf_model() -> torch.nn.Module:
    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(n_positions=1024, n_embd=768, n_layer=12, n_head=12, vocab_size=50257)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).eval()


def torch_device() -> str:
    return "cuda" if DEVICE == "gpu" else "cpu"


def max_device():
    from gpt2tutor.generation.pipeline import pick_device

    return pick_device(DEVICE)


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
    ids = torch.tensor([prompt], device=torch_device())
    with torch.no_grad():
        clock.timings.start = time.perf_counter()
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, use_cache=True, streamer=clock,
                             pad_token_id=0, eos_token_id=None)
    return out[0, len(prompt):].tolist(), clock.timings


def run_hf_loop(model, prompt: list[int], new_tokens: int) -> tuple[list[int], Timings]:
    timings = Timings()
    ids, past, out = torch.tensor([prompt], device=torch_device()), None, []
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
    """Step 12's reference load_gpt2: one compiled graph; every token reruns the whole sequence."""

    def __init__(self, config, hf_weights: dict[str, np.ndarray]):
        self._run = by_role("conversion").reference().load_gpt2(config, hf_weights, device=max_device())

    def generate(self, prompt: list[int], new_tokens: int) -> tuple[list[int], Timings]:
        from max.experimental.tensor import Tensor

        ids = list(prompt)
        timings = Timings()
        for _ in range(new_tokens):
            logits = self._run(Tensor.from_dlpack(np.asarray([ids], dtype=np.int64)).to(max_device()))
            logits = logits[0] if isinstance(logits, (list, tuple)) else logits
            ids.append(int(np.argmax(logits.to_numpy()[0, -1])))  # logits: [1, seq, vocab]
            timings.mark()
        return ids[len(prompt):], timings


class Pipeline:
    """The course's pipeline from some code (the reference solutions, or a learner's), as `generate` drives it."""

    def __init__(self, code, config, hf_weights: dict[str, np.ndarray]):
        self.model = CachedModel(code, config, hf_weights, max_device())

    def generate(self, prompt: list[int], new_tokens: int) -> tuple[list[int], Timings]:
        timings = Timings()
        ids = generate(self.model, prompt, new_tokens, SamplingSettings(greedy=True), max_device(),
                       lambda token: timings.mark())
        return ids, timings


def learner_folder(stack: ExitStack) -> Path:
    exercises = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-learner-"))) / "exercises"
    exercises.mkdir()
    for step in STEPS:
        source = step.solution()
        if step in LEARNER_FILES:
            source = (VARIANTS / f"step_{step.id}" / LEARNER_FILES[step]).read_text("utf-8")
        (exercises / step.filename).write_text(source, encoding="utf-8")
    return exercises


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--with-nocache", action="store_true", help="also the recomputing model (a compile more)")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device

    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(threads)
    where = (f"GPU {torch.cuda.get_device_name(0)}" if DEVICE == "gpu" else "CPU") + f", {threads} threads"
    print(f"GPT-2 124M, random weights · greedy · {args.prompt_tokens}-token prompt, {args.new_tokens} new tokens · "
          f"{where} · torch {torch.__version__}, transformers {transformers.__version__} · "
          f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    hf = hf_model()
    hf_weights = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    hf = hf.to(torch_device())
    config = by_role("config").reference().GPT2Config()
    prompt = [int(t) for t in np.random.default_rng(0).integers(0, config.vocab_size, args.prompt_tokens)]

    stack = ExitStack()
    compile_s: dict[str, float] = {}
    t0 = time.perf_counter()
    reference = Pipeline(reference_code(), config, hf_weights)
    compile_s["reference"] = compile_s["one_loop_off"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    learner = Pipeline(stack.enter_context(learner_code(learner_folder(stack))), config, hf_weights)
    compile_s["learner"] = time.perf_counter() - t0
    nocache = None
    if args.with_nocache:
        t0 = time.perf_counter()
        nocache = NoCacheModel(config, hf_weights)
        compile_s["nocache"] = time.perf_counter() - t0
    del hf_weights

    def with_run(run_fn, job):
        def go():
            functional._run = run_fn
            try:
                return job()
            finally:
                functional._run = ONE_LOOP_RUN
        return go

    runners = {"reference": with_run(ONE_LOOP_RUN, lambda: reference.generate(prompt, args.new_tokens)),
               "one_loop_off": with_run(MAX_OWN_RUN, lambda: reference.generate(prompt, args.new_tokens)),
               "learner": with_run(ONE_LOOP_RUN, lambda: learner.generate(prompt, args.new_tokens))}
    if nocache is not None:
        runners["nocache"] = lambda: nocache.generate(prompt, args.new_tokens)
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
    print(f"{'':13} {'compile s':>10} {'ttft s':>8} {'tok/s best':>11} {'tok/s median':>13}")
    best: dict[str, float] = {}
    for name, runs in results.items():
        rates = [t.tokens_per_s for t in runs]
        best[name] = max(rates)
        ttft = min(t.time_to_first_token_s for t in runs)
        comp = f"{compile_s[name]:.1f}" if name in compile_s else "-"
        print(f"{name:13} {comp:>10} {ttft:>8.3f} {best[name]:>11.1f} {statistics.median(rates):>13.1f}")
    print(f"same tokens from every implementation: {'yes' if agree else 'NO'}")
    print(f"reference/hf tokens_per_s ratio: {best['reference'] / best['hf']:.2f}")
    print(f"reference/hf_loop tokens_per_s ratio: {best['reference'] / best['hf_loop']:.2f}")
    print(f"one event loop per thread / MAX's asyncio.run per op (reference): "
          f"{best['reference'] / best['one_loop_off']:.2f}")
    print(f"learner/hf tokens_per_s ratio: {best['learner'] / best['hf']:.2f}")
    print(f"learner/reference tokens_per_s ratio: {best['learner'] / best['reference']:.2f}")
    stack.close()


if __name__ == "__main__":
    main()
