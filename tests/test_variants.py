"""Learner files we wrote ourselves, run through the real checks.

Each file under variants/step_NN/ starts with one line saying what the check must conclude:
`# expect: pass` for a correct implementation written differently from the reference, or
`# expect: fail: <text>` for a known mistake, where <text> must appear in the failure message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import VARIANTS

from gpt2tutor.registry import get_step

CASES = sorted(VARIANTS.glob("step_*/*.py"))


def expectation(path: Path) -> tuple[bool, str]:
    first = path.read_text("utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path} must start with '# expect: pass' or '# expect: fail: <text>'"
    verdict = first.removeprefix("# expect: ")
    if verdict == "pass":
        return True, ""
    assert verdict.startswith("fail: "), path
    return False, verdict.removeprefix("fail: ")


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_variant(bench, path: Path) -> None:
    should_pass, text = expectation(path)
    step = get_step(path.parent.name)
    outcome = bench.check(step, path.read_text("utf-8"))
    report = "\n".join(f"[{r.phase}] {r.name}: {'ok' if r.passed else 'FAIL'} {r.message}" for r in outcome.results)
    if should_pass:
        assert outcome.passed, report
    else:
        assert not outcome.passed, f"a known mistake passed:\n{report}"
        failure = next(r for r in outcome.results if not r.passed)
        assert text in failure.message, f"expected {text!r} in the failure message:\n{report}"
