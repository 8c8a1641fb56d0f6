"""Step 02 checks: causal_mask.

sequence_length comes as an int or as a Dim, as attention passes x.shape[1]. Blocked entries may be -inf or any
number at most BLOCKED (-1e9, float32's lowest, ...): added to an attention score, either gives that key exactly
zero weight after the softmax in float32.
"""

from typing import NamedTuple

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks

checks = StepChecks()
BLOCKED = -1e4
PARAMS = ["sequence_length", "num_tokens", "dtype", "device"]


class Case(NamedTuple):
    seq: int  # sequence_length: the new tokens, one query each
    past: int  # num_tokens: keys from earlier, before the new tokens
    as_dim: bool = False  # pass sequence_length as a Dim, as attention does with x.shape[1]

    def sees(self, diagonal=None, width=None):
        """[seq, width] booleans, True where row i may see key j: j <= i + diagonal (num_tokens by default)."""
        diagonal = self.past if diagonal is None else diagonal
        return np.tri(self.seq, self.seq + self.past if width is None else width, diagonal, dtype=bool)


def additive(sees):
    return np.where(sees, 0.0, -np.inf).astype(np.float32)


ZERO_ONE = ("a {} mask: the mask is added to the attention scores, so the keys a query may see get 0 "
            "and the others -inf (adding 1 barely changes a score)")
MISTAKES = [
    Mistake("the mask is on the wrong side of the diagonal: query i may see the keys before it, j <= num_tokens + i; "
            "the -inf entries go above the diagonal, on the future", lambda c: additive(~c.sees(c.past - 1))),
    Mistake("0 and -inf are swapped: the keys a query may see get 0 (adding 0 leaves their score alone), "
            "the others -inf", lambda c: additive(~c.sees())),
    Mistake("the diagonal is blocked: every token may see itself, so the mask is 0 where j == num_tokens + i "
            "(j <= num_tokens + i, not j < num_tokens + i)", lambda c: additive(c.sees(c.past - 1))),
    Mistake("the diagonal is not shifted by num_tokens: query i sits at absolute position num_tokens + i, "
            "so it may see keys 0 .. num_tokens + i", lambda c: additive(c.sees(0))),
    Mistake("num_tokens is ignored: the mask has one column per key, the num_tokens earlier ones included: "
            "[sequence_length, sequence_length + num_tokens]", lambda c: additive(c.sees(0, width=c.seq))),
    Mistake("the mask is transposed: rows are the queries (sequence_length of them), "
            "columns the keys (sequence_length + num_tokens)", lambda c: additive(c.sees()).T),
    Mistake(ZERO_ONE.format("0/1"), lambda c: (~c.sees()).astype(np.float32)),
    Mistake(ZERO_ONE.format("1/0"), lambda c: c.sees().astype(np.float32)),
]


def call(ctx, fn, case, dtype=None):
    from max.driver import CPU
    from max.dtype import DType
    from max.experimental.tensor import Tensor
    from max.graph import Dim

    dtype = dtype or DType.float32
    seq = Dim(case.seq) if case.as_dim else case.seq
    what = f"causal_mask({seq!r}, {case.past}, dtype={dtype}, device=CPU())"
    mask = ctx.call(what, fn, seq, case.past, dtype=dtype, device=CPU())
    if not isinstance(mask, Tensor):
        raise CheckFailed(f"{what} returned an object of type {type(mask).__name__}, not a MAX Tensor "
                          "(Tensor.from_dlpack turns a numpy array into one)")
    return mask


def as_mask(ctx, mask):
    """The learner's mask in float32, with large negative numbers read as -inf."""
    values = ctx.as_array(mask, "causal_mask").astype(np.float32)
    if np.isnan(values).any():
        where = np.argwhere(np.isnan(values))[0].tolist()
        raise CheckFailed(f"the mask holds NaN, first at {where}: 0 * -inf is NaN, and NaN poisons the softmax; "
                          "start from -inf and set the visible entries to 0")
    return np.where(values <= BLOCKED, -np.inf, values)


@checks.structure("causal_mask(sequence_length, num_tokens, *, dtype, device) is defined")
def structure(ctx):
    ctx.function("causal_mask", PARAMS)


@checks.behaviour("causal_mask matches the reference with and without earlier tokens")
def values(ctx):
    fn = ctx.function("causal_mask", PARAMS)
    small, large = (lambda: int(ctx.rng.integers(2, 5))), (lambda: int(ctx.rng.integers(5, 12)))
    sizes = [Case(small(), small()), Case(large(), 0, True), Case(1, small()), Case(large(), large(), True),
             Case(1, 0)]
    cases = [(f"sequence_length={f'Dim({c.seq})' if c.as_dim else c.seq}, num_tokens={c.past}", c) for c in sizes]
    return ctx.compare("causal_mask", cases, lambda c: as_mask(ctx, call(ctx, fn, c)),
                       lambda c: call(ctx, ctx.reference.causal_mask, c), MISTAKES,
                       probe=Probe("the mask itself (0 where a query may look, -inf elsewhere)",
                                   lambda c: [c.seq, c.seq + c.past], "print(mask.to_numpy())"))


@checks.behaviour("causal_mask returns the dtype it is asked for")
def dtypes(ctx):
    from max.dtype import DType

    fn = ctx.function("causal_mask", PARAMS)
    case = Case(*(int(n) for n in ctx.rng.integers(2, 6, size=2)))
    judged = []
    for dtype in [DType.float16, DType.float32, DType.float64]:
        try:
            mask = call(ctx, fn, case, dtype)
        except CheckFailed as failed:  # MAX's CPU interpreter runs few ops in float16 (no arithmetic): not yours
            if dtype == DType.float16 and "UnsupportedGraphError" in str(failed) and "float16" in str(failed):
                continue
            raise
        judged.append(str(dtype).removeprefix("DType."))
        if mask.dtype != dtype:
            raise CheckFailed(f"causal_mask(..., dtype={dtype}) returned a {mask.dtype} mask: attention adds the "
                              f"mask to scores of that dtype, so build it in the dtype asked for")
        got, expected = as_mask(ctx, mask), additive(case.sees())
        if not ((got == expected) | (np.isinf(got) & np.isinf(expected))).all():
            raise CheckFailed(f"causal_mask(..., dtype={dtype}) has the right dtype but the wrong entries: "
                              "the mask holds the same 0 and -inf in every dtype")
    skipped = "" if "float16" in judged else " (float16 skipped: MAX's CPU interpreter lacks an op your code uses)"
    return f"{', '.join(judged)} masks{skipped}"


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    fn = ctx.function("causal_mask", ["sequence_length", "num_tokens", "dtype", "device"])

    def run(gpu):
        from max.dtype import DType
        from max.experimental import functional as F

        with F.lazy():
            return [fn(5, 3, dtype=DType.float32, device=gpu), fn(4, 0, dtype=DType.float32, device=gpu)]

    return ctx.on_gpu("causal_mask(..., device=<a GPU>)", run)
