"""One decode step of the compiled 124M graphs, alone in this process: step 15's batched model, which reads the
cache and returns only the new keys and values, against step 13's cached model, which joins the cache with the
new keys and returns it whole, on the same batch.

    python benchmarks/bench_batched_graph.py [--rows 1,4,8] [--cached 64,128,256] [--runs 6]

GPT-2 124M's sizes with random weights (HF's init), the reference solutions, each graph compiled once (MAX's
cache makes that seconds when it holds them: `serve --reference` compiles both). Each row has one new token
and `cached` real cached tokens. The two graphs take turns, twice each; each figure is the best of the two
rounds' means of `runs` calls (a call includes the logits' trip to NumPy). Prints milliseconds a step, step 15
/ step 13, and what a step of N rows costs against a step of one row, for each graph.
"""

from __future__ import annotations

import argparse
import time

from _procs import load  # benchmarks/ is on the path when a script here runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1,4,8")
    parser.add_argument("--cached", default="64,128,256")
    parser.add_argument("--runs", type=int, default=6)
    opts = parser.parse_args()
    rows = [int(r) for r in opts.rows.split(",")]

    import numpy as np
    import torch
    import transformers
    from max.driver import CPU
    from max.experimental.tensor import Tensor

    from gpt2tutor.course.reference import step_13, step_15
    from gpt2tutor.course.reference.step_01 import GPT2Config

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    weights = {k: v.numpy() for k, v in hf.state_dict().items()}
    config = GPT2Config()
    batched = step_15.load_batched_gpt2(config, weights)
    cached = step_13.load_cached_gpt2(config, weights)
    rng = np.random.default_rng(0)

    def tensor(a):
        return Tensor.from_dlpack(np.ascontiguousarray(a))

    print(f"# bench_batched_graph: GPT-2 124M, one new token a row, reference solutions · {load()}", flush=True)
    print("cached  rows  step 15 ms  step 13 ms  15 / 13")
    figures: dict = {}
    for length in (int(c) for c in opts.cached.split(",")):
        for b in rows:
            past = [(tensor(rng.standard_normal((b, config.n_head, length, 64), dtype=np.float32)),) * 2
                    for _ in range(config.n_layer)]
            ids = tensor(rng.integers(1, config.vocab_size, (b, 1)))
            calls = {15: (batched, (ids, tensor(np.ones((b, 1), np.int64)), past,
                                    tensor(np.ones((b, length), np.int64)))),
                     13: (cached, (ids, past))}
            best = {}
            for step in (15, 13, 15, 13):
                model, args = calls[step]
                for _ in range(2):
                    model(*args)
                t0 = time.perf_counter()
                for _ in range(opts.runs):
                    model(*args)[0].to(CPU()).to_numpy()
                best[step] = min(best.get(step, float("inf")), (time.perf_counter() - t0) / opts.runs * 1e3)
            figures[length, b] = best
            print(f"{length:6}  {b:4}  {best[15]:10.1f}  {best[13]:10.1f}  {best[15] / best[13]:7.2f}", flush=True)
    for length in (int(c) for c in opts.cached.split(",")):
        for b in rows[1:]:
            one, many = figures[length, rows[0]], figures[length, b]
            print(f"ratio  cached {length}, {b} rows / {rows[0]}: step 15 {many[15] / one[15]:.2f}, "
                  f"step 13 {many[13] / one[13]:.2f}")


if __name__ == "__main__":
    main()
