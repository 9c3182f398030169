"""The run directory policy, in one place: where a run writes, one writer at a time, replaced only
by a finished run, and never left half-written; and its header files (spec.yaml, model.json).

- **Where.** The default directory is ``runs/<name>``; the spec's ``name`` is one safe path
  component (checked with the spec: :func:`genkit.spec.schema.run_name_problem`). ``--out`` may be
  anywhere a directory can be written.
- **What may be there.** A new run goes into a missing or empty directory; anything else is
  refused unless the run resumes it (``--resume``: a genkit run of the same model and data) or
  replaces it (``--overwrite``: only a genkit run directory, never one that holds the current
  directory or the spec's own data files).
- **Replacing.** ``--overwrite`` trains into a new directory beside the old run
  (``.genkit-new-*``) and swaps the two only when the new run has finished (``renameat2``'s
  atomic exchange on Linux); until then, and after any failure or stop, the old run is as it was.
- **One writer.** ``<run>/.lock`` holds the writing process's pid and is locked with ``flock``
  while it writes. A second writer (``run``, ``resume``) fails at once naming that pid. The kernel
  drops the lock when its process dies, so a lock file left by a killed process is stale and
  simply taken over.
- **Failures and stops** (an error, a full disk, SIGINT or SIGTERM at any moment) leave a
  consistent directory: a run that has written a checkpoint keeps it (resume it), a new run that
  has not is removed again, and no temporary file or directory stays behind.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genkit import signals
from genkit.assembly.model import GenerativeAutoencoder
from genkit.errors import GenkitError, Interrupted, TrainingInterrupted
from genkit.plugin.context import Context
from genkit.plugin.paths import writable_problem
from genkit.plugin.registry import PluginWarning, registry
from genkit.runs.layout import LOCK_FILE, MODEL_FILE, SPEC_FILE
from genkit.spec.resolve import load_spec
from genkit.spec.schema import Spec, changed_keys
from genkit.spec.yaml_source import dump_yaml
from genkit.training.checkpoint import CheckpointManager
from genkit.training.jit_choice import JitChoice
from genkit.version import __version__

#: What a run directory can hold when its process died before the run header was written.
_BEFORE_HEADER = frozenset({f".tmp-{SPEC_FILE}"})

#: Prefix of the directory an ``--overwrite`` run is trained in, beside the run it replaces.
NEW_PREFIX = ".genkit-new-"


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write, renamed onto ``path`` when the block succeeds and
    removed when it fails: a reader sees the old file or the new one, never half of one, and a
    failed write (a full disk) leaves no temporary file."""
    temporary = path.with_name(f".tmp-{path.name}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (:func:`replacing`),
    creating the folders it names that do not exist yet (``--out reports/a.html``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


class RunLock:
    """The exclusive lock of one run directory: ``<run>/.lock``, ``flock``-ed while held, holding the pid."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    @staticmethod
    def _pid_in(fd: int) -> int:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else 0

    @classmethod
    def holder(cls, run_dir: Path) -> int | None:
        """The pid of the live process holding ``run_dir``'s lock (0 if it wrote none), or None if
        no process holds it (no lock file, or a stale one)."""
        try:
            fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return cls._pid_in(fd)
        finally:
            os.close(fd)  # closing drops the probe's own shared lock
        return None

    def acquire(self) -> None:
        """Take the lock, or raise a :class:`GenkitError` naming the process that holds it."""
        deadline = time.monotonic() + 0.2  # a probe's brief shared lock is not a writer
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = self._pid_in(fd)
                os.close(fd)
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                raise GenkitError(_in_use(self.path.parent, pid)) from None
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return
            os.close(fd)  # its holder removed the file while we waited: lock the one there now

    def moved_to(self, run_dir: Path) -> None:
        """The locked directory now lives at ``run_dir`` (after a swap)."""
        self.path = Path(run_dir) / LOCK_FILE

    def release(self) -> None:
        """Remove the lock file (if it is still this lock's) and drop the lock."""
        if self._fd is None:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _in_use(run_dir: Path, pid: int) -> str:
    who = f"process {pid}" if pid else "another process"
    return (f"run directory {run_dir} is being written by {who} (a genkit run or resume; lock file "
            f"{run_dir / LOCK_FILE}); wait for it to finish{f', or stop it (kill {pid}) and resume' if pid else ''}")


def exchange_directories(first: Path, second: Path) -> None:
    """Swap two directories: atomically with Linux's ``renameat2(RENAME_EXCHANGE)``, else through a third name."""
    at_fdcwd, rename_exchange = -100, 2
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(second))
    aside = second.with_name(f".genkit-old-{os.getpid()}")
    os.rename(second, aside)
    os.rename(first, second)
    os.rename(aside, first)


class RunDirectory:
    """The directory one training run writes, from the checks before validation to the end.

    Use: :meth:`check` before the spec is validated (what no spec can fix), :meth:`check_spec`
    after it, then :meth:`writing` around everything the run writes.
    """

    def __init__(self, target: str | Path, *, overwrite: bool = False, resume: bool = False):
        if resume and overwrite:
            raise GenkitError("--resume continues a run and --overwrite replaces it; pass one of them")
        self.target = Path(target)
        self.overwrite, self.resume = overwrite, resume
        #: Where the run is written: the target, or for --overwrite a new directory beside it.
        self.path = self.target
        self.resuming = False
        self._replacing = False
        self._locks: list[RunLock] = []
        self._created: Path | None = None  # the highest directory this run created (removed if it keeps nothing)

    def _contents(self) -> set[str]:
        try:
            return {p.name for p in self.target.iterdir()} - {LOCK_FILE} if self.target.is_dir() else set()
        except OSError as err:
            raise GenkitError(f"cannot read output directory {self.target}: {err.strerror}") from None

    def _replaces(self) -> bool:
        return self.overwrite and bool(self._contents() - _BEFORE_HEADER)

    def check(self) -> None:
        """Refuse, before anything is validated or written, what no spec can fix: a path that
        cannot be a writable directory, a run another process is writing, a directory that is not
        empty (without --resume or --overwrite), or one --resume or --overwrite may not touch."""
        problem = writable_problem(self.target, "directory")
        if problem:
            raise GenkitError(f"cannot write to output directory {self.target}: {problem}")
        pid = RunLock.holder(self.target)
        if pid is not None:
            raise GenkitError(_in_use(self.target, pid))
        self._check_contents()

    def _check_contents(self) -> None:
        contents = self._contents() - _BEFORE_HEADER
        if not contents:
            return
        is_run = (self.target / SPEC_FILE).is_file()
        if self.resume and not is_run:
            raise GenkitError(f"cannot resume {self.target}: it is not a genkit run directory ({SPEC_FILE} is missing)")
        if self.overwrite:
            shown = ", ".join(sorted(contents)[:5]) + (", ..." if len(contents) > 5 else "")
            if not (is_run and (self.target / MODEL_FILE).is_file()):
                raise GenkitError(f"--overwrite replaces a genkit run directory, but {self.target} is not one (no "
                                  f"{SPEC_FILE} and {MODEL_FILE}; it holds {shown}); nothing was changed, choose "
                                  "another --out")
            if Path.cwd().resolve().is_relative_to(self.target.resolve()):
                raise GenkitError(f"--overwrite would delete {self.target}, which holds the current directory; "
                                  "run genkit from somewhere else")
        elif not self.resume:
            raise GenkitError(
                f"run directory {self.target} already exists and is not empty; choose another --out, "
                "pass --resume to continue its training, or --overwrite to replace it"
            )

    def check_spec(self, spec: Spec) -> None:
        """After validation: a resumed run keeps its model and data (only ``train`` may change), and
        a replaced run must not hold the spec's own data files (they would be deleted with it)."""
        if not (self.target / SPEC_FILE).is_file():
            return
        if self.resume:
            changes = changed_keys(load_spec(self.target / SPEC_FILE).to_dict(), spec.to_dict())
            if changes:
                raise GenkitError(
                    f"cannot resume {self.target}: the spec differs from the run's {SPEC_FILE} in "
                    f"{'; '.join(changes)}; only 'train' settings may change on resume (use another --out, "
                    "or --overwrite to start again)"
                )
            CheckpointManager(self.target, spec=spec.to_dict()).check_resumable()
        elif self._replaces():
            plugin = registry("dataset").get(spec.data["type"]).obj
            inside = [str(spec.data[key]) for key in getattr(plugin, "path_args", ())
                      if isinstance(spec.data.get(key), str)
                      and Path(spec.data[key]).resolve().is_relative_to(self.target.resolve())]
            if inside:
                raise GenkitError(f"--overwrite would delete {', '.join(inside)} (data of this spec) with the run "
                                  f"{self.target}; move the data out of the run directory first")

    @contextmanager
    def writing(self) -> Iterator[Path]:
        """The block that writes the run (in :attr:`path`); stop signals are deferred to safe points.

        On success an --overwrite run is swapped in and the lock released. On any failure or stop
        the directory is left consistent (see the module docstring) and the error says so: how to
        resume, or that the previous run is unchanged, or that nothing was kept.
        """
        with signals.deferred():
            self._replacing = self._replaces()
            try:
                self._open()
                yield self.path
                self._commit()
            except BaseException as err:
                self._abandon()
                explained = self._explained(err)
                if explained is err:
                    raise
                raise explained from err
            signum = signals.take()
            if signum is not None:
                raise Interrupted(f"interrupted as the run finished; {self.target} is complete", signum)

    def _open(self) -> None:
        """Lock the target and choose (and create) where the run is written."""
        if self._replacing:
            self._lock(self.target)
            self._check_contents()
            self._remove_stale_new_directories()
            self.path = Path(tempfile.mkdtemp(prefix=f"{NEW_PREFIX}{os.getpid()}-", dir=self.target.parent))
            self._lock(self.path)
            return
        highest_missing = None if self.target.exists() else self.target
        while highest_missing is not None and not highest_missing.parent.exists():
            highest_missing = highest_missing.parent
        self.target.mkdir(parents=True, exist_ok=True)
        self._created = highest_missing
        self._lock(self.target)
        self._check_contents()
        contents = self._contents()
        self.resuming = self.resume and bool(contents - _BEFORE_HEADER)
        for leftover in contents & _BEFORE_HEADER:
            (self.target / leftover).unlink(missing_ok=True)

    def _lock(self, directory: Path) -> None:
        lock = RunLock(directory)
        lock.acquire()
        self._locks.append(lock)

    def _remove_stale_new_directories(self) -> None:
        """Remove ``.genkit-new-*`` directories of killed --overwrite runs (no process holds their
        lock, and none has touched them for a minute)."""
        for stale in self.target.parent.glob(f"{NEW_PREFIX}*"):
            if (stale.is_dir() and not stale.is_symlink() and RunLock.holder(stale) is None
                    and time.time() - stale.stat().st_mtime > 60):
                shutil.rmtree(stale, ignore_errors=True)

    def _commit(self) -> None:
        if self._replacing:
            exchange_directories(self.path, self.target)
            old, new = self._locks
            old.moved_to(self.path)
            new.moved_to(self.target)
            if self.path.is_symlink():  # --out named a link to the old run: the link goes, what it named stays
                self.path.unlink()
            else:
                shutil.rmtree(self.path, ignore_errors=True)  # the replaced run
            self.path = self.target
        self._release()

    def _abandon(self) -> None:
        if not self._locks:  # nothing was locked: the directory is another process's, or untouched
            return
        if self._replacing:
            if self.path != self.target:
                shutil.rmtree(self.path, ignore_errors=True)  # the unfinished new run; the old one is untouched
        elif not self.resuming and not CheckpointManager(self.target).paths():
            if self._created is not None:  # a new run that kept nothing: as if it had never started
                shutil.rmtree(self._created, ignore_errors=True)
            else:
                for item in self.target.iterdir():
                    if item.is_dir() and not item.is_symlink():
                        shutil.rmtree(item, ignore_errors=True)
                    else:
                        item.unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        for lock in reversed(self._locks):
            lock.release()
        self._locks = []

    def _explained(self, err: BaseException) -> BaseException:
        """``err`` as the user needs it: what of the run is left, and how to go on."""
        saved = [] if self._replacing else CheckpointManager(self.target).paths()
        newest = saved[-1] if saved else None
        if self._replacing:
            kept = (f"{self.target} still holds the previous run (--overwrite replaces it only once the new run "
                    "has finished)")
        elif newest is not None:
            kept = f"its newest checkpoint {newest.name} is intact; resume with: genkit resume {self.target}"
        else:
            kept = f"{self.target} is as it was" if self.resuming else "nothing of the run was kept"
        if isinstance(err, Interrupted):
            if self._replacing:
                return Interrupted(f"interrupted: the new run was discarded; {kept}", err.signum)
            if isinstance(err, TrainingInterrupted):
                return err
            if newest is not None:
                return TrainingInterrupted(
                    f"interrupted: checkpoint {newest.name} written; resume with: genkit resume {self.target}",
                    err.signum)
            return Interrupted(f"interrupted before training started; {kept}", err.signum)
        if isinstance(err, OSError):
            where = f" ({err.filename})" if err.filename else ""
            return GenkitError(f"cannot write the run directory {self.target}: {err.strerror or err}{where}; {kept}")
        if isinstance(err, GenkitError) and self._replacing:
            err.args = (f"{err}; {kept}",)
        return err


def write_run_header(run_dir: Path, spec: Spec, model: GenerativeAutoencoder, jit: JitChoice | None = None) -> None:
    """The resolved spec and the rebuild information (how ``jit_compile`` was decided, where each
    component came from), written before training starts."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    write_atomic(run_dir / SPEC_FILE, dump_yaml(spec.to_dict()))
    info = {
        "context": model.context.to_dict(),
        "jit_compile": None if jit is None else jit.to_dict(),
        "genkit": __version__,
        "tensorflow": tf.__version__,
        "tensorflow_probability": tfp.__version__,
        "keras": keras.__version__,
        "components": component_origins(spec),
    }
    write_atomic(run_dir / MODEL_FILE, json.dumps(info, indent=2) + "\n")


def read_jit_choice(run_dir: Path) -> JitChoice | None:
    """How a run decided ``jit_compile`` (from its model.json), so that resuming keeps the decision."""
    try:
        recorded = json.loads((run_dir / MODEL_FILE).read_text()).get("jit_compile")
        return None if recorded is None else JitChoice(**recorded)
    except (OSError, ValueError, TypeError) as err:
        raise GenkitError(f"{run_dir / MODEL_FILE} is not valid: {err}") from None
def component_origins(spec: Spec) -> dict[str, dict[str, Any]]:
    """Spec key -> the component's name and where it comes from now (object, package, version)."""
    entries: dict[str, tuple[str, str]] = {key: (key, entry["type"]) for key, entry in spec.components.items()
                                           if entry is not None}
    entries["data"] = ("dataset", spec.data["type"])
    for index, callback in enumerate(spec.train.callbacks):
        if isinstance(callback, dict):
            entries[f"train.callbacks.{index}"] = ("callback", callback["type"])
    return {key: {"type": name, **registry(kind).get(name).provenance()} for key, (kind, name) in entries.items()}


def warn_if_components_moved(run_dir: Path, spec: Spec) -> None:
    """Warn (:class:`PluginWarning`) when a component of the run now comes from other code than
    the code that trained it (another package or version, a plugin registered over a built-in)."""
    try:
        recorded = json.loads((run_dir / MODEL_FILE).read_text()).get("components", {})
    except (OSError, ValueError, AttributeError):
        return  # read_context reports an unreadable model.json
    moved = []
    for key, now in component_origins(spec).items():
        was = recorded.get(key)
        if isinstance(was, dict) and was.get("type") == now["type"] and was != now:
            moved.append(f"{key} '{now['type']}' was {_origin(was)} and is now {_origin(now)}")
    if moved:
        warnings.warn(f"{run_dir} was trained with other code than it now loads: {'; '.join(moved)}; "
                      "its numbers may differ from the run's", PluginWarning, stacklevel=3)


def _origin(info: dict[str, Any]) -> str:
    package = f" from {info['package']} {info.get('version') or ''}".rstrip() if info.get("package") else ""
    return f"{info.get('object')}{package}"


def read_context(run_dir: Path) -> Context:
    """The build context stored in a run's model.json (older runs: their data shape and condition width)."""
    path = run_dir / MODEL_FILE
    try:
        info: dict[str, Any] = json.loads(path.read_text())
        if "context" in info:
            return Context.from_dict(info["context"])
        spec = load_spec(run_dir / SPEC_FILE)
        return Context(spec.latent_shape, tuple(int(d) for d in info["data_shape"]), int(info.get("condition_dim", 0)))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GenkitError(f"{path} is not valid: {err}") from None
