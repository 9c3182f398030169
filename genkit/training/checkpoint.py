"""Checkpoints of a training run: written atomically, checksummed, the last few kept; and resuming.

A checkpoint is a directory ``<run>/checkpoints/step-000000120/`` (named by the global step)::

    model.weights.h5   every model variable, including the step and RNG counters (Keras h5)
    optimizers.npz     every phase optimizer's variables (iterations, moments ...), not its
                       learning rate: the spec sets that, so a resumed run may lower it
    state.json         the last finished epoch, the step, the metric rows so far, the model
                       and data part of the spec that trained it and, after a stop signal, the
                       metric sums and counts of the part of the next epoch already trained
    manifest.json      the sha256 of the three files above, written last

It is written into a hidden temporary directory, every file flushed to disk, then renamed into
place (``os.replace``), so a process killed at any moment leaves either the whole checkpoint or
none; a write that fails (a full disk) removes the temporary directory before the error goes on,
and the checkpoints before it stay as they were. On resume the newest checkpoint whose manifest
and checksums match is used; a corrupt or truncated one is reported with a
:class:`CheckpointWarning` and the one before it is tried. A checkpoint that is whole but was
trained with another model than the spec now describes (an edited spec.yaml) is not corrupt: it
is refused with a :class:`GenkitError` naming the keys that differ, and nothing is trained.

Why this is the whole training state: the data order of an epoch is a pure function of
``(train.seed, epoch)`` (:func:`genkit.training.trainer.epoch_order`); every random draw of a training step
comes from ``model.next_seed()``, a counter stored with the weights; evaluation uses fixed seeds.
So weights, optimizer variables and the position (epoch, batches done) determine every later
number, and a resumed run ends with the weights and metrics of an uninterrupted one. (A plugin
that draws from TensorFlow's global random state instead of the seed it is given breaks this,
as it breaks reproducibility anyway.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genkit import signals
from genkit.errors import GenkitError, TrainingInterrupted
from genkit.plugin.callback import Callback
from genkit.spec.schema import changed_keys
from genkit.training.progress import EpochProgress
from genkit.training.strategy import writes_run_files
from genkit.training.trainer import Trainer

CHECKPOINTS_DIR = "checkpoints"
WEIGHTS = "model.weights.h5"
OPTIMIZERS = "optimizers.npz"
STATE = "state.json"
MANIFEST = "manifest.json"
FORMAT = 2
_PREFIX = "step-"


class CheckpointWarning(UserWarning):
    """A checkpoint is corrupt or unreadable; an older one (or none) is used instead."""


class CorruptCheckpoint(Exception):
    """A checkpoint failed its manifest, checksum or load check (caught: the previous one is tried)."""


@dataclass
class TrainingState:
    """Where a restored checkpoint left training."""

    path: Path
    epoch: int  # the last finished epoch (0: none)
    step: int
    history: list[dict[str, float]]
    partial: EpochProgress | None  # the batches of epoch + 1 trained before a stop signal
    spec: dict[str, Any] | None = None  # the spec that trained it (None: written before genkit stored it)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file (or directory entry list) to disk, so a rename after it never exposes a hole."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _optimizer_variables(optimizers: list[Any]) -> dict[str, Any]:
    """Each optimizer's variables by a stable key, leaving out learning rates (the spec owns those)."""
    return {
        f"phase{i}_var{j}": variable
        for i, optimizer in enumerate(optimizers)
        for j, variable in enumerate(optimizer.variables)
        if variable.name != "learning_rate"
    }


