"""What is wrong with a path a user gave, said in a sentence before anything reads or writes it.

:func:`path_problem` is for paths that are read (a spec, a data file, a plugin file): a NUL byte,
a symlink loop, a missing file, or the wrong kind of thing (a directory where a file is wanted, a
pipe that would block the reader). :func:`writable_problem` is for paths that will be written (a
run directory, a callback's log) and may not exist yet: the nearest existing parent must be a
directory this process can create files in, which is probed with an unnamed temporary file, so
checking leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Literal

Kind = Literal["file", "directory"]


def _os_problem(err: OSError) -> str:
    reasons = {
        errno.ELOOP: "it is a symlink loop (or has too many levels of symbolic links)",
        errno.ENAMETOOLONG: "a name in it is too long for the file system",
        errno.ENOTDIR: "a part of it is a file, not a directory",
        errno.EACCES: "permission denied",
    }
    return reasons.get(err.errno or 0, err.strerror or str(err))


def _stat(text: str) -> tuple[int | None, str | None]:
    """``(mode, None)``, ``(None, None)`` when nothing is there, or ``(None, why the path is unusable)``."""
    if not text:
        return None, "the path is empty"
    if "\0" in text:
        return None, "the path contains a NUL byte"
    try:
        return os.stat(text).st_mode, None
    except FileNotFoundError:
        return None, None
    except OSError as err:
        return None, _os_problem(err)


def _kind_problem(mode: int, expect: Kind) -> str | None:
    if expect == "directory":
        return None if stat.S_ISDIR(mode) else "it is not a directory"
    if stat.S_ISDIR(mode):
        return "it is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "it is not a regular file (a device, pipe or socket)"
    return None


def path_problem(path: str | Path, expect: Kind = "file") -> str | None:
    """Why ``path`` cannot be read as a ``expect`` (``file`` or ``directory``), or None if it can."""
    mode, problem = _stat(os.fspath(path))
    if mode is None:
        return problem or "not found"
    return _kind_problem(mode, expect)


def writable_problem(path: str | Path, expect: Kind = "file") -> str | None:
    """Why ``path`` cannot be written as a ``expect`` (created if missing), or None if it can."""
    text = os.fspath(path)
    mode, problem = _stat(text)
    if problem is None and mode is not None:
        problem = _kind_problem(mode, expect)
    if problem:
        return problem
    target = Path(text)
    try:
        parent = target if mode is not None and expect == "directory" else target.parent
        while not parent.exists():
            if parent.is_symlink():  # a dangling link: what it points to cannot be created through it
                return f"{parent} is a symbolic link to a missing place"
            parent = parent.parent
        if not parent.is_dir():
            return f"{parent} is a file, not a directory"
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        return _os_problem(err)
    return None
