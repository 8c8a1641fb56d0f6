"""The one kind of error a learner can fix: `TutorError`, a one-line message and an exit code."""


class TutorError(Exception):
    """A problem the learner can fix; `message` is one line. `code`: 2 for a usage error, 1 for a failure."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.message = message
        self.code = code
