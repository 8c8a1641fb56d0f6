"""The one exception a check raises: everything in the toolkit fails through it."""


class CheckFailed(Exception):
    """A check did not pass; the message is written for the learner."""
