"""Adding a step is a course.toml entry and its four files: a copy of the course gains a step after the last,
and the commands a learner and a maintainer use take it with no other file of the tutor changed.

The copy (the package, the README, an empty tests/variants/) runs in child processes of this Python, put first
on the path. `dev check NN` fails, one line each, until the step has kernels (here `kernels = false`: its check
runs no MAX op), variants and a README row; then it passes. A learner who passed 01-14 may still generate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import STEPS, needed_for

ROOT = Path(__file__).resolve().parents[1]
NEW = len(STEPS) + 1
NID = f"{NEW:02d}"
TITLE = "Counting parameters"

ENTRY = f"""
[[step]]
number = {NEW}
title = "{TITLE}"
contract = ["count_parameters"]
"""

LESSON = f"""# Step {NID}: {TITLE}

GPT-2 small is called 124M for its parameters. Write `count_parameters(config)`: the number of parameters of
the GPT-2 that `config` describes, the language model head tied to the token embeddings (no weights of its own).

## Hints

### 1. Nudge
Count each part once: the two embeddings, one block (then multiply), the final LayerNorm.

### 2. Concept
A Linear(a, b) holds a * b weights and b biases; a LayerNorm of width d holds 2 * d.

### 3. Near-solution
Per block: two LayerNorms, c_attn (d to 3d), attention's c_proj (d to d), the MLP's c_fc and c_proj.
"""

SKELETON = f'''"""Step {NID}: {TITLE.lower()}."""


def count_parameters(config) -> int:
    # TODO: the embeddings, n_layer blocks and the final LayerNorm (the head shares the token embeddings)
    raise NotImplementedError("TODO: count the parameters")
'''

REFERENCE = f'''"""Step {NID}: {TITLE.lower()}."""


def count_parameters(config) -> int:
    d, inner = config.n_embd, config.n_inner
    block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * inner + inner) + (inner * d + d)
    return config.vocab_size * d + config.n_positions * d + config.n_layer * block + 2 * d
'''

CHECK = f'''"""Step {NID} checks: count_parameters."""

from types import SimpleNamespace

from gpt2tutor.checking import CheckFailed, StepChecks

checks = StepChecks()
SMALL = SimpleNamespace(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=3072)


@checks.structure("count_parameters is a function")
def structure(ctx):
    if not callable(ctx.attr("count_parameters")):
        raise CheckFailed("`count_parameters` should be a function")


@checks.behaviour("count_parameters gives GPT-2 (124M) its 124,439,808 parameters")
def small(ctx):
    got = ctx.call("count_parameters(config)", ctx.attr("count_parameters"), SMALL)
    if got != 124_439_808:
        raise CheckFailed(f"count_parameters(GPT-2 124M's config) is {{got!r}}, expected 124439808")
'''

VARIANT = '''# expect: fail: expected 124439808
"""A learner's mistake: the final LayerNorm left out."""


def count_parameters(config) -> int:
    d, inner = config.n_embd, config.n_inner
    block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * inner + inner) + (inner * d + d)
    return config.vocab_size * d + config.n_positions * d + config.n_layer * block
