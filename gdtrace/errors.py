"""Errors the CLI turns into one clear line and exit code 2, never a traceback."""

from __future__ import annotations


class GdtraceError(Exception):
    """Base class: anything the user can fix by changing their input or options."""


class ProblemError(GdtraceError):
    """A problem file (or an option overriding it) is invalid.

    The message names the file, the field path (``dataset.rows[2]``) and, when the YAML has one,
    the line, so a student can go straight to the mistake.
    """

    def __init__(self, message: str, *, source: str = "", field: str = "", line: int | None = None):
        self.message = message
        self.source = source
        self.field = field
        self.line = line
        super().__init__(self.describe())

    def describe(self) -> str:
        where = self.source or "<problem>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}"


class UsageError(GdtraceError):
    """A command-line option is wrong (an unknown format, a bad list of values)."""
