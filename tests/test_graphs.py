"""The learner's cached model compiled in the background and compared with itself run eagerly
(gpt2tutor/graphs.py): a disagreement is found, named, and reported by `check`, `list` and `generate`, never
a pass; the background process runs the jobs and commands wait for them.

Most tests here never compile: the comparison runs with MAX's compile replaced by a stand-in whose numbers are
wrong on purpose. One test compiles for real, at the small checkpoint's sizes that tests/test_generate.py
uses too (so MAX's disk cache serves whichever runs second).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_generate import checkpoint, make_workspace  # noqa: F401 - fixtures
from test_perf_infra import own_cache, spawned  # noqa: F401 - fixtures
from typer.testing import CliRunner

from gpt2tutor import background, background_report, graphs, waiting
from gpt2tutor.cli import app
from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import STEPS, by_role

SMALL = dict(vocab_size=61, n_positions=24, n_embd=32, n_layer=2, n_head=4, n_inner=96, layer_norm_epsilon=1e-5)
VARIANTS = Path(__file__).parent / "variants"
runner = CliRunner()


def cli(*args, env: dict | None = None):
    base = {"GPT2TUTOR_WORKSPACE": None, "COLUMNS": "200", "NO_COLOR": "1", "GPT2TUTOR_DEBUG": None}
    return runner.invoke(app, [str(a) for a in args], env={**base, **(env or {})})


def run_job(exercises: Path, fake: str, sizes: dict = SMALL) -> graphs.Verdict:
    """graphs.run on these files in a process of its own, MAX's compile replaced by `fake` (Python defining
    `compile(self, *types, weights=None, **kw)`), at `sizes`."""
    code = textwrap.dedent("""
        import json, sys
        from gpt2tutor.maxenv import tune_process
        tune_process()
        from max.experimental.nn import Module
        from gpt2tutor import graphs
    """) + textwrap.dedent(fake) + textwrap.dedent("""
        Module.compile = compile
        job = graphs.Job("test", sys.argv[1], 0.0)
        print(json.dumps(vars(graphs.run(job))))
    """)
    env = {**child_environment(), graphs.ENV_SIZES: json.dumps(sizes)}
    done = subprocess.run([sys.executable, "-c", code, str(exercises)], capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 0, done.stderr
    return graphs.Verdict(**json.loads(done.stdout.strip().splitlines()[-1]))


# The stand-in for a compiled model: the module run eagerly with the weights given, its logits changed.
EAGER_PLUS = """
from gpt2tutor.checking.compiles import Recorded, CompileCall
def compile(self, *types, weights=None, **kw):
    eager = Recorded(CompileCall(self, types, weights))
    def run(ids, past):
        logits, past = eager(ids, past)
        return {change}, past
    return run
