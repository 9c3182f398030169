"""The one exception family genkit raises for a user's mistake.

The CLI turns every :class:`GenkitError` into a one-paragraph message on stderr and exit code 2;
anything else is a bug in genkit and keeps its traceback.
"""

from __future__ import annotations

import signal


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


class NumericalFault(GenkitError):
    """A loss term or gradient became NaN or infinite and ``train.on_nan`` is ``stop``.

    Carries where it happened (``epoch``, global ``step``) and which term went bad (``term``).
    """

    def __init__(self, message: str, epoch: int, step: int, term: str):
        self.epoch, self.step, self.term = epoch, step, term
        super().__init__(message)


class WorkerLost(GenkitError):
    """Under ``multi_worker``, another worker of the cluster stopped (killed, preempted, its machine
    lost): this worker cannot go on alone. Restarting every worker with ``--resume`` continues the
    job from the chief's last checkpoint; the CLI exits with 75 (a temporary failure: try again)."""



class Interrupted(KeyboardInterrupt):
    """A stop signal ended the command: SIGINT (Ctrl-C) or SIGTERM (a scheduler, a container stop, ``kill``).

    A ``KeyboardInterrupt`` so that code catching ``Exception`` does not swallow it. ``signum`` is
    the signal; the CLI prints the message (one line) and exits with 128 + ``signum`` (130, 143).
    """

    def __init__(self, message: str = "", signum: int = signal.SIGINT):
        self.signum = int(signum)
        super().__init__(message or f"interrupted ({signal_name(self.signum)})")


class TrainingInterrupted(Interrupted):
    """Training stopped on a stop signal after finishing its step and writing a checkpoint.

    Its message says how to resume.
    """


def signal_name(signum: int) -> str:
    """``SIGINT``, ``SIGTERM``, ... for a signal number."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
