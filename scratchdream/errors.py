"""The one kind of error a user sees.

A `UserError` is a mistake the user can fix (a missing file, an unknown layer, a broken download).
Its message is one sentence that names the problem and the fix; the CLI prints it on one line of
stderr and exits with `exit_code` (2 for a wrong command line, 1 for the rest). Anything else that
escapes is a bug in scratchdream, and only `--debug` shows its traceback.

A `SettingError` names the setting it is about by the caller's own name for it: the library's message
says the parameter (`sd.dream(steps=0)`: "steps must be ..."), and the CLI, which passes its table of
flags to `worded`, says the flag ("--steps must be ...").
"""

import string


class UserError(Exception):
    """A problem with the user's input, files or machine, stated as one line with the fix."""

    exit_code = 1

    def worded(self, names):
        """The message for a caller who calls the settings by `names` ({parameter: name}): as it is."""
        return str(self)


class UsageError(UserError):
    """A wrong command line: an option out of range, an unknown name."""

    exit_code = 2


class WordedError(UserError):
    """A UserError whose fix names a setting. `template` names settings as {fields}, e.g. "{steps} must be
    > 0, got {value}"; the keyword arguments are the values shown (never read as fields), every other field
    is a setting: the library prints its parameter name, the CLI its flag."""

    def __init__(self, template, **values):
        self.template, self.values = template, values
        super().__init__(self.worded({}))

    @classmethod
    def extend(cls, error, more):
        """`error` (any UserError) with `more` appended, a template that may name settings; the error's own
        settings stay named and its exit code stays."""
        if isinstance(error, WordedError):
            extended = cls(error.template + more, **error.values)
        else:
            extended = cls(str(error).replace("{", "{{").replace("}", "}}") + more)
        extended.exit_code = error.exit_code
        return extended

    def worded(self, names):
        fields = {f for _, f, _, _ in string.Formatter().parse(self.template) if f and f not in self.values}
        return self.template.format(**{f: names.get(f, f) for f in fields}, **self.values)


class SettingError(WordedError, UsageError):
    """A setting out of range, or one that does not fit the rest (exit 2)."""