'''

# A learner who passed every step the generation role needs (and no further): may they generate?
MAY_GENERATE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from gpt2tutor import api, registry
    from gpt2tutor.state import State, save
    from gpt2tutor.workspace import Workspace

    ws = Workspace(Path(sys.argv[1]))
    state = State()
    for step in registry.needed_for("generation"):
        ws.exercise(step).write_text(step.solution(), encoding="utf-8")
        state.mark(step, True, ws.file_hash(step))
    save(ws, state)
    print([s.id for s in registry.needed_for("generation")], len(registry.STEPS))
    try:  # Tutor.require_generation(command), from helper A's branch of issue 32: until it is merged this
        api.open(sys.argv[1]).require_generation("generate")  # fails (AttributeError); never stub it here
        print("generate is unlocked")
    except Exception as exc:
        print(f"generate is locked: {type(exc).__name__}: {exc}")
""")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A clone-shaped copy: the package with step 15 added, the README, tests/variants/ without a step_15."""
    shutil.copytree(ROOT / "gpt2tutor", tmp_path / "gpt2tutor", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "tests" / "variants").mkdir(parents=True)
    course = tmp_path / "gpt2tutor" / "course"
    with (course / "course.toml").open("a", encoding="utf-8") as toml:
        toml.write(ENTRY)
    for path, text in ((f"lessons/step_{NID}.md", LESSON), (f"skeletons/step_{NID}.py", SKELETON),
                       (f"reference/step_{NID}.py", REFERENCE), (f"checks/check_{NID}.py", CHECK)):
        (course / path).write_text(text, encoding="utf-8")
    return tmp_path


def tutor(copy: Path, *args: str, script: str | None = None) -> subprocess.CompletedProcess:
    env = child_environment(PYTHONPATH=str(copy), GPT2TUTOR_KERNELS="0", NO_COLOR="1", COLUMNS="200")
    env.pop("GPT2TUTOR_WORKSPACE", None)
    command = ["-c", script] if script else ["-m", "gpt2tutor"]
    return subprocess.run([sys.executable, *command, *args], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=300)


def dev_check(copy: Path) -> dict:
    done = tutor(copy, "dev", "check", NID, "--json")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == (0 if found["ok"] else 1), done.stderr
    return found


def test_a_new_step_is_taken_by_every_command_with_no_other_file_changed(copy: Path) -> None:
    ws = copy / "ws"
    assert tutor(copy, "start", str(ws)).returncode == 0
    assert (ws / "exercises" / f"step_{NID}.py").read_text() == SKELETON

    listed = tutor(copy, "list", "--json", "-w", str(ws))
    assert listed.returncode == 0, listed.stderr
    steps = json.loads(listed.stdout)["steps"]
    assert [s["step"] for s in steps][-1] == NID and steps[-1]["title"] == TITLE and steps[-1]["status"] == "locked"
    shown = tutor(copy, "show", NID, "-w", str(ws), "--force")
    assert shown.returncode == 0 and "count_parameters(config)" in shown.stdout, shown.stderr
    book = tutor(copy, "book", "--no-open", "-o", str(copy / "book"), "-w", str(ws))
    assert book.returncode == 0 and TITLE in (copy / "book" / f"step_{NID}.html").read_text(), book.stderr

    # a learner passes the steps the generation role needs: in the copy they are still the same ones
    generation = tutor(copy, str(ws), script=MAY_GENERATE)
    assert generation.returncode == 0 and f"{[s.id for s in needed_for('generation')]} {NEW}" in generation.stdout, \
        generation.stderr

    failed = tutor(copy, "check", NID, "-w", str(ws), "--force")  # the steps between are not passed here
    assert failed.returncode == 1 and "placeholder" in failed.stdout, failed.stdout + failed.stderr
    (ws / "exercises" / f"step_{NID}.py").write_text(REFERENCE, encoding="utf-8")
    passed = tutor(copy, "check", NID, "-w", str(ws), "--force")
    assert passed.returncode == 0, passed.stdout + passed.stderr

    # and may generate, the step after the generation step notwithstanding (fails until helper A's
    # Tutor.require_generation is merged: the lead must see this line pass after merging)
    assert "generate is unlocked" in generation.stdout, generation.stdout


def test_dev_check_fails_until_the_step_has_kernels_variants_and_a_readme_row(copy: Path) -> None:
    found = dev_check(copy)
    assert not found["ok"] and found["notes"] == []
    what = sorted(p["what"] for p in found["problems"] if p["step"] == NID)
    assert len(what) == len(found["problems"]) == 3, found["problems"]
    assert "README.md's table" in what[0] and "kernels = true" in what[1] and "tests/variants" in what[2], what
    assert found["references"][NID]["passed"] and not found["skeletons"][NID]["passed"]

    toml = copy / "gpt2tutor" / "course" / "course.toml"
    toml.write_text(toml.read_text("utf-8") + "kernels = false\n", encoding="utf-8")  # the entry is the last table
    (copy / "tests" / "variants" / f"step_{NID}").mkdir()
    (copy / "tests" / "variants" / f"step_{NID}" / "no_final_norm.py").write_text(VARIANT, encoding="utf-8")
    readme = copy / "README.md"
    lines = readme.read_text("utf-8").splitlines(keepends=True)
    last = next(i for i, line in enumerate(lines) if f"| {STEPS[-1].id} |" in line)  # the table's row of the last step
    lines.insert(last + 1, f"| {NID} | `count_parameters`: GPT-2's size from its config | | |\n")
    readme.write_text("".join(lines), encoding="utf-8")
    found = dev_check(copy)
    assert found["ok"] and found["problems"] == [], found["problems"]
