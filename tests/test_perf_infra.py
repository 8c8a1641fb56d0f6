"""The machinery that makes checks fast: kernel batches, the background process compiling them, waiting for
it, the spare check process `watch` keeps, and the time limit pausing while MAX compiles. Behaviour only:
nothing here asserts on time (benchmarks/ measures). The background process runs with its compiling replaced
by a short sleep, against a MAX cache folder of its own, so these tests never compile a kernel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console

from gpt2tutor import api, background, background_report, fullcache, graphs, kernels, waiting
from gpt2tutor.checking import runner
from gpt2tutor.checking.runner import SpareChecker, run_checks
from gpt2tutor.cli.doctor import compile_full_cache
from gpt2tutor.cli.render import Renderer
from gpt2tutor.cli.start import StartView
from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import STEPS, by_role, get_step

# A background process whose compiling is a sleep (argv[1] seconds a batch; "fail" raises instead).
RECORDER = Path(__file__).resolve().parents[1] / "tools" / "record_kernels.py"
FAKE_BACKGROUND = textwrap.dedent("""
    import sys, time
    import gpt2tutor.kernels as k, gpt2tutor.background as b
    def compile_batch(batch):
        if sys.argv[1] == "fail":
            raise RuntimeError("no compiler today")
        time.sleep(float(sys.argv[1]))
        k.mark_compiled(batch)
    b._compile_batch = compile_batch
    b._build_mojo_packages = lambda: None
    sys.exit(b.run())