class CheckpointManager:
    """Writes, lists, verifies and restores the checkpoints of one run directory.

    ``spec`` is the resolved spec (``Spec.to_dict()``) of the run: its model and data part is
    stored with every checkpoint and compared on restore.
    """

    def __init__(self, run_dir: str | Path, keep: int = 3, spec: dict[str, Any] | None = None):
        self.root = Path(run_dir) / CHECKPOINTS_DIR
        self.keep = keep
        self.spec = spec

    def paths(self) -> list[Path]:
        """The complete (renamed into place) checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX))

    def save(self, trainer: Trainer, partial: EpochProgress | None = None) -> Path:
        """Write a checkpoint of ``trainer`` now; ``partial`` is an epoch trained part-way (Ctrl-C).

        Under ``multi_worker`` only the chief writes (every worker holds the same state); the others
        return the path the chief writes to.
        """
        step = int(trainer.model.step_counter.numpy())
        final = self.root / f"{_PREFIX}{step:09d}"
        if not writes_run_files():
            return final
        epoch = partial.epoch - 1 if partial is not None else int(trainer.history[-1]["epoch"])
        state = {
            "format": FORMAT,
            "epoch": epoch,
            "step": step,
            "history": trainer.history,
            "partial": None if partial is None else dataclasses.asdict(partial),
            "spec": self.spec,
        }
        self.root.mkdir(exist_ok=True)
        temporary = self.root / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(temporary, ignore_errors=True)
        try:
            self._write(trainer, state, temporary, final)
        except BaseException:  # a full disk, a second Ctrl-C: no half-written checkpoint is left
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        self._prune()
        return final

    def _write(self, trainer: Trainer, state: dict[str, Any], temporary: Path, final: Path) -> None:
        temporary.mkdir()
        trainer.model.save_weights(str(temporary / WEIGHTS))
        arrays = {key: np.asarray(v.numpy()) for key, v in _optimizer_variables(trainer.optimizers).items()}
        np.savez(temporary / OPTIMIZERS, **arrays)
        (temporary / STATE).write_text(json.dumps(state), encoding="utf-8")
        files = (WEIGHTS, OPTIMIZERS, STATE)
        for name in files:
            _fsync(temporary / name)
        manifest = {"format": FORMAT, "files": {name: _sha256(temporary / name) for name in files}}
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _fsync(temporary / MANIFEST)
        _fsync(temporary)
        if final.exists():  # the same step saved again (an interrupt at an epoch's last step)
            shutil.rmtree(final)
        os.replace(temporary, final)
        _fsync(self.root)

    def _prune(self) -> None:
        """Keep the newest ``keep`` checkpoints; remove older ones and temporaries of dead writers."""
        for old in self.paths()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in self.root.glob(".tmp-*"):
            if not stale.name.endswith(f"-{os.getpid()}"):
                shutil.rmtree(stale, ignore_errors=True)

    def read(self, path: Path) -> TrainingState:
        """Verify a checkpoint's manifest and checksums and read its state; :class:`CorruptCheckpoint` if bad."""
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            files = manifest["files"]
            for name in (WEIGHTS, OPTIMIZERS, STATE):
                if _sha256(path / name) != files[name]:
                    raise CorruptCheckpoint(f"{name} does not match its checksum")
            raw = json.loads((path / STATE).read_text(encoding="utf-8"))
            partial = raw["partial"]
            return TrainingState(
                path,
                int(raw["epoch"]),
                int(raw["step"]),
                list(raw["history"]),
                None if partial is None else EpochProgress(**partial),
                raw.get("spec"),
            )
        except CorruptCheckpoint:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CorruptCheckpoint(f"{type(err).__name__}: {err}") from None

    def restore(self, trainer: Trainer) -> TrainingState | None:
        """Load the newest good checkpoint into ``trainer`` (model, optimizers, history); None if there is none.

        A bad checkpoint is skipped with a :class:`CheckpointWarning` naming it and the reason.
        """
        for path in reversed(self.paths()):
            try:
                state = self.read(path)
                self._check_spec(state)
                self._load_variables(trainer, path)
            except CorruptCheckpoint as err:
                warnings.warn(
                    f"checkpoint {path} is corrupt or incomplete ({err}); using the one before it",
                    CheckpointWarning,
                    stacklevel=2,
                )
                continue
            trainer.history = state.history
            return state
        return None

    def check_resumable(self) -> None:
        """Refuse (:class:`GenkitError`), before anything is written, when the newest whole
        checkpoint was trained with another model or data than the spec."""
        for path in reversed(self.paths()):
            try:
                state = self.read(path)
            except CorruptCheckpoint:
                continue
            self._check_spec(state)
            return

    def _check_spec(self, state: TrainingState) -> None:
        """Refuse a whole checkpoint that another model or data trained (a GenkitError, not a fallback)."""
        if state.spec is None or self.spec is None:
            return
        changes = changed_keys(state.spec, self.spec)
        if changes:
            raise GenkitError(
                f"cannot resume {self.root.parent}: checkpoint {state.path.name} was trained with another model or "
                f"data than the spec now describes ({'; '.join(changes)}); only 'train' settings may change on "
                "resume. Restore the run's spec.yaml, or start a new run (another --out, or --overwrite)"
            )

    @staticmethod
    def _load_variables(trainer: Trainer, path: Path) -> None:
        try:
            trainer.model.load_weights(str(path / WEIGHTS))
        except Exception as err:  # the file passed its checksum, so it is whole: it was written by another model
            raise GenkitError(
                f"checkpoint {path} is intact but does not fit the model the spec builds (a plugin or genkit "
                f"version changed what it builds): {type(err).__name__}: {str(err).splitlines()[0]}; resume it with "
                "the versions that wrote it, or start a new run"
            ) from None
        try:
            with np.load(path / OPTIMIZERS, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
        except Exception as err:  # zip readers raise many types; any means an unusable file
            raise CorruptCheckpoint(f"{type(err).__name__}: {err}") from None
        variables = _optimizer_variables(trainer.optimizers)
        mismatch = set(arrays) != set(variables) or any(
            tuple(arrays[k].shape) != tuple(v.shape) for k, v in variables.items()
        )
        if mismatch:
            raise GenkitError(
                f"checkpoint {path} was written with other optimizers than the spec now names "
                "(train.optimizer or a divergence's phases changed); resume with the optimizer it was trained with"
            )
        for key, variable in variables.items():
            variable.assign(arrays[key])


class Checkpointer(Callback):
    """Checkpoints every ``train.checkpoint_every`` epochs and after the last one; stops on a signal.

    Inside :func:`genkit.signals.deferred` (a run directory's writing block), the first SIGINT or
    SIGTERM asks training to stop: after the step running now finishes, a checkpoint is written and
    :class:`TrainingInterrupted` raised with a one-line message saying how to resume. A second
    signal stops at once.
    """

    def __init__(self, manager: CheckpointManager, run_dir: str | Path):
        self.manager = manager
        self.run_dir = Path(run_dir)
        self.trainer: Trainer | None = None

    def on_train_begin(self, trainer: Any) -> None:
        self.trainer = trainer

    def _trainer(self) -> Trainer:
        if self.trainer is None:
            raise RuntimeError("the checkpointer is used before training began")
        return self.trainer

    def on_step_end(self, step: int, loss: float | None) -> None:
        if signals.requested() is not None:
            trainer = self._trainer()
            self._stop(self.manager.save(trainer, trainer.progress))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        trainer = self._trainer()
        settings = trainer.settings
        saved = None
        if epoch % settings.checkpoint_every == 0 or epoch == settings.epochs:
            saved = self.manager.save(trainer)
        if signals.requested() is not None:
            self._stop(saved or self.manager.save(trainer))

    def _stop(self, path: Path) -> None:
        signum = signals.take()
        raise TrainingInterrupted(
            f"interrupted: checkpoint {path.name} written; resume with: genkit resume {self.run_dir}",
            signum or signal.SIGINT,
        )
