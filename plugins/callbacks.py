"""Callbacks a spec can list under ``train.callbacks``: extra CSV logs and TensorBoard settings.

(``early_stopping`` is :class:`genkit.training.callbacks.EarlyStopping`, registered by name the same way.)
Relative paths are relative to the run directory, or to the current directory when training
without one (``genkit.train(spec)`` with no ``out``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genkit.training.callbacks import MetricsCSV, TensorBoard


def _under(run_dir: Path | None, path: str) -> Path:
    return Path(run_dir or ".") / path


class CSVLog(MetricsCSV):
    """Appends every epoch's metrics to one more CSV file (the run's own metrics.csv is always written).

    Args:
        path: the CSV file to append to, e.g. a log shared by several runs.
    """

    def __init__(self, path: str, run_dir: Path | None = None):
        target = _under(run_dir, path)
        if run_dir is not None and target.resolve() == (Path(run_dir) / "metrics.csv").resolve():
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
        shown = trainer.validation_data or trainer.train_data
        self.examples = shown.subset(np.arange(min(16, len(shown))))
        super().on_train_begin(trainer)
