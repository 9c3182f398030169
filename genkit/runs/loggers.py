"""Loggers that write a run's metrics: metrics.csv, TensorBoard scalars and images, extra CSV logs,
MLflow tracking.

``MetricsCSV`` and ``TensorBoard`` are what every run directory gets (under ``multi_worker`` only
the chief writes them: the other workers' loggers write nothing, see
:func:`~genkit.training.strategy.writes_run_files`); ``CSVLog`` (``csv``), ``TensorBoardLog``
(``tensorboard``) and ``MLflowLog`` (``mlflow``, when MLflow is installed) are the registered
callbacks a spec lists under ``train.callbacks``. Relative paths of those are relative to the run
directory, or to the current directory when training without one (``genkit.train(spec)`` with no
``out``). The modules that draw pictures and write run files are imported when first used, so
listing the callbacks (``genkit list``) does not import them.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from genkit.assembly.streaming import first_examples
from genkit.errors import GenkitError
from genkit.plugin.callback import Callback
from genkit.plugin.paths import Kind, writable_problem
from genkit.runs.layout import METRICS_FILE, SPEC_FILE
from genkit.spec.schema import dotted_keys
from genkit.spec.yaml_source import read_yaml_file
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
        from genkit.runs.directory import replacing

        self.columns = list(rows[0]) if rows else None
        if not writes_run_files():
            return
        with replacing(self.path) as temporary, temporary.open("w", newline="") as handle:
            if rows:
                self._write(handle, rows, header=True)

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

        from genkit.results.pictures import image_grid, is_image
        from genkit.results.report import picture_labels

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


def _under(run_dir: Path | None, path: str, kind: Kind) -> Path:
    """``path`` relative to the run directory (or the current one), refused now (``ValueError``,
    reported at the callback's spec key before training starts) if it cannot be written as ``kind``."""
    target = Path(run_dir or ".") / path
    problem = writable_problem(target, kind)
    if problem:
        raise ValueError(f"cannot write {'to' if kind == 'file' else 'in'} {target}: {problem}")
    return target


class CSVLog(MetricsCSV):
    """Appends every epoch's metrics to one more CSV file (the run's own metrics.csv is always written).

    Args:
        path: the CSV file to append to, e.g. a log shared by several runs.
    """

    def __init__(self, path: str, run_dir: Path | None = None):
        target = _under(run_dir, path, "file")
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
        super().__init__(_under(run_dir, log_dir, "directory"), image_every)

    def on_train_begin(self, trainer: Any) -> None:
        self.examples = first_examples(trainer.validation_data or trainer.train_data, 16)
        super().on_train_begin(trainer)

#: MLflow keeps parameter values up to this many characters.
MLFLOW_PARAM_LENGTH = 6000


class MLflowLog(Callback):
    """Tracks the run in MLflow: the resolved spec (as parameters and as spec.yaml), every epoch metric
    per epoch, and at the end the run's pictures (samples, reconstructions, traversal ...) as artifacts.

    Needs MLflow (``pip install mlflow``, or the lighter ``mlflow-skinny``); genkit does not depend
    on it. Without ``tracking_uri`` MLflow's own default applies (``MLFLOW_TRACKING_URI``). A plain
    path is a local folder store that works offline (relative to the run directory; MLflow 3 asks
    for ``MLFLOW_ALLOW_FILE_STORE=true`` in the environment to use one); ``sqlite:///mlflow.db`` or
    a server's ``http://`` address work as in MLflow.

    Args:
        tracking_uri: where MLflow stores runs: a folder, ``sqlite:///FILE`` or a server address.
        experiment: the MLflow experiment (created when missing).
        run_name: the MLflow run's name (default: the run directory's name, else one MLflow makes up).
        pictures: log the pictures at the end of training.
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str = "genkit", run_name: str | None = None,
                 pictures: bool = True, run_dir: Path | None = None):
        if importlib.util.find_spec("mlflow") is None:
            raise ValueError("the mlflow callback needs MLflow, which is not installed: pip install mlflow "
                             "(or mlflow-skinny)")
        if tracking_uri is not None and "://" not in tracking_uri and not tracking_uri.startswith("file:"):
            tracking_uri = _under(run_dir, tracking_uri, "directory").resolve().as_uri()
        self.tracking_uri, self.experiment, self.pictures, self.run_dir = tracking_uri, experiment, pictures, run_dir
        self.run_name = run_name or (Path(run_dir).name if run_dir is not None else None)
        self.client: Any = None
        self.run_id: str | None = None
        self.trainer: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.trainer = trainer
        try:
            self.client = MlflowClient(tracking_uri=self.tracking_uri)
            found = self.client.get_experiment_by_name(self.experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment)
            self.run_id = self.client.create_run(experiment_id, run_name=self.run_name).info.run_id
        except MlflowException as err:
            where = self.tracking_uri or "MLflow's default tracking URI"
            raise GenkitError(f"the mlflow callback cannot start a run at {where}: {err}") from None
        spec_file = None if self.run_dir is None else Path(self.run_dir) / SPEC_FILE
        spec = read_yaml_file(spec_file)[0] if spec_file is not None and spec_file.is_file() else \
            {"train": trainer.settings.model_dump()}
        for key, value in dotted_keys(spec).items():
            self.client.log_param(self.run_id, key, str(value)[:MLFLOW_PARAM_LENGTH])
        if spec_file is not None and spec_file.is_file():
            self.client.log_artifact(self.run_id, str(spec_file))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, epoch) for key, value in logs.items()
                   if key != "epoch" and math.isfinite(float(value))]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_train_end(self, history: list[dict[str, float]]) -> None:
        from genkit.results.report import make_pictures

        if self.run_id is None:
            return
        if self.pictures and history:
            shown = self.trainer.validation_data or self.trainer.train_data
            with tempfile.TemporaryDirectory() as scratch:
                make_pictures(self.trainer.model, shown, scratch, history, self.trainer.settings.seed)
                self.client.log_artifacts(self.run_id, scratch, "pictures")
        self.client.set_terminated(self.run_id, "FINISHED" if history else "FAILED")
