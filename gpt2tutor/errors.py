"""The one kind of error a learner can fix: `TutorError`, a one-line message and an exit code; and
`CheckCancelled`, a check stopped on request before any verdict."""


class TutorError(Exception):
    """A problem the learner can fix; `message` is one line. `code`: 2 for a usage error, 1 for a failure."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.message = message
        self.code = code


class CheckCancelled(Exception):
    """A check was stopped because its `cancel()` said so (`watch`: the file was saved again): its process was
    ended, nothing was decided and nothing recorded."""
