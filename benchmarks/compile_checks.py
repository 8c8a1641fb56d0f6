"""`gpt2tutor check 12` and `check 13` as a learner meets them, before and after an edit that changes the graph
(the checks judge the recorded compile call and trace it, compiling nothing: the edit should cost no compile).

    python benchmarks/compile_checks.py [--steps 12 13]

On a workspace holding the reference solutions, with this machine's MAX cache, for each step:
- `check NN --force` twice with the file unchanged;
- after an edit that changes the graph (a scale of 1 + k·2⁻²³ in the model's code:
  step 11's forward for step 12, whose own file holds no model code, and the attention scores for
  step 13), once (before the checks stopped compiling, a new compile of minutes);
- once more, unchanged since that edit.
Each runs on a pseudo-terminal, as in a learner's terminal; printed: wall time, exit code, the longest
time the command printed nothing, and the load average. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _procs import load  # benchmarks/ is on the path when a script here runs
from cold_start import Session

from gpt2tutor.registry import STEPS, get_step

# The edit that changes each step's graph: (the file edited, text in its reference solution, a replacement
# scaling by 1 + k·2⁻²³, k from 1 to 15, one float32 step each: the graph holds a constant MAX has likely
# never compiled, and the logits move by far less than the checks' tolerance).
# Step 12's own file holds no model code (an edit to the conversion leaves the graph alone): its model is step 11's.
GRAPH_EDITS = {
    "12": ("step_11.py", "self.lm_head(self.transformer(input_ids))",
           "self.lm_head(self.transformer(input_ids) * {scale})"),
    "13": ("step_13.py", "/ math.sqrt(head_dim)", "/ (math.sqrt(head_dim) * {scale})"),
}


def edit_graph(exercises: Path, step_id: str) -> None:
    filename, old, new = GRAPH_EDITS[step_id]
    path = exercises / filename
    text = path.read_text("utf-8")
    assert old in text, f"{filename} no longer holds {old!r}: update GRAPH_EDITS"
    scale = 1 + (1 + time.time_ns() % 15) * 2**-23
    path.write_text(text.replace(old, new.format(scale=repr(scale)), 1), "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", nargs="+", default=list(GRAPH_EDITS), choices=list(GRAPH_EDITS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gpt2tutor-compile-") as tmp:
        session = Session(Path(tmp))
        for name in ("XDG_CACHE_HOME", "MODULAR_DERIVED_PATH"):  # this machine's own MAX cache
            session.env.pop(name, None)
            if name in os.environ:
                session.env[name] = os.environ[name]
        ws = Path(tmp) / "ws"
        started = session.run("start", str(ws))
        assert started["code"] == 0, f"gpt2tutor start failed: {started['seen']}"
        for step in STEPS:
            (ws / "exercises" / step.filename).write_text(step.solution(), "utf-8")
        for step_id in args.steps:
            step = get_step(step_id)
            runs = [("unchanged, first run", None), ("unchanged again (graph cached)", None),
                    ("after an edit that changes the graph (new compile)", step_id),
                    ("unchanged since that edit (cached)", None)]
            print(f"\ncheck {step.id} ({step.title})")
            for label, edit in runs:
                if edit:
                    edit_graph(ws / "exercises", edit)
                result = session.run("check", step.id, "--force", "-w", str(ws), cwd=ws)
                print(f"  {label}: {result['seconds']:.1f} s, exit {result['code']}, longest silence "
                      f"{result['silence']:.1f} s ({load()})")


if __name__ == "__main__":
    main()
