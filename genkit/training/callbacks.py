"""Training callbacks: Keras-style hooks, and the built-in loggers (CSV metrics, TensorBoard, progress).

A downstream library passes its own :class:`Callback` to ``genkit.train`` to plug in its logging.
Callbacks are also a registry kind (entry point group ``genkit.callbacks``), so a spec can list
them under ``train.callbacks`` with arguments validated against their typed ``__init__``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from genkit.errors import GenkitError


class Callback:
    """Hooks called by the trainer; override the ones you need.

    A callback may end training after the current epoch by setting ``trainer.stop_training``
    (the trainer is passed to :meth:`on_train_begin`). Built from a spec, a callback's
    ``__init__`` may ask for ``run_dir`` (the run directory, or None when training without one).
    """

    context_args: ClassVar[frozenset[str]] = frozenset({"run_dir"})

    def on_train_begin(self, trainer: Any) -> None:
        """Before the first epoch; ``trainer.model`` and ``trainer.spec`` are available."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Before an epoch (1-based)."""

    def on_step_end(self, step: int, loss: float | None) -> None:
        """After a training step; ``loss`` (the mean over the last compiled call's steps) is given at the
        end of each call of ``train.steps_per_execution`` steps, None inside one."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """After an epoch with its metrics (training means, validation, timing)."""

    def on_train_end(self, history: list[dict[str, float]]) -> None:
        """After the last epoch, or when training stops early (NaN stop, Ctrl-C, an error)."""


class MetricsCSV(Callback):
    """Appends one row per epoch to a CSV file, flushed so a crash loses nothing written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.columns: list[str] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        new = self.columns is None
        if new:
            self.columns = list(logs)
        with self.path.open("a", newline="") as handle:
            self._write(handle, [logs], header=new)

    def restore(self, rows: list[dict[str, float]]) -> None:
        """Replace the file by ``rows`` (the metrics a checkpoint kept), atomically; later epochs append.

        Resuming calls this so rows written after the checkpoint (then lost) are not repeated.
        """
        self.columns = list(rows[0]) if rows else None
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", newline="") as handle:
            if rows:
                self._write(handle, rows, header=True)
        os.replace(temporary, self.path)

    def _write(self, handle: Any, rows: list[dict[str, float]], header: bool) -> None:
        columns = self.columns or []
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        if header:
            writer.writeheader()
        writer.writerows({k: row.get(k, "") for k in columns} for row in rows)


class TensorBoard(Callback):
    """Scalars every epoch; sample and reconstruction images every ``image_every`` epochs."""

    def __init__(self, log_dir: str | Path, image_every: int = 1, examples: Any = None):
        self.log_dir = Path(log_dir)
        self.image_every = image_every
        self.examples = examples
        self.writer: Any = None
        self.model: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        import tensorflow as tf

        self.model = trainer.model
        self.writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        import tensorflow as tf

        from genkit.results.pictures import image_grid, is_image
        from genkit.runs.directory import picture_labels

        with self.writer.as_default(step=epoch):
            for key, value in logs.items():
                if key != "epoch":
                    tf.summary.scalar(key, value)
            model = self.model
            if is_image(model.data_shape) and epoch % self.image_every == 0:
                examples = self.examples
                if model.prior is not None:
                    labels = None if examples is None else picture_labels(model, examples, 16)
                    tf.summary.image("samples", image_grid(model.sample(16, labels))[None])
                if examples is not None:
                    recon = model.reconstruct(examples.x, examples.y if model.conditional else None)
                    tf.summary.image("reconstructions", image_grid(np.concatenate([examples.x, recon]), 8)[None])
        self.writer.flush()

    def on_train_end(self, history: list[dict[str, float]]) -> None:
        if self.writer is not None:
            self.writer.close()


class Progress(Callback):
    """A rich progress bar over epochs and steps with the current loss, and one line per epoch."""

    def __init__(self, epochs: int, steps_per_epoch: int, console: Any = None):
        from rich.console import Console

        self.epochs, self.steps = epochs, steps_per_epoch
        self.console = console or Console()
        self.bar: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"), TimeRemainingColumn(),
            console=self.console, transient=True,
        )
        self.bar.start()
        self.epoch_task = self.bar.add_task("epochs", total=self.epochs, loss="")
        self.step_task = self.bar.add_task("steps", total=self.steps, loss="")

    def on_epoch_begin(self, epoch: int) -> None:
        self.bar.reset(self.step_task, total=self.steps, description=f"epoch {epoch}/{self.epochs}", loss="")

    def on_step_end(self, step: int, loss: float | None) -> None:
        fields = {"loss": f"loss {loss:.4f}"} if loss is not None else {}
        self.bar.update(self.step_task, advance=1, **fields)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.bar.update(self.epoch_task, advance=1)
        shown = [f"{k} {v:.4f}" for k, v in logs.items() if k not in ("epoch", "step")]
        self.console.print(f"epoch {epoch}/{self.epochs}: " + ", ".join(shown), highlight=False)

    def on_train_end(self, history: list[dict[str, float]]) -> None:
        self.bar.stop()


class EarlyStopping(Callback):
    """Stops training when an epoch metric has stopped improving.

    Args:
        monitor: the epoch metric to watch: ``val_loss``, ``loss``, ``val_reconstruction`` ...
        patience: stop after this many epochs in a row without improvement.
        min_delta: the smallest change that counts as an improvement.
        mode: ``min`` when lower is better, ``max`` when higher is better.
        restore_best_weights: when stopping, put back the weights of the best epoch.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 3,
        min_delta: float = 0.0,
        mode: Literal["min", "max"] = "min",
        restore_best_weights: bool = False,
    ):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode, self.restore_best_weights = mode, restore_best_weights
        self.trainer: Any = None
        self.best: float | None = None
        self.best_epoch: int | None = None
        #: The epoch after which training was stopped (None if it ran to the end).
        self.stopped_epoch: int | None = None
        self._wait = 0
        self._best_weights: list[Any] | None = None

    def on_train_begin(self, trainer: Any) -> None:
        if self.monitor.startswith("val_") and trainer.validation_data is None:
            raise GenkitError(
                f"early_stopping monitors '{self.monitor}', but this run has no validation data; set "
                "data.validation_split above 0 or monitor a training metric such as 'loss'"
            )
        self.trainer = trainer
        self.best, self.best_epoch, self.stopped_epoch = None, None, None
        self._wait, self._best_weights = 0, None

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise GenkitError(
                f"early_stopping monitors '{self.monitor}', which is not an epoch metric; the metrics are: "
                f"{', '.join(k for k in logs if k != 'epoch')}"
            )
        value = float(logs[self.monitor])
        if self._improves(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = self.trainer.model.get_weights()
            return
        self._wait += 1
        if self._wait >= self.patience:
            self.trainer.stop_training = True
            self.stopped_epoch = epoch
            if self._best_weights is not None:
                self.trainer.model.set_weights(self._best_weights)
