"""`gpt2tutor generate`, driven through the command line, against HuggingFace transformers.

No network: the small GPT-2 checkpoint of tests/serving_support.py (random weights at a large
initializer_range, so the logits are peaked and float32 rounding can't flip an argmax, and a byte-level
BPE tokenizer trained on a short text). The serving tests and tests/test_reference_vs_hf.py's compiled
cached model use the same sizes, so the suite compiles the reference's cached model once and MAX's disk
cache serves the rest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from processes import finish, interrupt, left_behind, tutor, wait_until  # noqa: E402
from serving_support import save_checkpoint, save_tokenizer  # noqa: E402
from test_perf_infra import own_cache, spawned, start_fake  # noqa: E402, F401 - fixtures

from gpt2tutor import state as state_store  # noqa: E402
from gpt2tutor.cli import build_app  # noqa: E402
from gpt2tutor.maxenv import child_environment  # noqa: E402
from gpt2tutor.registry import STEPS, by_role  # noqa: E402
from gpt2tutor.workspace import create  # noqa: E402

PROMPT = "Once upon a time"
NEW_TOKENS = 40
ENV = {"GPT2TUTOR_WORKSPACE": None, "COLUMNS": "200", "NO_COLOR": "1", "GPT2TUTOR_DEBUG": None}

app = build_app(["generate"])  # just this command: the rest of the CLI is tested elsewhere
runner = CliRunner()


def cli(*args, env: dict | None = None):
    return runner.invoke(app, ["generate", *map(str, args)], env={**ENV, **(env or {})})


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result, *needles: str, code: int = 2) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = stderr_lines(result)
    assert len(lines) == 1, lines
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]


# --- the checkpoint and the workspaces -----------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    folder = save_checkpoint(tmp_path_factory.mktemp("small-gpt2"))
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))
    return folder


@pytest.fixture(scope="module")
def hf_greedy(checkpoint: Path) -> list[int]:
    """HF transformers' greedy continuation of PROMPT: the ids every implementation must reproduce."""
    tok = transformers.AutoTokenizer.from_pretrained(checkpoint)
    model = transformers.GPT2LMHeadModel.from_pretrained(checkpoint).eval()
    ids = torch.tensor([tok.encode(PROMPT)])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    return out[0, ids.shape[1]:].tolist()


def make_workspace(root: Path, passed: int = len(STEPS), mark: str = "") -> Path:
    """A workspace whose exercise files are the reference solutions (the first starting with `mark`); the first
    `passed` steps passed."""
    ws = create(root)
    ws.exercises.mkdir(parents=True, exist_ok=True)
    for step in STEPS:
        ws.exercise(step).write_text((mark if step == STEPS[0] else "") + step.solution(), encoding="utf-8")
    state = state_store.State()
    for step in STEPS[:passed]:
        state.mark(step, True, ws.file_hash(step))
    state_store.save(ws, state)
    return root


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("solved") / "ws")


