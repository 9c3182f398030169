"""Callbacks of training itself: the console progress and early stopping.

(The contract is :class:`genkit.plugin.callback.Callback`; the loggers that write into a run
directory, metrics.csv and TensorBoard, are :mod:`genkit.runs.loggers`.) ``early_stopping`` is
registered by name (entry point group ``genkit.callbacks``), so a spec can list it under
``train.callbacks``.
"""

from __future__ import annotations

from typing import Any, Literal

from genkit.errors import GenkitError
from genkit.plugin.callback import Callback


class Progress(Callback):
    """A rich progress bar over epochs and steps with the current loss, and one line per epoch."""

    def __init__(self, epochs: int, steps_per_epoch: int, console: Any = None):
        from rich.console import Console

        self.epochs, self.steps = epochs, steps_per_epoch
        self.console = console or Console()
        self.bar: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        choice = getattr(trainer, "jit_choice", None)
        if choice is not None and choice.graph_examples_per_second is not None:  # measured: worth a line
            self.console.print(choice.describe(), highlight=False)

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
