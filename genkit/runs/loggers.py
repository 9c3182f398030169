"""Loggers that write a run's metrics: metrics.csv, TensorBoard scalars and images, extra CSV logs.

``MetricsCSV`` and ``TensorBoard`` are what every run directory gets (under ``multi_worker`` only
the chief writes them: the other workers' loggers write nothing, see
:func:`~genkit.training.strategy.writes_run_files`); ``CSVLog`` (``csv``) and
``TensorBoardLog`` (``tensorboard``) are the registered callbacks a spec lists under
``train.callbacks``. Relative paths of those are relative to the run directory, or to the current
directory when training without one (``genkit.train(spec)`` with no ``out``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from genkit.assembly.streaming import first_examples
from genkit.plugin.callback import Callback
from genkit.results.pictures import image_grid, is_image
from genkit.runs.layout import METRICS_FILE
from genkit.runs.pictures import picture_labels
from genkit.training.strategy import writes_run_files


class MetricsCSV(Callback):
    """Appends one row per epoch to a CSV file, flushed so a crash loses nothing written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.columns: list[str] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if not writes_run_files():
            return
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
        if not writes_run_files():
            return
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
        self.writer = tf.summary.create_file_writer(str(self.log_dir)) if writes_run_files() else None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        import tensorflow as tf

        if self.writer is None:
            return
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


def _under(run_dir: Path | None, path: str) -> Path:
    return Path(run_dir or ".") / path


class CSVLog(MetricsCSV):
    """Appends every epoch's metrics to one more CSV file (the run's own metrics.csv is always written).

    Args:
        path: the CSV file to append to, e.g. a log shared by several runs.
    """

    def __init__(self, path: str, run_dir: Path | None = None):
        target = _under(run_dir, path)
        if run_dir is not None and target.resolve() == (Path(run_dir) / METRICS_FILE).resolve():
            raise ValueError("the run directory's metrics.csv is always written; choose another path")
        super().__init__(target)


class TensorBoardLog(TensorBoard):
    """TensorBoard event files: every epoch metric as a scalar, plus sample and reconstruction images.

    Listing it in a spec replaces the run directory's default TensorBoard logger.

    Args:
        log_dir: directory of the event files.
        image_every: write images every this many epochs.
    """

    def __init__(self, log_dir: str = "tensorboard", image_every: int = 1, run_dir: Path | None = None):
        if image_every < 1:
            raise ValueError(f"image_every must be >= 1, got {image_every}")
        super().__init__(_under(run_dir, log_dir), image_every)

    def on_train_begin(self, trainer: Any) -> None:
        self.examples = first_examples(trainer.validation_data or trainer.train_data, 16)
        super().on_train_begin(trainer)
