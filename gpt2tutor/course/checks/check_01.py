"""Step 01 checks: GPT2Config, the sizes of GPT-2 (124M).

Any class works whose instances carry the seven fields, built with no arguments (the defaults) or with
any of the fields as keyword arguments: a @dataclass (frozen or not), a NamedTuple, a hand-written __init__.
"""

import dataclasses
import inspect
import math
from numbers import Integral, Real

from gpt2tutor.checking import CheckFailed, StepChecks

checks = StepChecks()

DEFAULTS = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=3072,
                layer_norm_epsilon=1e-5)

MEDIUM = "is GPT-2 medium's (355M); this is GPT-2 small (124M): n_embd=768, n_layer=12, n_head=12"
SLIPS = {  # known wrong defaults, and what went wrong
    ("vocab_size", 50256): "50256 is the id of the last token, <|endoftext|>; ids start at 0, so there are 50257",
    ("vocab_size", 50000): "the BPE vocabulary has 50,000 merges plus 256 byte tokens plus <|endoftext|>: 50257",
    ("n_positions", 512): "512 is GPT-1's (and BERT's) context; GPT-2 sees 1024 positions",
    ("n_positions", 2048): "2048 is GPT-3's context; GPT-2 sees 1024 positions",
    ("n_embd", 1024): "1024 " + MEDIUM,
    ("n_layer", 24): "24 " + MEDIUM,
    ("n_head", 16): "16 " + MEDIUM,
    ("n_inner", None): "HuggingFace's GPT2Config leaves n_inner=None to mean 4 * n_embd; write the number, 3072",
    ("n_inner", 768): "n_inner is the MLP's hidden width, four times n_embd: 4 * 768 = 3072",
    ("n_inner", 4096): "4096 is 4 * 1024; the MLP's hidden width is four times n_embd: 4 * 768 = 3072",
    ("layer_norm_epsilon", 1e-6): "1e-6 is other models' LayerNorm epsilon; GPT-2's is 1e-5",
    ("layer_norm_epsilon", 1e-12): "1e-12 is BERT's LayerNorm epsilon; GPT-2's is 1e-5",
}


def same(a, b):
    if isinstance(a, Real) and isinstance(b, Real) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-6)
    return a is b


def wrong_kind(field, value):
    """Sizes are ints and the epsilon a float (an int is a fine float); None when the kind is right."""
    if field == "layer_norm_epsilon":
        ok, kind = isinstance(value, Real), "a float"
    else:
        ok, kind = isinstance(value, Integral), "an int"
    return None if ok and not isinstance(value, bool) else f"{field} should be {kind}, not {value!r}"


def default_problem(field, value):
    """What is wrong with `value` as the default of `field`, or None."""
    expected = DEFAULTS[field]
    slip = next((why for (f, v), why in SLIPS.items() if f == field and same(value, v)), None)
    if slip:
        return f"{field} is {value!r}, expected {expected!r}: {slip}"
    if wrong_kind(field, value):
        return wrong_kind(field, value)
    return None if same(value, expected) else f"{field} is {value!r}, expected {expected!r}"


def config_class(ctx):
    cls = ctx.attr("GPT2Config")
    if not inspect.isclass(cls):
        raise CheckFailed(f"`GPT2Config` should be a class (a @dataclass), but it is a {type(cls).__name__}")
    return cls


def unannotated(cls):
    """The fields of a @dataclass written without a type annotation (`vocab_size = 50257`): @dataclass makes
    them plain class attributes, so the class has them but GPT2Config(vocab_size=...) raises a TypeError."""
    if not dataclasses.is_dataclass(cls):
        return None
    found = {f.name for f in dataclasses.fields(cls)}
    missing = [name for name in DEFAULTS if name not in found and hasattr(cls, name)]
    if not missing:
        return None
    lines = [f"`{name}: {'float' if name == 'layer_norm_epsilon' else 'int'} = {getattr(cls, name)!r}`"
             for name in missing]
    one = len(missing) == 1
    return (f"{', '.join(missing)} {'has' if one else 'have'} no type annotation, so @dataclass takes "
            f"{'it for a plain class attribute' if one else 'them for plain class attributes'}, not "
            f"{'a field' if one else 'fields'}, and GPT2Config(name=value) can't set {'it' if one else 'them'}: "
            f"add the type, {', '.join(lines)}")


def build(ctx, cls, **fields):
    label = f"GPT2Config({', '.join(f'{k}={v!r}' for k, v in fields.items())})"
    try:
        return ctx.call(label, cls, **fields)
    except CheckFailed as exc:
        why = unannotated(cls) or ("GPT2Config must take each field as a keyword argument with a default value, "
                                   "as a @dataclass does")
        raise CheckFailed(f"{exc}\n{why}") from None


@checks.structure("GPT2Config() has GPT-2's seven fields")
def fields(ctx):
    cls = config_class(ctx)
    if unannotated(cls):
        raise CheckFailed(unannotated(cls))
    config = build(ctx, cls)
    missing = [name for name in DEFAULTS if not hasattr(config, name)]
    if missing:
        raise CheckFailed(f"GPT2Config() has no {', '.join(missing)}: each field needs this exact name "
                          "(HuggingFace's) and a default value")


@checks.behaviour("GPT2Config() holds the sizes of GPT-2 (124M)")
def defaults(ctx):
    config = build(ctx, config_class(ctx))
    wrong = [p for p in (default_problem(f, getattr(config, f)) for f in DEFAULTS) if p]
    if wrong:
        raise CheckFailed("GPT2Config()'s defaults are not GPT-2 (124M)'s:\n" + "\n".join(wrong))
    return "all seven defaults match"


@checks.behaviour("GPT2Config(field=value, ...) keeps the values it is given")
def keywords(ctx):
    cls = config_class(ctx)
    given = {name: int(ctx.rng.integers(2, 999)) for name in DEFAULTS if name != "layer_norm_epsilon"}
    given["layer_norm_epsilon"] = float(10 ** ctx.rng.uniform(-8, -3))
    for chosen in [*({name: value} for name, value in given.items()), given]:
        config = build(ctx, cls, **chosen)
        for name, value in chosen.items():
            if not same(getattr(config, name, None), value):
                raise CheckFailed(f"GPT2Config({name}={value!r}).{name} is {getattr(config, name, None)!r}: "
                                  "a field passed as a keyword argument must keep that value")
    return "each field alone and all seven together"