""")


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch) -> Path:
    """A MAX cache folder (and the tutor's files for it) of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MODULAR_DERIVED_PATH", raising=False)
    monkeypatch.delenv(kernels.ENV_SWITCH, raising=False)
    monkeypatch.delenv(kernels.BACKGROUND_SWITCH, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def spawned():
    """Processes a test starts; any still running at the end are killed with their group."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def start_fake(procs: list, arg: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", FAKE_BACKGROUND, arg], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=child_environment())
    procs.append(proc)
    return proc


def wait_until(condition, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def names(batches) -> list[str]:
    return [b.name for b in batches]


def wait(steps, ui) -> bool:
    """What `check` does before running these steps' checks, drawn on `ui`."""
    return waiting.wait_for_kernels(steps, who=f"step {steps[-1].id}", on_event=Renderer(ui))


# --- the manifest ---------------------------------------------------------------------------------

def test_batches_are_in_learner_order_and_each_target_appears_once() -> None:
    batches = kernels.batches()
    numbered = [b.step.number for b in batches if b.step is not None]
    assert numbered == sorted(numbered) and numbered[0] == 2  # step 01 runs no kernels
    assert not get_step(1).kernels and numbered == [s.number for s in STEPS if s.kernels and s.kernel_batch == s.id]
    keys = [k for b in batches for k in b.keys]
    assert len(keys) == len(set(keys))
    assert all(b.estimate > 0 for b in batches)
    assert [b.step.number for b in kernels.batches_for(get_step(4))] == [n for n in numbered if n <= 4]


def test_the_manifest_covers_what_the_reference_checks_use(tmp_path: Path) -> None:
    """When a check starts using another op, this fails: regenerate with `python tools/record_kernels.py`."""
    exercises = tmp_path / "exercises"
    exercises.mkdir()
    for step in STEPS:
        (exercises / step.filename).write_text(step.solution(), encoding="utf-8")
    out = tmp_path / "used.json"
    subprocess.run([sys.executable, str(RECORDER), "_record_run", str(exercises), str(out),
                    *[s.id for s in STEPS]], cwd=exercises, check=True, capture_output=True, timeout=600,
                   env=child_environment())
    used = json.loads(out.read_text())
    batch_of = {tuple(k): b for b in kernels.batches() for k in b.keys}
    for sid, keys in used.items():
        for key in map(tuple, keys):
            assert key in batch_of, f"check {sid} uses {key}, which no batch compiles: regenerate the manifest"
            batch = batch_of[key]
            assert batch.step is not None and batch.step.number <= int(sid), (
                f"check {sid} uses {key} from batch {batch.name}: regenerate the manifest")


def test_the_manifest_lists_what_generate_uses_and_each_is_compiled_before_it() -> None:
    """`generate`'s targets, greedy and sampled, each in a check batch of a step up to the generation step (the
    background compiles those first) or in the generation batch. tests/test_generate.py records a real run."""
    used = kernels.generate_targets()
    targets = {key for _, key in used}
    assert "reduce_ReduceArgMaxOp_cpu_0_float32" in targets  # greedy
    assert {"TopKOp_cpu_0_float32", "random_RandomUniformOp_cpu_0_float32"} <= targets  # top-k, the seeded draw
    generation = kernels.generation_batch()
    early = {k for b in kernels.batches_for(by_role("generation")) for k in b.keys}
    assert set(used) <= early | set(generation.keys if generation is not None else ())
    assert generation is None or generation.name == kernels.GENERATION and generation not in kernels.batches()


# --- the background process ----------------------------------------------------------------------

def test_background_compiles_every_batch_in_order_and_records_it(own_cache: Path, spawned) -> None:
    assert names(kernels.missing(kernels.batches())) == names(kernels.batches())
    proc = start_fake(spawned, "0.05")
    assert proc.wait(timeout=60) == 0
    report = background_report.read_report()
    assert report.state == "done" and not report.alive
    assert [n for n in report.done if n != background_report.MOJO] == names(kernels.batches()) and report.todo == []
    assert kernels.missing(kernels.batches()) == []
    assert kernels.marker_path().parent == own_cache / "modular" / ".max_cache"  # next to MAX's kernels
    assert not background.needed()


def test_a_killed_background_leaves_sound_files_and_the_next_one_resumes(own_cache: Path, spawned) -> None:
    proc = start_fake(spawned, "0.4")
    wait_until(lambda: len([n for n in background_report.read_report().done if n != background_report.MOJO]) >= 2)
    assert background_report.running() and background_report.read_report().alive
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    report = background_report.read_report()  # parses: written atomically
    assert not report.alive and not background_report.running()  # the lock went with the process
    finished = [b for b in kernels.batches() if b not in kernels.missing(kernels.batches())]
    done = [n for n in report.done if n != background_report.MOJO]
    assert len(finished) >= 2 and names(finished) == done[:len(finished)]
    resumed = start_fake(spawned, "0.01")
    assert resumed.wait(timeout=60) == 0
    again = background_report.read_report()
    assert again.state == "done" and not set(again.done) & set(names(finished))  # only what was left
    assert kernels.missing(kernels.batches()) == []


def test_one_background_process_per_cache(own_cache: Path, spawned) -> None:
    first = start_fake(spawned, "1.0")
    wait_until(background_report.running)
    second = start_fake(spawned, "0.3")
    assert second.wait(timeout=30) == 0
    assert "another background process is running" in second.stdout.read().decode()
    assert first.poll() is None
    assert first.wait(timeout=60) == 0


def test_a_failing_background_says_why(own_cache: Path, spawned) -> None:
    proc = start_fake(spawned, "fail")
    assert proc.wait(timeout=60) == 1
    report = background_report.read_report()
    assert report.state == "failed" and "no compiler today" in report.error
    assert kernels.missing(kernels.batches()) == kernels.batches()


@pytest.mark.parametrize("cores, pace", [(1, 1.0), (2, 1.0), (4, 0.7), (64, 0.7)])
def test_the_estimate_scales_with_the_machine(monkeypatch, cores: int, pace: float) -> None:
    """The estimates are for 2 cores: with nothing measured yet, a machine with more is taken as 0.7x as slow
    (background_report.pace_for_cores); once a task is measured, the measured pace counts, whatever the cores."""
    monkeypatch.setattr(background_report.os, "cpu_count", lambda: cores)
    report = background_report.Report(state="working", task="a", todo=["a", "b"], estimates={"a": 10.0, "b": 20.0},
                               task_started=time.time() - 5, alive=True)
    expected = (10 * pace - 5) + 20 * pace  # a: its estimate less the 5 s it has run; b: all of its estimate
    assert expected - 1 < report.remaining() < expected + 1
    report.done, report.seconds, report.estimates["x"] = ["x"], {"x": 15.0}, 10.0  # x took 1.5x its estimate
    assert 10 * 1.5 - 5 + 20 * 1.5 - 1 < report.remaining() < 10 * 1.5 - 5 + 20 * 1.5 + 1


def test_the_estimate_grows_while_a_batch_overruns() -> None:
    """The one estimate of the time left never sits near zero while a task takes longer than expected."""
    report = background_report.Report(state="working", task="a", todo=["a", "b"], estimates={"a": 10.0, "b": 20.0},
                               task_started=time.time() - 60, alive=True)  # six times its estimate
    assert report.overdue() and report.remaining("a") >= 19
    report.task_started = time.time() - 120
    assert report.remaining("a") >= 39


# --- the generation batch: the kernels generate uses that no check batch holds --------------------------
# Today every target of generate's is in a check batch (the manifest test above), so these tests make one up.

FAKE_GENERATION_BATCH = kernels.Batch(kernels.GENERATION, (("unary", "unary_FakeOp_cpu_0_float32"),), 1.0)
FAKE_BACKGROUND_WITH_GENERATION = textwrap.dedent("""
    import sys, time
    import gpt2tutor.background as b, gpt2tutor.graphs as g, gpt2tutor.kernels as k
    k.generation_batch = lambda: k.Batch(k.GENERATION, (("unary", "unary_FakeOp_cpu_0_float32"),), 1.0)
    def compile_batch(batch):
        time.sleep(float(sys.argv[1]))
        k.mark_compiled(batch)
    def run_job(job):  # the learner's cached model, compiled and compared
        g.save(g.Verdict(job.key, "agrees", worst=1e-6))
        g.done(job)
    b._compile_batch, b._run_job, b._build_mojo_packages = compile_batch, run_job, lambda: None
    sys.exit(b.run())
""")


def start_fake_with_generation(procs: list, arg: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", FAKE_BACKGROUND_WITH_GENERATION, arg], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            env=child_environment())
    procs.append(proc)
    return proc


def test_the_background_compiles_the_generation_batch_once_the_generation_step_is_reached(
        own_cache: Path, spawned, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(kernels, "generation_batch", lambda: FAKE_GENERATION_BATCH)
    assert start_fake_with_generation(spawned, "0.01").wait(timeout=60) == 0
    assert kernels.GENERATION not in background_report.read_report().done  # no learner here reached the generation step
    assert kernels.missing([FAKE_GENERATION_BATCH]) and not background.needed()
    exercises = tmp_path / "exercises"
    exercises.mkdir()
    assert graphs.queue(exercises)  # what `check` does once the cached model's steps pass: step 14 is open
    assert background.needed()
    assert start_fake_with_generation(spawned, "0.01").wait(timeout=60) == 0
    report = background_report.read_report()
    assert report.done == [f"graph:{graphs.key(exercises)[:8]}", kernels.GENERATION] and report.todo == []
    assert report.labels[kernels.GENERATION] == "the kernels generate uses"
    assert not kernels.missing([FAKE_GENERATION_BATCH]) and not background.needed()


def test_generate_waits_for_the_generation_batch_only_once_it_is_due(own_cache: Path, spawned, tmp_path: Path,
                                                                      monkeypatch) -> None:
    monkeypatch.setattr(kernels, "generation_batch", lambda: FAKE_GENERATION_BATCH)
    monkeypatch.setattr(waiting.maxenv, "full_cache_compiled", lambda: False)
    monkeypatch.setattr(waiting, "_gave_up", False)
    monkeypatch.setattr(background, "launch", lambda: start_fake_with_generation(spawned, "0.2"))
    assert waiting.wait_for_generation() is False and not spawned  # not due: MAX compiles as it goes
    exercises = tmp_path / "exercises"
    exercises.mkdir()
    assert graphs.queue(exercises)
    seen = []
    assert waiting.wait_for_generation(on_event=seen.append) is True
    kinds = [type(e).__name__ for e in seen]
    assert "Waiting" in kinds and kinds[-1] == "WaitOver" and seen[-1].ready and seen[-1].who == "generate"
    assert not kernels.missing([FAKE_GENERATION_BATCH]) and len(spawned) == 1


# --- a check waiting for it -------------------------------------------------------------------------

def record_console() -> Console:
    return Console(record=True, width=200, force_terminal=False)


def test_check_waits_for_the_background_on_a_cold_machine(own_cache: Path, spawned, monkeypatch) -> None:
    monkeypatch.setattr(waiting.maxenv, "full_cache_compiled", lambda: False)
    monkeypatch.setattr(waiting, "_gave_up", False)
    monkeypatch.setattr(background, "launch", lambda: start_fake(spawned, "0.2"))
    ui = record_console()
    assert wait([get_step(4)], ui) is True
    text = ui.export_text()
    assert "compiling the kernels step 04 needs" in text and "step 04 are ready" in text
    assert kernels.missing(kernels.batches_for(get_step(4))) == []
    assert len(spawned) == 1  # it started the background process once, and waited for it


def test_check_does_not_wait_where_maxs_full_cache_serves_it(own_cache: Path, spawned, monkeypatch) -> None:
    monkeypatch.setattr(waiting.maxenv, "full_cache_compiled", lambda: True)
    monkeypatch.setattr(background, "launch", lambda: start_fake(spawned, "0.2"))
    assert wait([get_step(7)], record_console()) is False  # not ready, but no waiting
    assert len(spawned) == 1  # the batches compile in the background meanwhile


def test_check_stops_waiting_when_the_background_fails(own_cache: Path, spawned, monkeypatch) -> None:
    monkeypatch.setattr(waiting.maxenv, "full_cache_compiled", lambda: False)
    monkeypatch.setattr(waiting, "_gave_up", False)
    monkeypatch.setattr(background, "launch", lambda: start_fake(spawned, "fail"))
    ui = record_console()
    assert wait([get_step(2)], ui) is False
    text = ui.export_text()
    assert "background compile stopped" in text and "no compiler today" in text
    assert len(spawned) == 2  # one retry, then the check goes its own way


def test_start_launches_the_background_and_returns(own_cache: Path, spawned, monkeypatch) -> None:
    monkeypatch.setattr(background, "launch", lambda: start_fake(spawned, "0.2"))
    ui = record_console()
    api.start_background(StartView(ui))
    assert "compiling now in the background" in ui.export_text()
    assert spawned[0].poll() is None  # still compiling: start did not wait
    assert spawned[0].wait(timeout=60) == 0


def test_kernels_switch_off(own_cache: Path, spawned, monkeypatch) -> None:
    monkeypatch.setenv(kernels.ENV_SWITCH, "0")
    monkeypatch.setattr(background, "launch", lambda: start_fake(spawned, "0.2"))
    assert wait([get_step(12)], record_console()) is True
    assert kernels.preload(get_step(12)) == []
    assert not spawned


# --- the time limit waits while MAX compiles ---------------------------------------------------------

def test_the_time_limit_pauses_while_max_compiles(tmp_path: Path, monkeypatch) -> None:
    """A child that reports a compile taking longer than the time limit is not killed for it."""
    script = textwrap.dedent("""
        import sys, time
        from gpt2tutor.checking.protocol import Finished, Started, Writer
        from gpt2tutor.checking.results import Result
        from gpt2tutor.events import Compiled, Compiling
        emit = Writer(sys.argv[sys.argv.index("--results") + 1])
        emit(Started("04"))
        emit(Compiling("unary_ExpOp_cpu_0_float32"))
        time.sleep(2.5)
        emit(Compiled("unary_ExpOp_cpu_0_float32", seconds=2.5))
        emit(Result("04", "behaviour", "n", True))
        emit(Finished("04"))
    """)

    def fake_spawn(exercises, args, *, stdin=subprocess.DEVNULL):
        return subprocess.Popen([sys.executable, "-c", script, *args], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, env=child_environment())

    monkeypatch.setattr(runner, "_spawn", fake_spawn)
    seen = []
    outcome = run_checks([get_step(4)], tmp_path, timeout=1, on_progress=seen.append)[0]
    assert outcome.passed, outcome.results
    assert [type(r).__name__ for r in seen] == ["Compiling", "Compiled"]


# --- the pre-started check process (watch) ------------------------------------------------------------

def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


MLP_FORWARD = """
from max.experimental.nn import Linear, Module
class GPT2MLP(Module):
    def __init__(self, intermediate_size, config):
        self.c_fc = Linear(config.n_embd, intermediate_size)
        self.c_proj = Linear(intermediate_size, config.n_embd)
    def forward(self, x):
        {body}
"""


def test_the_prestarted_child_isolates_each_check(solved_exercises: Path) -> None:
    step = get_step(4)
    path = solved_exercises / step.filename
    good = path.read_text()
    with SpareChecker(solved_exercises) as checker:
        assert checker.run([step], timeout=60)[0].passed
        spare = checker._spare
        assert spare is not None and alive(spare.proc.pid)  # the next one is ready

        path.write_text(MLP_FORWARD.format(body="import os; os.abort()"))
        crashed = checker.run([step], timeout=60)[0]
        assert not crashed.passed and "SIGABRT" in crashed.results[-1].message
        assert not alive(spare.proc.pid)  # it was used up, and died with the learner's code

        path.write_text(MLP_FORWARD.format(body="return input('name? ')"))
        asked = checker.run([step], timeout=60)[0]
        assert not asked.passed and "EOFError" in asked.results[-1].message  # stdin is closed, as in any check

        path.write_text(good)
        assert checker.run([step], timeout=60)[0].passed  # a fresh import of the fixed file
        last = checker._spare
    assert last is not None
    wait_until(lambda: not alive(last.proc.pid), limit=10)  # closing ends the spare: no orphan


KEEPER = "import time\nfrom gpt2tutor.checking import spares\nk = spares.Keeper()\nwhile k.tend() or k.stop_idle():\n    time.sleep(0.05)\n"


def test_a_spare_from_the_background_serves_the_next_check(solved_exercises: Path, tmp_path: Path, spawned,
                                                           monkeypatch) -> None:
    """The background process's spares (its loop without its compiles, here): one is ready for the next check
    of these exercises; the check takes it, runs in it, and reports what it did as from a process of its own
    (a pass, then a crash); a spare that loaded other kernel batches than there are now is not used."""
    from gpt2tutor.checking import spares

    monkeypatch.setenv(kernels.STATE_ENV, str(tmp_path / "state"))
    monkeypatch.delenv(kernels.ENV_SWITCH, raising=False)
    monkeypatch.delenv(kernels.BACKGROUND_SWITCH, raising=False)
    step = get_step(4)
    keeper = None

    def ready_one() -> spares.Claimed:
        nonlocal keeper
        where = spares.want(solved_exercises)
        if keeper is None or keeper.poll() is not None:
            keeper = subprocess.Popen([sys.executable, "-c", KEEPER], env=child_environment(), start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            spawned.append(keeper)
        wait_until(lambda: spares.ready_record(where) is not None, limit=120)
        taken = spares.claim(solved_exercises)
        assert taken is not None and spares.claim(solved_exercises) is None  # taken once
        return taken

    taken = ready_one()
    pid = taken.pid
    assert runner.run_checks([step], solved_exercises, timeout=60, prestarted=taken)[0].passed
    wait_until(lambda: not alive(pid), limit=10)  # it ran once, and ended

    path = solved_exercises / step.filename
    good = path.read_text()
    path.write_text(MLP_FORWARD.format(body="import os; os.abort()"))
    try:
        crashed = runner.run_checks([step], solved_exercises, timeout=60, prestarted=ready_one())[0]
    finally:
        path.write_text(good)
    assert not crashed.passed and "SIGABRT" in crashed.results[-1].message

    where = spares.want(solved_exercises)
    wait_until(lambda: spares.ready_record(where) is not None, limit=120)
    monkeypatch.setattr(kernels, "compiled_ids", lambda: {"a batch compiled since"})
    assert spares.claim(solved_exercises) is None  # stale: the check starts a process of its own


def test_a_taken_spare_that_ended_unreaped_reads_as_gone(tmp_path: Path, monkeypatch) -> None:
    """A spare whose keeper has not reaped it yet (a zombie) and wrote no exit status is over after a short
    grace, read as a failure, not a 30 s wait; with its status written, that status is read."""
    from gpt2tutor.checking import spares

    monkeypatch.setenv(kernels.STATE_ENV, str(tmp_path / "state"))
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_until(lambda: not spares.alive(proc.pid), limit=10)  # ended, not reaped: a zombie
        gone = spares._Process(proc.pid)
        wait_until(lambda: gone.poll() == 1, limit=10)  # read as over (a failure), not as running for ever
        assert spares._Process(proc.pid).wait(timeout=10) == 1
    finally:
        proc.wait()
    spares.write_atomic(spares.exit_path(proc.pid), json.dumps({"code": 0}))
    assert spares._Process(proc.pid).wait(timeout=1) == 0


def test_an_unused_prestarted_child_ends_when_the_tutor_goes(solved_exercises: Path) -> None:
    spare = runner.Spare(solved_exercises)
    spare.proc.stdin.close()  # as when the tutor's process dies: EOF instead of the steps
    assert spare.proc.wait(timeout=60) == 0
    spare.close()


def test_full_warm_on_request_shows_progress(monkeypatch) -> None:
    script = "; ".join(f"print('✓ family{i} ({i} ops) 0:00:0{i}', flush=True)" for i in range(3))
    monkeypatch.setattr(fullcache, "full_cache_command", lambda: [sys.executable, "-c", script])
    ui = record_console()
    assert compile_full_cache(ui) is True
    text = ui.export_text()
    assert "warm-interpreter-cache" in text and "family2" in text and "kernels are ready" in text


def test_a_check_process_runs_ops_on_one_loop_and_imports_no_max_for_steps_without_ops() -> None:
    """The check process of a step with MAX ops runs them on one event loop per thread (maxenv.one_loop); one
    for a step without any (01) does not import MAX's ops at all (half a second saved)."""
    probe = textwrap.dedent("""
        import sys
        from gpt2tutor.checking import child
        from gpt2tutor.registry import get_step
        child.tune_process(ops=False)
        child._prepare(lambda record: None, [get_step(int(sys.argv[1]))])
        if "max.experimental.functional" not in sys.modules:
            print("no MAX")
        else:
            from max.experimental import functional
            print("one loop" if getattr(functional._run, "_gpt2tutor", False) else "MAX's own loop")
    """)
    for step, expected in ((1, "no MAX"), (4, "one loop")):
        out = subprocess.run([sys.executable, "-c", probe, str(step)], capture_output=True, text=True,
                             env=child_environment(), timeout=120)
        assert out.stdout.strip().splitlines()[-1:] == [expected], out.stdout + out.stderr