def run_json(*args) -> dict:
    result = cli(*args, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


# --- the same tokens as HuggingFace -------------------------------------------------------------

def test_reference_greedy_matches_transformers(checkpoint: Path, hf_greedy: list[int]) -> None:
    out = run_json(PROMPT, "--reference", "--model", checkpoint, "--greedy", "--max-new-tokens", NEW_TOKENS)
    assert len(hf_greedy) == NEW_TOKENS
    assert out["generated_ids"] == hf_greedy
    assert out["prompt"] == PROMPT and out["implementation"] == "reference"
    assert out["timings"]["tokens_per_s"] > 0 and out["timings"]["time_to_first_token_s"] > 0


def test_learner_model_greedy_matches_transformers(checkpoint: Path, hf_greedy: list[int], solved: Path) -> None:
    out = run_json(PROMPT, "--workspace", solved, "--model", checkpoint, "--greedy", "--max-new-tokens", NEW_TOKENS)
    assert out["generated_ids"] == hf_greedy
    assert out["implementation"] == "learner"


def test_streams_text_and_reports_speed(checkpoint: Path) -> None:
    result = cli(PROMPT, "--reference", "--model", checkpoint, "--greedy", "--max-new-tokens", 8)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    assert lines[0].startswith(PROMPT)
    assert "tokens/s" in lines[-1] and "first token after" in lines[-1]


# --- sampling ------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--top-k", "20"], ["--top-p", "0.9", "--temperature", "1.5"]])
def test_same_seed_same_text(checkpoint: Path, extra: list[str]) -> None:
    def sample(seed: int) -> list[int]:
        return run_json(PROMPT, "--reference", "--model", checkpoint, "--seed", seed, "--max-new-tokens", 30,
                        *extra)["generated_ids"]

    first = sample(7)
    assert sample(7) == first
    assert sample(8) != first  # 30 draws from over 100 tokens: a collision is vanishingly unlikely


def test_learner_sampling_honours_seed_top_k_and_temperature(checkpoint: Path, hf_greedy: list[int],
                                                             solved: Path) -> None:
    """The learner's step-14 sampling on their cached model (built once here): seeds differ, top-k 1 is greedy, a tiny
    temperature is greedy and a large one is not; and `generate --seed --top-k --temperature` gives
    exactly what those settings give (each CLI run builds the model again: one run is enough)."""
    from gpt2tutor.generation.checkpoint import resolve
    from gpt2tutor.generation.pipeline import CachedModel, generate, learner_code, pick_device
    from gpt2tutor.generation.sampling import SamplingSettings

    found = resolve(str(checkpoint))
    prompt_ids = transformers.AutoTokenizer.from_pretrained(checkpoint).encode(PROMPT)
    exercises, device, new = solved / "exercises", pick_device("cpu"), 8
    with learner_code(exercises) as code:
        model = CachedModel(code, found.config, found.hf_state_dict(), device)

        def sample(seed: int, temperature: float, top_k: int | None = None) -> list[int]:
            settings = SamplingSettings(greedy=False, temperature=temperature, top_k=top_k, seed=seed)
            return generate(model, prompt_ids, new, settings, device)

        greedy = hf_greedy[:new]
        hot = sample(3, 3.0)
        assert hot != greedy
        assert sample(4, 3.0) != hot
        assert sample(3, 3.0, top_k=1) == greedy
        assert sample(3, 0.01) == greedy
        chosen = sample(5, 2.0, top_k=20)
    assert chosen != greedy
    through_cli = run_json(PROMPT, "--workspace", solved, "--model", checkpoint, "--seed", 5, "--temperature", 2,
                           "--top-k", 20, "--max-new-tokens", new)["generated_ids"]
    assert through_cli == chosen


# --- refusals --------------------------------------------------------------------------------------

def test_pickle_checkpoint_is_refused(tmp_path: Path, checkpoint: Path) -> None:
    folder = tmp_path / "pickled"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((checkpoint / name).read_bytes())
    model = transformers.GPT2LMHeadModel.from_pretrained(checkpoint)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    result = cli(PROMPT, "--reference", "--model", folder)
    assert_one_line_error(result, "pickle", "pytorch_model.bin", "safetensors")


@pytest.mark.parametrize("args, needle", [
    (["", ], "empty"),
    (["   "], "empty"),
    ([PROMPT, "--max-new-tokens", "0"], "--max-new-tokens"),
    ([PROMPT, "--max-new-tokens", "-5"], "--max-new-tokens"),
    ([PROMPT, "--max-new-tokens", "95"], "positions"),  # the small model has 96 positions
    ([PROMPT, "--temperature", "0"], "--temperature"),
    ([PROMPT, "--temperature", "-1"], "--temperature"),
    ([PROMPT, "--top-p", "0"], "--top-p"),
    ([PROMPT, "--top-p", "1.5"], "--top-p"),
    ([PROMPT, "--top-k", "0"], "--top-k"),
    ([PROMPT, "--device", "tpu"], "--device"),
])
def test_bad_input_is_one_line_and_exit_2(checkpoint: Path, args: list[str], needle: str) -> None:
    assert_one_line_error(cli(*args, "--reference", "--model", checkpoint), needle)


def test_missing_folder(tmp_path: Path) -> None:
    assert_one_line_error(cli(PROMPT, "--reference", "--model", tmp_path / "nowhere"), "no folder")


def test_gpu_without_accelerator(checkpoint: Path) -> None:
    from max.driver import accelerator_count

    if accelerator_count() > 0:
        pytest.skip("this machine has a GPU")
    assert_one_line_error(cli(PROMPT, "--reference", "--model", checkpoint, "--device", "gpu"), "gpu")


def test_greedy_allows_any_temperature(checkpoint: Path) -> None:
    out = run_json(PROMPT, "--reference", "--model", checkpoint, "--greedy", "--temperature", "0",
                   "--max-new-tokens", 3)
    assert len(out["generated_ids"]) == 3


def test_locked_until_every_step_passes(tmp_path: Path, checkpoint: Path) -> None:
    ws = make_workspace(tmp_path / "ws", passed=9)
    assert_one_line_error(cli(PROMPT, "--workspace", ws, "--model", checkpoint), "10, 11, 12, 13, 14", "--reference")
    # a file edited after it passed counts as not passed
    ws2 = make_workspace(tmp_path / "ws2")
    path = ws2 / "exercises" / STEPS[6].filename
    path.write_text(path.read_text() + "\n# edited\n")
    assert_one_line_error(cli(PROMPT, "--workspace", ws2, "--model", checkpoint), "07 (changed")


def test_offline_missing_model_says_how_to_pass_a_folder(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE is read when huggingface_hub is imported, hence a fresh process.
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    code = ("import sys, typer; from gpt2tutor.cli import build_app; "
            "typer.main.get_command(build_app(['generate'])).main(args=sys.argv[1:], prog_name='gpt2tutor')")
    proc = subprocess.run([sys.executable, "-c", code, "generate", PROMPT, "--reference", "--model",
                           "gpt2tutor-tests/no-such-model"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "local folder" in lines[0] and "--model" in lines[0]


def test_learner_code_failure_is_reported_without_traceback(tmp_path: Path, checkpoint: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    ws = create(root)
    step = by_role("cached_model")  # step 13: the cached model, which generate compiles and runs
    source = step.solution().replace("        return self.lm_head(", "        raise ValueError('boom')\n"
                                                                   "        return self.lm_head(")
    assert source != step.solution()
    ws.exercise(step).write_text(source, encoding="utf-8")
    state = state_store.load(ws)
    state.mark(step, True, ws.file_hash(step))
    state_store.save(ws, state)
    result = cli(PROMPT, "--workspace", root, "--model", checkpoint, "--greedy", "--max-new-tokens", 3)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    last = stderr_lines(result)[-1]
    assert "step_13.py line" in last and "boom" in last, last


def test_stream_decoder_holds_back_half_characters(tmp_path: Path) -> None:
    from gpt2tutor.generation.tokenizer import StreamDecoder, Tokenizer

    save_tokenizer(tmp_path, byte_alphabet=True)  # the checkpoint's tokens are whole ASCII characters
    tok = Tokenizer(tmp_path, "small")
    text = "a time é 🙂 the end"
    decoder = StreamDecoder(tok)
    pieces = [decoder.push(t) for t in tok.encode(text)] + [decoder.flush()]
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)


# --- gpt2tutor attention -------------------------------------------------------------------------

LEGEND = "rows: each token (query) · columns: the tokens it attends to (keys)"


def test_attention_heatmap_and_its_legend_at_80_columns(checkpoint: Path) -> None:
    prompt = "Once upon a time there was a small model"  # enough tokens for the legend to wrap
    result = runner.invoke(app, ["attention", prompt, "--model", str(checkpoint), "--layer", "1", "--head", "2"],
                           env={**ENV, "COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "block 1 · head 2" in result.stdout
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    legend = next(i for i, line in enumerate(lines) if line.startswith("rows:"))  # under the heatmap, at the left
    assert lines[legend].startswith(LEGEND)  # wrapped at 80 columns, not into a column beside the cells
    assert any(line.startswith("keys: 0=") for line in lines[legend:])


def test_attention_legend_wraps_at_the_console_width() -> None:
    import numpy as np
    from rich.console import Console

    from gpt2tutor.cli.render import heatmap

    tokens = ["Once", " upon", " a", " time"]
    weights = np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]
    out = Console(width=80, record=True, color_system=None)
    out.print(heatmap(weights, tokens, "small · block 0 · head 0"))
    lines = out.export_text().splitlines()
    table_width = max(len(line.rstrip()) for line in lines[:6])
    legend = [line for line in lines if line.startswith(("rows:", "are percent", "keys:"))]
    assert legend[0].startswith(LEGEND) and len(legend[0].rstrip()) > table_width  # under it, not beside it
    assert all(len(line) <= 80 for line in lines)
    assert "keys: 0=Once  1=·upon  2=·a  3=·time" in lines[-1]


def test_attention_waits_for_its_kernels_on_a_cold_machine(checkpoint: Path, own_cache: Path, spawned,
                                                            monkeypatch) -> None:
    """The first run on a machine says what MAX is preparing and for how long, as `check` does: it waits for
    the background compile of the checks' kernels (a fake one here, which sleeps), then reports any kernel
    MAX prepares on the way. The model itself is replaced: what it computes is tested above."""
    import time

    import numpy as np

    from gpt2tutor import background, kernels, waiting
    from gpt2tutor.events import Compiled, Compiling
    from gpt2tutor.generation import attention_map

    monkeypatch.setattr(waiting.maxenv, "full_cache_compiled", lambda: False)
    monkeypatch.setattr(waiting, "_gave_up", False)
    monkeypatch.setattr(background, "launch", lambda: start_fake(spawned, "0.2"))
    ready = []

    def model(config, weights, ids, layer, on_progress=None):
        ready.append(not kernels.missing(kernels.batches_for(attention_map.model_step())))
        on_progress(Compiling("unary_TanhOp_cpu_0_float32"))
        time.sleep(1.2)  # a compile the tutor shows takes over a second
        on_progress(Compiled("unary_TanhOp_cpu_0_float32", seconds=1.2))
        n = len(ids)
        return np.tril(np.ones((config.n_head, n, n))) / np.arange(1, n + 1)[:, None]

    monkeypatch.setattr(attention_map, "attention_weights", model)
    result = runner.invoke(app, ["attention", PROMPT, "--model", str(checkpoint)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "MAX is compiling the kernels the attention map needs" in result.stderr
    assert "MAX's kernels for the attention map are ready (waited" in result.stderr
    assert ready == [True] and len(spawned) == 1  # the model ran once its kernels were compiled
    assert "preparing 1 kernel the tutor had not loaded" in result.stderr
    assert "block 0 · head 0" in result.stdout


RECORDER = Path(__file__).resolve().parents[1] / "tools" / "record_kernels.py"


def test_the_manifest_covers_what_generate_uses(checkpoint: Path, tmp_path: Path) -> None:
    """A real `generate --reference`, greedy and sampled, with every target it looks up recorded: each is in the
    manifest's generate list (tests/test_perf_infra.py checks a batch holds each). When generate's path starts
    using another op, this fails: regenerate with `python tools/record_kernels.py --generate`."""
    from gpt2tutor import kernels

    out = tmp_path / "used.json"
    done = subprocess.run([sys.executable, str(RECORDER), "_record_generation", str(checkpoint), str(out)],
                          capture_output=True, text=True, timeout=600,
                          env={**child_environment(), kernels.BACKGROUND_SWITCH: "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    used = {tuple(k) for k in json.loads(out.read_text())}
    assert used, "no target recorded: the recording is broken"
    assert used <= set(kernels.generate_targets()), sorted(used - set(kernels.generate_targets()))


def test_generate_loads_the_compiled_kernels_before_the_model_runs(checkpoint: Path, monkeypatch) -> None:
    """The checks' batches (and the generation batch) hold what generate_tokens runs; loading them is what spares
    the first generate MAX's compile of each target."""
    from gpt2tutor import kernels
    from gpt2tutor.generation import pipeline

    order = []
    monkeypatch.setattr(kernels, "preload_generation", lambda emit=None: order.append("kernels") or [])
    real = pipeline.generate
    monkeypatch.setattr(pipeline, "generate", lambda *a, **kw: order.append("generate_tokens") or real(*a, **kw))
    result = cli(PROMPT, "--reference", "--greedy", "-n", "2", "--model", checkpoint)
    assert result.exit_code == 0, result.output
    assert order == ["kernels", "generate_tokens"]


def test_the_checks_kernels_cover_attention(checkpoint: Path) -> None:
    """attention waits only for the kernel batches of steps up to the model step: every kernel it runs is in
    one. In a fresh process without the batches, MAX reports each kernel on its first use."""
    from gpt2tutor import kernels
    from gpt2tutor.generation.attention_map import model_step
    from gpt2tutor.registry import up_to

    code = ("import json, sys\n"
            "from gpt2tutor.maxenv import tune_process\n"
            "tune_process()\n"
            "from gpt2tutor.generation.attention_map import attention_weights\n"
            "from gpt2tutor.generation.checkpoint import resolve\n"
            "from gpt2tutor.generation.tokenizer import Tokenizer\n"
            "ck = resolve(sys.argv[1])\n"
            "used = set()\n"
            "ids = Tokenizer(ck.folder, ck.name).encode('Once upon a time')\n"
            "attention_weights(ck.config, ck.state_dict(), ids, 1, on_progress=lambda r: used.add(getattr(r, 'what', None) if type(r).__name__ == 'Compiling' else None))\n"
            "print(json.dumps(sorted(k for k in used if k)))\n")
    env = {**os.environ, kernels.ENV_SWITCH: "0"}
    done = subprocess.run([sys.executable, "-c", code, str(checkpoint)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    used = json.loads(done.stdout.splitlines()[-1])
    batch_of = {key: batch for batch in kernels.batches() for _, key in batch.keys}
    assert used, "no kernel reported: the report is broken"
    for key in used:
        batch = batch_of.get(key)
        assert batch is not None and batch.step is not None and batch.step in up_to(model_step()), (
            f"attention uses {key}, outside the checks' batches up to step {model_step().id}")


def run_hiding_torch(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI in a process where torch is not installed, as after the README's `pip install .`."""
    code = ("import importlib.util, sys\n"
            "find = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, *a, **k: None if name.partition('.')[0] == 'torch' "
            "else find(name, *a, **k)\n"
            "sys.modules['torch'] = None  # import torch raises ImportError\n"
            "from gpt2tutor.cli import main\n"
            "main()\n")
    full = {k: v for k, v in os.environ.items() if k not in ("GPT2TUTOR_WORKSPACE", "COLUMNS")}
    full.update(NO_COLOR="1", **(env or {}))
    return subprocess.run([sys.executable, "-c", code, *args], env=full, capture_output=True, text=True,
                          timeout=600)


FOREIGN = ("[transformers]", "PyTorch", "on the fly in", "warm-interpreter-cache", "Warning", "WARNING")


@pytest.mark.parametrize("command", [["generate", PROMPT, "--reference", "--greedy", "-n", "4"],
                                     ["attention", PROMPT]])
def test_no_foreign_notices_without_torch(checkpoint: Path, command: list[str]) -> None:
    result = run_hiding_torch(*command, "--model", str(checkpoint))
    assert result.returncode == 0, result.stderr
    foreign = [line for line in (result.stdout + result.stderr).splitlines() if any(f in line for f in FOREIGN)]
    assert not foreign, foreign


def test_maxs_compile_notice_is_left_to_the_tutor() -> None:
    """MAX logs its first on-the-fly compile of a process; the tutor's processes keep that logger quiet (the
    tutor shows compiles itself). Without tune_process the same call prints, so the check can fail."""
    code = ("import sys\n"
            "if sys.argv[1] == 'tuned':\n"
            "    from gpt2tutor.maxenv import tune_process\n"
            "    tune_process()\n"
            "from max import _eager_policy\n"
            "_eager_policy.record_cold_compile('gather_GatherOp_cpu_0_uint32_int64', 12.0, provisioned=False)\n")

    def stderr(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=120,
                              env=child_environment()).stderr

    assert "on the fly" in stderr("bare")
    assert stderr("tuned") == ""


def test_attention_weights_equal_transformers_output_attentions(checkpoint: Path) -> None:
    """The numbers the heatmap draws: every layer's and head's weights against HF's output_attentions."""
    from gpt2tutor.generation.attention_map import attention_weights
    from gpt2tutor.generation.checkpoint import resolve

    found = resolve(str(checkpoint))
    ids = transformers.AutoTokenizer.from_pretrained(checkpoint).encode(PROMPT)
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(checkpoint, attn_implementation="eager").eval()
    with torch.no_grad():
        theirs = hf_model(torch.tensor([ids]), output_attentions=True).attentions
    weights = found.state_dict()
    for layer in range(found.config.n_layer):
        ours = attention_weights(found.config, weights, ids, layer)
        expected = theirs[layer][0].numpy()  # [n_head, seq, seq]
        assert ours.shape == expected.shape
        assert float(abs(ours - expected).max()) <= 1e-5, layer


@pytest.mark.parametrize("args, needle", [(["--layer", "2"], "--layer"), (["--head", "4"], "--head"),
                                          (["--layer", "-1"], "--layer")])
def test_attention_bad_layer_or_head(checkpoint: Path, args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["attention", PROMPT, "--model", str(checkpoint), *args], env=ENV)
    assert_one_line_error(result, needle)


def _has_loaded_max(pid: int) -> bool:
    """MAX's native library is mapped: the command is running, past Python's start-up and imports."""
    try:
        return "/max/_core" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _without_a_starting_child(output: str) -> str:
    """The output less what a Python child still starting up prints when the Ctrl-C (sent to the whole process
    group, as a terminal sends it) reaches it: MAX starts helper processes of its own while it compiles, and
    one caught in its `site` import prints "Fatal Python error: init_import_site" and a traceback of its own
    start-up. `generate` itself is far past its start-up by now (MAX is loaded)."""
    import re

    return re.sub(r"Fatal Python error: init_import_site.*?\nKeyboardInterrupt\n", "", output, flags=re.S)


@pytest.mark.parametrize("after", [
    0.3,  # while MAX's native modules load: a KeyboardInterrupt there once aborted the process (SIGABRT)
    1.0,  # while the weights load and the model compiles (~4 s from MAX's cache), well before the last token
])
def test_ctrl_c_during_generate_exits_130_cleanly(tmp_path: Path, checkpoint: Path, after: float) -> None:
    """SIGINT while the weights load or the model compiles: exit 130, no traceback, no process left."""
    with tutor("generate", PROMPT, "--reference", "--model", checkpoint, "--max-new-tokens", "80", "--seed", "1",
               cwd=tmp_path) as proc:
        wait_until(lambda: _has_loaded_max(proc.pid), 120, "generate to import MAX")
        time.sleep(after)
        assert proc.poll() is None, "generate finished before it could be interrupted"
        interrupt(proc)
        code, output = finish(proc, timeout=60)
        assert code == 130, output
        assert "Traceback" not in _without_a_starting_child(output), output
        assert output.rstrip().endswith("Interrupted."), output  # the CLI's own word, not Typer's silent 130
        assert not left_behind(proc), "a process outlived `generate` after Ctrl-C"
