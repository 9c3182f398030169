"""Stop signals: SIGINT (Ctrl-C) and SIGTERM (a cluster scheduler, a container stop, ``kill``)
end a command the same clean way at any moment.

Outside any block of this module a stop signal raises :class:`~genkit.errors.Interrupted` at
once (nothing is half-written then: validation, building, evaluating). Code that must not be cut
in the middle runs inside :func:`deferred`: there a first stop signal is only recorded, the code
asks :func:`requested` at safe points (the checkpointer at the end of every training step) and
stops itself; leaving the block raises a signal it did not act on. A second signal inside
:func:`deferred` raises at once (the user insists). Once a stop has been raised, later signals are
ignored, so the clean-up on the way out (removing a half-built run directory) runs to its end.

:func:`handled` holds the handlers for a whole command (the CLI); without it, :func:`deferred`
installs them for its block and puts the previous ones back, so ``genkit.train`` from Python gets
the same behaviour. Signals can only be handled in the main thread; elsewhere the blocks do
nothing and :func:`requested` is always None.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

from genkit.errors import Interrupted

#: The signals that ask genkit to stop cleanly.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: The line a stop signal gives once the command has finished (its outcome stands; the exit code says the signal).
LATE_MESSAGE = "interrupted as genkit was exiting; the command had finished"


class _State:
    """What the handler knows: the open blocks (innermost last), a recorded signal, whether a stop is on its way."""

    def __init__(self) -> None:
        self.deferring: list[bool] = []
        self.pending: int | None = None
        self.stopping = False
        self.late: int | None = None  # a signal that came once the command had decided its outcome


_state = _State()


def _handle(signum: int, frame: FrameType | None) -> None:
    if _state.stopping:  # a stop is on its way, or the command is over: remembered for exit_process
        _state.late = _state.late or signum
        return
    if _state.deferring and _state.deferring[-1] and _state.pending is None:
        _state.pending = signum
        return
    _state.stopping = True
    raise Interrupted(signum=signum)


def _installed() -> bool:
    return signal.getsignal(signal.SIGINT) is _handle or signal.getsignal(signal.SIGTERM) is _handle


def _install() -> dict[int, Any]:
    """Route the stop signals to the handler with a fresh state; return the handlers they had.

    A signal the process was started with ignored (``nohup``, a background job's SIGINT) stays ignored.
    """
    global _state
    _state = _State()
    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _handle)
    return previous


def install() -> None:
    """Handle the stop signals for the rest of the process (the ``genkit`` command's first step)."""
    if threading.current_thread() is threading.main_thread():
        _install()


@contextmanager
def handled() -> Iterator[None]:
    """Handle the stop signals while the block runs (one command); afterwards late signals are
    ignored until the previous handlers are back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = _install()
    try:
        yield
    finally:
        _state.stopping = True
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _mode(defer: bool) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = None if _installed() else _install()
    _state.deferring.append(defer)
    try:
        if not defer:
            check()
        yield
    except BaseException:
        _state.deferring.pop()
        raise
    else:
        _state.deferring.pop()
        if not (_state.deferring and _state.deferring[-1]):
            check()
    finally:
        if previous is not None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def deferred() -> Any:
    """A block a first stop signal does not cut: it is recorded for :func:`requested`; leaving the
    block raises it, unless an enclosing block defers too."""
    return _mode(defer=True)


def acting() -> Any:
    """A block where a stop signal raises at once, also inside a deferring block (a command's body
    inside the CLI's argument parsing); a signal recorded before it is raised on entry."""
    return _mode(defer=False)


def requested() -> int | None:
    """The stop signal recorded and not yet acted on, or None."""
    return _state.pending


def take() -> int | None:
    """Act on the recorded stop signal: return it (None if there is none) and ignore later ones."""
    signum, _state.pending = _state.pending, None
    if signum is not None:
        _state.stopping = True
    return signum


def check() -> None:
    """Raise :class:`~genkit.errors.Interrupted` now if a stop signal was recorded."""
    signum = take()
    if signum is not None:
        raise Interrupted(signum=signum)


def exit_process(code: int) -> NoReturn:
    """End the ``genkit`` process with ``code``, flushing its output first, with no interpreter
    teardown afterwards.

    TensorFlow's teardown takes a moment, and by then Python has handed the stop signals back to
    the system, so a Ctrl-C in it would kill the process by the signal. Instead the signals are
    blocked here, one that came after the command had finished (recorded by the handler, or
    pending) turns a success into the one line and 128 + the signal, and the process ends with
    ``os._exit``: every file genkit writes is closed by then.
    """
    if threading.current_thread() is threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pending = [signum for signum in STOP_SIGNALS if signum in signal.sigpending()]
        late = _state.late or (pending[0] if pending else None)
        if late is not None and code == 0:
            print(LATE_MESSAGE, file=sys.stderr)
            code = 128 + late
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
