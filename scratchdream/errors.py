"""The one kind of error a user sees.

A `UserError` is a mistake the user can fix (a missing file, an unknown layer, a broken download).
Its message is one sentence that names the problem and the fix; the CLI prints it on one line of
stderr and exits with `exit_code` (2 for a wrong command line, 1 for the rest). Anything else that
escapes is a bug in scratchdream, and only `--debug` shows its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, files or machine, stated as one line with the fix."""

    exit_code = 1


class UsageError(UserError):
    """A wrong command line: an option out of range, an unknown name."""

    exit_code = 2