"""


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("graphs") / "ws") / "exercises"


def test_the_comparison_finds_a_compiled_graph_that_disagrees(solved: Path) -> None:
    agree = run_job(solved, EAGER_PLUS.format(change="logits"))
    assert agree.state == "agrees" and agree.worst is not None and agree.worst <= graphs.TOLERANCE["cpu"]
    off = run_job(solved, EAGER_PLUS.format(change="logits + 0.05"))
    assert off.state == "disagrees" and "computes something else" in off.message
    assert "the call with 3 new tokens after 0 cached" in off.message


def test_a_nan_graph_from_a_where_mask_is_named(tmp_path: Path) -> None:
    """The learner's where(-inf) mask, which MAX 26.7 compiles to NaN: the verdict says which line of thought to
    change (the stand-in gives NaN as MAX's compiled graph does)."""
    exercises = make_workspace(tmp_path / "ws") / "exercises"
    step = by_role("cached_model")
    variant = (VARIANTS / f"step_{step.id}" / "where_minus_inf_mask.py").read_text()
    (exercises / step.filename).write_text(variant)
    found = run_job(exercises, EAGER_PLUS.format(change="logits * float('nan')"))
    assert found.state == "disagrees" and "F.where(mask, -inf, scores)" in found.message
    assert "0 * -inf = NaN" in found.message


def test_a_disagreement_fails_the_check_and_shows_in_list_and_generate(tmp_path: Path, checkpoint: Path,
                                                                      request) -> None:
    """A verdict of disagreement for the learner's files as they are: `check` fails the cached-model step with it,
    `list` shows it, `generate` and `serve` refuse to run that graph. Never a pass."""
    first = STEPS[0]
    root = make_workspace(tmp_path / "ws", mark=f"# this test's own files: {tmp_path}\n")  # a verdict of their own
    exercises = root / "exercises"
    env = {"GPT2TUTOR_KERNELS": "0"}  # no background process: the verdict is given
    step = by_role("cached_model")
    request.addfinalizer(lambda: graphs.verdict_path(graphs.key(exercises)).unlink(missing_ok=True))
    wrong = "the compiled graph computes something else than your code does eagerly (a test's verdict)"
    graphs.save(graphs.Verdict(graphs.key(exercises), "disagrees", wrong))  # it arrives after the step passed
    listed = cli("list", "--json", "-w", root, env=env)
    statuses = {s["step"]: s["status"] for s in json.loads(listed.stdout)["steps"]}
    assert statuses[step.id] == "differs", statuses
    generated = cli("generate", "Once upon a time", "-w", root, "--model", checkpoint, "--greedy", env=env)
    assert generated.exit_code == 1 and "a test's verdict" in generated.stderr, generated.output
    checked = cli("check", step.id, "-w", root, env=env)
    assert checked.exit_code == 1, checked.output
    assert "a test's verdict" in checked.stdout and "does not pass" in checked.stdout
    # an edit to the files makes the verdict stale: it no longer applies
    stale = graphs.verdict_path(graphs.key(exercises))
    (exercises / first.filename).write_text((exercises / first.filename).read_text() + "\n# edited\n")
    assert graphs.verdict(graphs.key(exercises)) is None
    stale.unlink()


def test_commands_wait_for_the_background_compile(tmp_path: Path, own_cache: Path, spawned, monkeypatch) -> None:
    """A queued job: the background process runs it (here a stand-in that writes a verdict after a second), and
    waiting for it sends Waiting events and ends with the verdict."""
    monkeypatch.setenv(graphs.ENV_SIZES, json.dumps(SMALL))
    exercises = make_workspace(tmp_path / "ws") / "exercises"
    assert graphs.queue(exercises) and not graphs.queue(exercises)  # once
    graph_key = graphs.key(exercises)
    fake = textwrap.dedent("""
        import sys, time
        import gpt2tutor.background as b, gpt2tutor.graphs as g, gpt2tutor.kernels as k
        b._compile_batch = k.mark_compiled
        b._build_mojo_packages = lambda: None
        def run_job(job):
            time.sleep(1.0)
            g.save(g.Verdict(job.key, "agrees", worst=1e-6))
            g.done(job)
        b._run_job = run_job
        sys.exit(b.run())
    """)
    monkeypatch.setattr(background, "launch", lambda: None)  # only the stand-in runs
    proc = subprocess.Popen([sys.executable, "-c", fake], env={**child_environment(), graphs.ENV_SIZES: json.dumps(SMALL)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    spawned.append(proc)
    deadline = time.monotonic() + 30
    while not background_report.running():
        assert time.monotonic() < deadline and proc.poll() is None, "the stand-in did not start"
        time.sleep(0.05)
    seen = []
    found = waiting.wait_for_graph(graph_key, who="your cached GPT-2", on_event=seen.append)
    assert found is not None and found.agrees
    kinds = [type(e).__name__ for e in seen]
    assert "Waiting" in kinds and kinds[-1] == "WaitOver" and seen[-1].ready and seen[-1].what == "graph"
    assert proc.wait(timeout=60) == 0 and not graphs.jobs()


def test_the_background_compile_agrees_for_the_reference(tmp_path: Path, checkpoint: Path) -> None:
    """For real: the job compiles the reference solutions' cached model at the small checkpoint's sizes and
    finds the compiled numbers equal to the eager ones."""
    config = json.loads((checkpoint / "config.json").read_text())
    sizes = dict(vocab_size=config["vocab_size"], n_positions=config["n_positions"], n_embd=config["n_embd"],
                 n_layer=config["n_layer"], n_head=config["n_head"], n_inner=4 * config["n_embd"],
                 layer_norm_epsilon=config["layer_norm_epsilon"])
    exercises = make_workspace(tmp_path / "ws") / "exercises"
    code = "import sys; from gpt2tutor import graphs; print(graphs.run(graphs.Job('t', sys.argv[1], 0)).state)"
    done = subprocess.run([sys.executable, "-c", code, str(exercises)], capture_output=True, text=True,
                          timeout=1800, env={**child_environment(), graphs.ENV_SIZES: json.dumps(sizes)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "agrees", done.stdout
