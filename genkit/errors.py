"""The one exception family genkit raises for a user's mistake.

The CLI turns every :class:`GenkitError` into a one-paragraph message on stderr and exit code 2;
anything else is a bug in genkit and keeps its traceback.
"""

from __future__ import annotations


class GenkitError(Exception):
    """A problem the user can fix: bad spec, unknown plugin, bad data, unwritable output."""


class SpecError(GenkitError):
    """A spec value is wrong. Names the key path and, when known, the file and line."""

    def __init__(self, message: str, path: str = "", source: str | None = None, line: int | None = None):
        self.path = path
        self.source = source
        self.line = line
        self.detail = message
        where = []
        if source:
            where.append(f"{source}" + (f", line {line}" if line else ""))
        elif line:
            where.append(f"line {line}")
        if path:
            where.append(f"key '{path}'")
        prefix = " ".join(["in"] + where) + ": " if where else ""
        super().__init__(prefix + message)
