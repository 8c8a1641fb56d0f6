"""The hint ladder: the lesson and the early hint tiers teach; the answer's code comes only in the last tier.

A learner who asks for a nudge should get a nudge, not the line they were about to write. For every step:
- no line of the reference solution appears in the lesson body or in a hint tier below the last. A line is a
  statement of the reference as `ast.unparse` writes it, or a call in it that takes two arguments or more
  (`causal_mask(seq, 0, dtype=..., device=...)` inside a sum); both sides are compared with whitespace
  removed, `self.` dropped and quotes made single. Imports, defs, classes, the headers of `if`/`for`/`with`,
  docstrings, `pass`, and lines under 20 characters once normalized (`return x`, `x = x + out`,
  `self.eps = eps`, `c_attn(hidden_states)`) are too plain to give anything away and are not counted.
- every code block of the last tier leaves a blank, and no tier below the last holds every blank of the last
  tier. The last tier marks its blanks `...` or `___`;
  each blanked line is matched against the reference line it stands for, which says what fills the blank.
  An earlier tier holds a blank when its code (inline `code` or a code block) shows that fill after what
  comes before the blank in the last tier (a keyword such as `dim=`, an opening `[`, `return`). A tier that
  holds them all leaves the last tier nothing to teach.
"""

from __future__ import annotations

import ast
import re

import pytest

from gpt2tutor.registry import STEPS, Step

IDS = [s.id for s in STEPS]
MIN_LINE = 20  # normalized characters: shorter reference lines are too plain to count as handing code over
BLANK = re.compile(r"\.\.\.|_{3,}")


def normalize(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("self.", "").replace('"', "'")


def reference_lines(source: str, *, every_call: bool = False) -> set[str]:
    """Every statement of `source` and the calls in it of two arguments or more (with every_call, of any
    number), normalized, of any length."""
    found = set()
    tree = ast.parse(source)
    docstrings = {id(n.body[0]) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    skipped = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.If, ast.For, ast.With, ast.Pass)
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or id(node) in docstrings or isinstance(node, skipped):
            continue
        found.add(normalize(ast.unparse(node)))
        found.update(normalize(ast.unparse(call)) for call in ast.walk(node) if isinstance(call, ast.Call)
                     and (every_call or len(call.args) + len(call.keywords) >= 2))
    return found


def handed_over(source: str, text: str) -> list[str]:
    """The reference's lines of MIN_LINE characters or more that `text` shows."""
    shown = normalize(text)
    return sorted(line for line in reference_lines(source) if len(line) >= MIN_LINE and line in shown)


def statements(block: str) -> list[str]:
    """A code block's lines, comments dropped, a statement that runs over several lines joined into one."""
    found, pending = [], ""
    for line in block.splitlines():
        pending += " " + re.sub(r"#.*", "", line)
        if sum(pending.count(c) for c in "([{") <= sum(pending.count(c) for c in ")]}"):
            found.append(pending)
            pending = ""
    return found + [pending]


def code_of(text: str) -> str:
    """The code a Markdown text shows: its code blocks' statements and its inline code spans, normalized, one a
    line."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)
    pieces = [line for block in blocks for line in statements(block)]
    pieces += re.findall(r"`([^`\n]+)`", prose)
    return "\n".join(normalize(p) for p in pieces if p.strip())


def blanks(tier: str, source: str) -> list[tuple[str, set[str]]]:
    """The last tier's blanks that lines of the reference fill: for each, what comes just before it (a name with
    its `(`, `[`, `=` or `,`; `return`) and what may fill it (more than one fill when several lines match)."""
    lines = sorted(reference_lines(source, every_call=True))
    found = []
    for line in code_of(tier).splitlines():
        parts = BLANK.split(line)
        if len(parts) < 2 or not "".join(parts):  # no blank, or one that stands for a whole body: no single fill
            continue
        pattern = re.compile("(.+?)".join(map(re.escape, parts)))
        matches = [m for m in map(pattern.fullmatch, lines) if m]
        for i, before in enumerate(parts[:-1]):
            fills = {m.group(i + 1) for m in matches}
            context = re.search(r"(return|[\w.:]*[(\[=,])$", before)
            if fills:
                found.append((context.group(1) if context else "", fills))
    return found


def held(tier: str, blank: tuple[str, set[str]]) -> bool:
    """Whether a tier's code shows a fill of the blank after what comes before it."""
    before, fills = blank
    code = code_of(tier)
    return any(before + fill in code for fill in fills)


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_reference_lines_come_only_in_the_last_tier(step: Step) -> None:
    source = step.reference_source()
    for where, text in [("the lesson", step.lesson),
                        *((f"hint tier {i + 1}", tier) for i, tier in enumerate(step.hints[:-1]))]:
        shown = handed_over(source, text)
        assert not shown, f"{where} of step {step.id} shows lines of the reference solution: {shown}"


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_no_earlier_tier_fills_every_blank_of_the_last(step: Step) -> None:
    source = step.reference_source()
    last = step.hints[-1]
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", last, flags=re.M | re.S)
    whole = [block for block in blocks if not BLANK.search(block)]
    assert not whole, f"a code block of step {step.id}'s last tier leaves no blank (`...` or `___`): {whole[0][:80]!r}"
    found = blanks(last, source)  # empty when every blank stands for a whole body (step 07's merge_heads)
    for i, tier in enumerate(step.hints[:-1]):
        assert not found or not all(held(tier, b) for b in found), (
            f"hint tier {i + 1} of step {step.id} fills every blank of the last tier: "
            f"{[before + min(fills) for before, fills in found]}")


def test_the_ladder_test_catches_a_handed_over_line_and_a_filled_blank() -> None:
    """Both tests above can fail: a quoted reference line is caught with or without `self.`, and a tier that
    shows every fill of the last tier's blanks holds them all."""
    source = "class A:\n    def f(self, x):\n        self.h = Sequential(*(Block(c) for _ in range(n)))\n" \
             "        return F.gelu(x, approximate='tanh')\n"
    assert handed_over(source, "write `h = Sequential(*(Block(c) for _ in range(n)))`")
    assert handed_over(source, "```python\nself.h = Sequential(\n    *(Block(c) for _ in range(n)))\n```")
    assert not handed_over(source, "a Sequential of n blocks")
    last = "```python\nreturn F.gelu(x, approximate=...)\n```"
    assert blanks(last, source) == [("approximate=", {"'tanh'"})]
    assert held('use `approximate="tanh"`', blanks(last, source)[0])
    assert not held("the tanh approximation", blanks(last, source)[0])
