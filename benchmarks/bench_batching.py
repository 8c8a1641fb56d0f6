"""`gpt2tutor serve` with many clients at once: one call of the batched model a step (step 15) against the
same server answering request by request (GPT2TUTOR_SERVE_BATCHED=0), both measured in this run.

    python benchmarks/bench_batching.py [--clients 1,4,8] [--max-tokens 64] [--rounds 2] [--learner]

GPT-2 124M's sizes with random weights (benchmarks/bench_serve.py's checkpoint). Each server first answers two
requests of full length, unmeasured (a fresh server's first requests run slower, and would flatter the ratios
against one client). Each client sends `rounds` greedy requests one after another, its prompt a length of its
own (4 to 32 tokens). Prints, for each way and each number of clients: the total tokens/s, the mean and longest
request latency, and whether every text equals HF transformers' greedy text for its prompt; then batched / one by
one, and many clients / one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import load
from bench_serve import save_124m, solved_workspace
from serving_support import ServeProcess, post

from gpt2tutor.serving.launch import free_port

LENGTHS = (4, 9, 16, 23, 32, 7, 12, 28)  # client i's prompt length: LENGTHS[i % 8]


def prompt(client: int) -> str:
    n = LENGTHS[client % len(LENGTHS)]
    return " ".join(f"w{(client * 37 + j * 11) % 50000 + 1}" for j in range(n))


def hf_texts(folder: Path, prompts: list[str], max_tokens: int) -> dict[str, str]:
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    out = {}
    with torch.no_grad():
        for p in prompts:
            ids = torch.tensor([tok.encode(p)])
            new = model.generate(ids, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False)
            out[p] = tok.decode(new[0, ids.shape[1]:])
    return out


def run(url: str, clients: int, rounds: int, max_tokens: int, expected: dict[str, str]) -> dict:
    def one(client: int) -> tuple[int, list[float], bool]:
        body = {"model": "gpt2-124m-random", "prompt": prompt(client), "max_tokens": max_tokens, "temperature": 0}
        tokens, latencies, same = 0, [], True
        for _ in range(rounds):
            t0 = time.perf_counter()
            status, reply = post(f"{url}/v1/completions", body, timeout=1800)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"{status}: {reply}")
            tokens += reply["usage"]["completion_tokens"]
            same &= reply["choices"][0]["text"].strip() == expected[body["prompt"]].strip()
        return tokens, latencies, same

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(clients)))
    elapsed = time.perf_counter() - t0
    latencies = [x for _, ls, _ in results for x in ls]
    return {"tokens_per_s": sum(t for t, _, _ in results) / elapsed, "latency_mean_s": sum(latencies) / len(latencies),
            "latency_max_s": max(latencies), "all_equal_hf": all(s for _, _, s in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,8", help="numbers of concurrent clients, comma-separated")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="requests each client sends, one after another")
    parser.add_argument("--learner", action="store_true", help="a workspace of the 15 reference solutions, not "
                                                               "--reference")
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for a server")
    opts = parser.parse_args()
    counts = [int(c) for c in opts.clients.split(",")]

    work = Path(tempfile.mkdtemp(prefix="bench-batching-"))
    folder = save_124m(work / "gpt2-124m-random")
    who = ["--workspace", str(solved_workspace(work / "ws"))] if opts.learner else ["--reference"]
    expected = hf_texts(folder, [prompt(c) for c in range(max(counts))], opts.max_tokens)
    print(f"# bench_batching: GPT-2 124M random weights, {opts.max_tokens} greedy tokens a request, {opts.rounds} "
          f"requests a client, prompts of {min(LENGTHS)}-{max(LENGTHS)} tokens, {who[0]} · {load()}", flush=True)
    results: dict = {}
    for way, env in (("one by one", {"GPT2TUTOR_SERVE_BATCHED": "0"}), ("batched", {})):
        proc = ServeProcess(["--model", str(folder), "--max-batch-size", str(opts.max_batch_size), *who],
                            free_port(), env=env, log=work / f"{way.replace(' ', '-')}.log")
        try:
            ready = proc.wait_ready(opts.timeout)
            for _ in range(2):  # a fresh server's first requests run slower: warm it with two of full length
                post(f"{proc.url}/v1/completions", {"model": "gpt2-124m-random", "prompt": prompt(0),
                                                    "max_tokens": opts.max_tokens, "temperature": 0}, timeout=1800)
            results[way] = {"ready_s": ready}
            for clients in counts:
                row = run(proc.url, clients, opts.rounds, opts.max_tokens, expected)
                results[way][clients] = row
                print(f"{way:10}  {clients} client{'s' if clients > 1 else ' '}  {row['tokens_per_s']:7.1f} tokens/s  "
                      f"latency mean {row['latency_mean_s']:5.2f} s, max {row['latency_max_s']:5.2f} s  "
                      f"text = HF: {'yes' if row['all_equal_hf'] else 'NO'}", flush=True)
        finally:
            proc.ctrl_c()
            proc.kill_everything()
    base = counts[0]
    for clients in counts:
        ratio = results["batched"][clients]["tokens_per_s"] / results["one by one"][clients]["tokens_per_s"]
        print(f"ratio      {clients} clients, batched / one by one: {ratio:.2f}")
    for way in ("one by one", "batched"):
        for clients in counts[1:]:
            ratio = results[way][clients]["tokens_per_s"] / results[way][base]["tokens_per_s"]
            print(f"ratio      {way}, {clients} clients / {base}: {ratio:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
