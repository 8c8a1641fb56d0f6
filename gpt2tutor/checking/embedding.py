"""MAX's Embedding takes its width by keyword only (`Embedding(vocab_size, *, dim=...)`), unlike torch's:
a width passed by position fails with a TypeError that names neither `dim` nor the fix."""

from .failure import CheckFailed

POSITIONAL = "Embedding.__init__() takes 2 positional arguments but 3 were given"


def built(ctx, name, rows, *args):
    """ctx.learner_module(name, ["config"], *args), its failure saying `dim=` where the width went by position;
    `rows`: the config field that sizes the table, for the example."""
    try:
        return ctx.learner_module(name, ["config"], *args)
    except CheckFailed as failed:
        if POSITIONAL not in str(failed):
            raise
        raise CheckFailed(f"{failed}\nLikely mistake: MAX's Embedding takes the width by name, not by position: "
                          f"Embedding(config.{rows}, dim=config.n_embd)") from None
