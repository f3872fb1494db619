"""The errors of a user's mistake, as opposed to the bugs of ours.

A `UserError` says what the user got wrong and where (a bad flag or value, an unknown
model or option, a missing or corrupt file, a checkpoint that does not fit). The
`handgrad` command prints it as one line with exit status 2; any other exception is a
bug of handgrad's and keeps its traceback (exit status 1). `UserError` is a ValueError,
so code that catches ValueError, as the documented API says, keeps working.
"""


class UserError(ValueError):
    """A mistake in what the user gave handgrad; the message says what and where."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named (or that a run needs) does not exist."""
