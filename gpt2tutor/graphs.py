"""The learner's cached model compiled once, in the background, at the shapes `generate` uses.

Checks never compile (checking/compiles.py): a compile costs minutes whatever the model's size. Once the
cached-model step passes, `queue` hands the background process (gpt2tutor.background) a job: compile the
learner's `load_cached_gpt2` at GPT-2 124M's sizes (the default checkpoint's) with random weights. MAX's disk
cache keys a graph by its code, not its weights, so `generate` and `serve`, compiling the same code with
OpenAI's weights, then find it compiled in seconds.

A compiled graph is trusted only once its numbers were compared with the eager model's: the job runs the
compiled model and the same module eagerly, with the same weights, on a prefill, a chunk and single tokens,
and records a `Verdict` (agrees, disagrees with what to change, or failed to compile), keyed by the contents
of the learner's files that make the model. `check`, `list`, `generate` and `serve` read it.

`python -m gpt2tutor.graphs JOB` runs one job (the background process does, in a child of its own: the
learner's code runs there, and whatever it does dies with that process).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import kernels, maxenv, names
from .files import write_atomic
from .registry import by_role, up_to

# GPT-2 124M: the sizes of `generate`'s default checkpoint, so that its compile finds this one in MAX's cache
SIZES = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=3072,
             layer_norm_epsilon=1e-5)
ENV_SIZES = names.GRAPH_SIZES_ENV  # the tests use a small model
ENV_SWITCH = names.GRAPHS_ENV  # "0": `generate` compiles the learner's model itself
ESTIMATE = 240.0  # seconds to compile and compare, from an empty MAX cache on 2 cores
TOLERANCE = {"cpu": 1e-3, "gpu": 1e-2}  # compiled against eager, float32 on both sides; a GPU's kernels sum in
# other orders in the compiled graph than op by op
DEVICES = ("cpu", "gpu")
JOB_TIMEOUT = 3600.0


def sizes() -> dict:
    raw = os.environ.get(ENV_SIZES)
    return {**SIZES, **json.loads(raw)} if raw else dict(SIZES)


def model_steps():
    """The steps whose files make the cached model (the generation step's loop is not part of the graph)."""
    return up_to(by_role("cached_model"))


def key(exercises: Path, device: str = "cpu") -> str:
    """What the graph depends on: MAX's version, the sizes, the device, and the learner's files that make the
    model."""
    digest = hashlib.sha256(json.dumps([maxenv.max_version(), sizes()] + ([device] if device != "cpu" else []))
                            .encode())
    for step in model_steps():
        try:
            digest.update((exercises / step.filename).read_bytes())
        except OSError:
            digest.update(b"\0missing")
    return digest.hexdigest()[:20]


def _folder(name: str) -> Path:
    return kernels.state_dir() / name


def verdict_path(graph_key: str) -> Path:
    return _folder("graphs") / f"{graph_key}.json"


def job_path(graph_key: str) -> Path:
    return _folder("jobs") / f"{graph_key}.json"


@dataclass
class Verdict:
    key: str
    state: str  # agrees · disagrees · failed
    message: str = ""  # for the learner: what disagreed and what to change, or why it failed
    compile_s: float = 0.0
    worst: float | None = None  # the largest |compiled - eager| seen
    sizes: dict = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    @property
    def agrees(self) -> bool:
        return self.state == "agrees"


def verdict(graph_key: str) -> Verdict | None:
    try:
        data = json.loads(verdict_path(graph_key).read_text("utf-8"))
        return Verdict(**{k: v for k, v in data.items() if k in Verdict.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def save(found: Verdict) -> None:
    write_atomic(verdict_path(found.key), json.dumps(asdict(found)))


@dataclass(frozen=True)
class Job:
    key: str
    exercises: str
    queued: float
    device: str = "cpu"

    @property
    def name(self) -> str:
        return f"graph:{self.key[:8]}" + (f" ({self.device})" if self.device != "cpu" else "")


def queue(exercises: Path, device: str = "cpu") -> bool:
    """Asks the background process to compile the cached model of these files for this device, unless it is
    compiled (a verdict exists) or queued already. Returns whether a job was added."""
    if not kernels.background_enabled() or os.environ.get(ENV_SWITCH, "1") == "0":
        return False
    graph_key = key(exercises, device)
    if verdict(graph_key) is not None or job_path(graph_key).exists():
        return False
    write_atomic(job_path(graph_key), json.dumps(asdict(Job(graph_key, str(exercises.resolve()), time.time(),
                                                            device))))
    return True


def gpu_present() -> bool:
    """Whether this machine has a GPU driver MAX could use, told without importing MAX (a command that only
    queues a job must not pay for it): NVIDIA's or AMD's device nodes."""
    return any(Path(node).exists() for node in ("/dev/nvidiactl", "/dev/kfd"))


def jobs() -> list[Job]:
    """Jobs waiting, oldest first."""
    found = []
    for path in sorted(_folder("jobs").glob("*.json")) if _folder("jobs").is_dir() else []:
        try:
            found.append(Job(**json.loads(path.read_text("utf-8"))))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)
    return sorted(found, key=lambda j: j.queued)


def done(job: Job) -> None:
    job_path(job.key).unlink(missing_ok=True)


def reached() -> bool:
    """Whether a learner of this MAX cache has passed every step of the cached model (a job or a verdict exists):
    the generation step is open to them, and `generate` comes next (the background then compiles its kernels)."""
    return bool(jobs()) or any(_folder("graphs").glob("*.json"))


# --- the job itself, in a process of its own -------------------------------------------------------------

def run(job: Job) -> Verdict:
    """Compiles the learner's cached model and compares it with the eager one; returns the verdict."""
    import numpy as np

    from .checking.compiles import recording, select_into_softmax
    from .generation.pipeline import learner_code, pick_device

    maxenv.tune_process()
    kernels.preload(None)  # the comparison's eager run: the compiled batches, not one compile per target
    exercises = Path(job.exercises)
    config_sizes = sizes()
    rng = np.random.default_rng(0)
    try:
        with learner_code(exercises) as code:
            config = code.role("config").GPT2Config(**config_sizes)
            weights = _random_hf_weights(config_sizes, rng)
            started = time.perf_counter()
            target = pick_device(job.device)
            with recording(exercises, compile=True) as calls:
                compiled = code.role("cached_model").load_cached_gpt2(config, weights, device=target)
            compile_s = time.perf_counter() - started
            if not calls:
                return Verdict(job.key, "failed", "load_cached_gpt2 never called Module.compile", compile_s,
                               sizes=config_sizes)
            call = calls[-1]
            found = _compare(compiled, call, config_sizes, rng, target)
    except Exception as exc:
        message = " ".join(f"{type(exc).__name__}: {exc}".split())[:400]
        return Verdict(job.key, "failed", f"compiling your cached model failed: {message}", sizes=config_sizes)
    worst, where = found
    branches = f" Your code compares a symbolic dim ({'; '.join(call.dim_branches[:2])}): a branch on it is " \
               "decided once, when tracing, for every call." if call.dim_branches else ""
    if worst is not None and worst <= TOLERANCE.get(job.device, TOLERANCE["cpu"]):
        return Verdict(job.key, "agrees", "", compile_s, worst, config_sizes)
    if where.get("nan") and select_into_softmax(call.graph_text):
        advice = ("your cached_attention masks the scores with F.where(mask, -inf, scores) right before the softmax: "
                  "MAX 26.7 compiles that into one attention kernel that multiplies the mask by -inf (0 * -inf = NaN). "
                  "Add the mask instead: scores + mask, 0 where a key is visible and -inf elsewhere (the lesson "
                  "shows two forms that compile right)")
    elif where.get("nan"):
        advice = "the compiled logits are NaN where the eager ones are numbers"
    else:
        advice = "the compiled graph computes something else than your code does eagerly"
    shown = "NaN" if worst is None or not np.isfinite(worst) else f"{worst:.3g}"
    on = f" for the {job.device.upper()}" if job.device != "cpu" else ""
    message = (f"compiled{on} at GPT-2 {_size_name(config_sizes)}'s sizes, your cached model disagrees with itself run "
               f"eagerly on {where.get('call', 'a call')} (by up to {shown}): {advice}.{branches}")
    return Verdict(job.key, "disagrees", message, compile_s, None if worst is None or not np.isfinite(worst)
                   else worst, config_sizes)


def _size_name(config_sizes: dict) -> str:
    return "124M" if {k: config_sizes[k] for k in SIZES} == SIZES else "(small)"


def _random_hf_weights(config_sizes: dict, rng) -> dict:
    """A GPT-2 state dict as HF's gpt2 checkpoint holds it (no `transformer.` prefix, Conv1D [in, out], the mask
    buffers), with small random values: the graph does not depend on them."""
    import numpy as np

    e, inner, n = config_sizes["n_embd"], config_sizes["n_inner"], config_sizes["n_positions"]

    def normal(*shape, scale=0.02):
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    state = {"wte.weight": normal(config_sizes["vocab_size"], e), "wpe.weight": normal(n, e, scale=0.01),
             "ln_f.weight": 1 + normal(e, scale=0.1), "ln_f.bias": normal(e)}
    for i in range(config_sizes["n_layer"]):
        p = f"h.{i}."
        state.update({
            p + "ln_1.weight": 1 + normal(e, scale=0.1), p + "ln_1.bias": normal(e),
            p + "attn.c_attn.weight": normal(e, 3 * e), p + "attn.c_attn.bias": normal(3 * e),
            p + "attn.c_proj.weight": normal(e, e), p + "attn.c_proj.bias": normal(e),
            p + "ln_2.weight": 1 + normal(e, scale=0.1), p + "ln_2.bias": normal(e),
            p + "mlp.c_fc.weight": normal(e, inner), p + "mlp.c_fc.bias": normal(inner),
            p + "mlp.c_proj.weight": normal(inner, e), p + "mlp.c_proj.bias": normal(e),
            p + "attn.bias": np.tril(np.ones((n, n), np.float32))[None, None],
            p + "attn.masked_bias": np.array(-1e4, np.float32),
        })
    return state


def _compare(compiled, call, config_sizes: dict, rng, device) -> tuple[float | None, dict]:
    """Runs the compiled model and the recorded module eagerly (with the recorded weights) on a prefill of 3, a
    chunk of 2 and two single tokens, batch 2; returns the largest difference (None: NaN) and where it was worst."""
    import numpy as np
    from max.driver import CPU
    from max.experimental.tensor import Tensor

    from .checking.compiles import Recorded

    eager = Recorded(call)
    b, h = 2, config_sizes["n_head"]
    hd = config_sizes["n_embd"] // h
    ids = rng.integers(0, config_sizes["vocab_size"], size=(b, 7), dtype=np.int64)

    def empty():
        return [(Tensor.from_dlpack(np.zeros((b, h, 0, hd), np.float32)).to(device),
                 Tensor.from_dlpack(np.zeros((b, h, 0, hd), np.float32)).to(device))
                for _ in range(config_sizes["n_layer"])]

    def array(t):
        return np.asarray(t.to(CPU()).to_numpy(), dtype=np.float64)

    past_c, past_e, seen, worst, where = empty(), empty(), 0, 0.0, {}
    for n in (3, 2, 1, 1):
        chunk = Tensor.from_dlpack(np.ascontiguousarray(ids[:, seen:seen + n])).to(device)
        label = f"the call with {n} new token{'s' if n > 1 else ''} after {seen} cached"
        logits_c, past_c = compiled(chunk, past_c)
        logits_e, past_e = eager(chunk, past_e)
        got, want = array(logits_c), array(logits_e)
        seen += n
        if got.shape != want.shape:
            return float("inf"), {"call": f"{label} (logits of shape {list(got.shape)}, eagerly {list(want.shape)})"}
        if np.isnan(got).any() and not np.isnan(want).any():
            return None, {"call": label, "nan": True}
        err = float(np.max(np.abs(got - want) / (1.0 + np.abs(want))))
        if err > worst:
            worst, where = err, {"call": label}
    return worst, where


def main(argv: list[str]) -> int:
    job = Job(**json.loads(Path(argv[0]).read_text("utf-8")))
    found = run(job)
    save(found)
    print(f"{time.strftime('%H:%M:%S')} graph {job.key[:8]}: {found.state} in {found.compile_s:.0f} s "
          f"{found.message[:200]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
