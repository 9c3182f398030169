"""Callbacks of training itself: how epochs are reported (a rich progress bar, fixed-column lines or
JSON lines) and early stopping.

(The contract is :class:`genkit.plugin.callback.Callback`; the loggers that write into a run
directory, metrics.csv and TensorBoard, are :mod:`genkit.runs.loggers`.) ``early_stopping`` is
registered by name (entry point group ``genkit.callbacks``), so a spec can list it under
``train.callbacks``.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Literal, TextIO

from genkit.errors import GenkitError
from genkit.plugin.callback import Callback

#: How training reports its epochs: ``rich`` (a progress bar and a line per epoch, for a terminal),
#: ``plain`` (one fixed-column line per epoch, for log files), ``json`` (one JSON object per
#: epoch) or ``auto`` (``rich`` on a terminal, else ``plain``).
LogFormat = Literal["auto", "rich", "plain", "json"]
LOG_FORMATS: tuple[str, ...] = ("auto", "rich", "plain", "json")

#: Log keys that are bookkeeping, not metrics (the epoch is shown as its own column).
_NOT_SHOWN = ("epoch", "step")
#: Short column titles of the timing entries (the metric names stay as they are).
_TITLES = {"seconds": "s", "examples_per_second": "ex/s"}


def format_number(name: str, value: float) -> str:
    """An epoch value as a person reads it: 4 significant digits; seconds to 0.1 s, rates and counts whole.

    Plain decimals from 0.001 to 99,999 (``123.4``, ``0.01235``, ``12345``), scientific notation
    beyond (``1.235e-05``).
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if name == "seconds":
        return f"{value:.1f}"
    if name in ("examples_per_second", "skipped_steps") or (value.is_integer() and abs(value) < 1e5):
        return f"{value:.0f}"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        exponent = math.floor(math.log10(abs(value))) if value else 0
        return f"{value:.{max(0, 3 - exponent)}f}"
    return f"{value:.3e}"


def _shown(logs: dict[str, float]) -> list[tuple[str, float]]:
    return [(key, value) for key, value in logs.items() if key not in _NOT_SHOWN]


class Progress(Callback):
    """A rich progress bar over epochs and steps with the current loss, and one line per epoch (a terminal)."""

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
        fields = {"loss": f"loss {format_number('loss', loss)}"} if loss is not None else {}
        self.bar.update(self.step_task, advance=1, **fields)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.bar.update(self.epoch_task, advance=1)
        shown = [f"{_TITLES.get(k, k)} {format_number(k, v)}" for k, v in _shown(logs)]
        self.console.print(f"epoch {epoch}/{self.epochs}: " + ", ".join(shown), highlight=False)

    def on_train_end(self, history: list[dict[str, float]]) -> None:
        self.bar.stop()


class EpochLines(Callback):
    """One line per epoch in fixed columns under a header line, for logs that are not a terminal.

    Each column is as wide as its title or its widest plausible value (10 characters), values
    right-aligned; lines are written whole to ``stream`` (standard output by default) and never
    wrapped, so a log file reads as a table and ``grep``/``awk`` can pick columns.
    """

    def __init__(self, epochs: int, stream: TextIO | None = None):
        self.epochs, self.stream = epochs, stream
        self.columns: list[str] | None = None

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(line.rstrip() + "\n")
        stream.flush()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        epoch_width = max(2 * len(str(self.epochs)) + 1, len("epoch"))
        if self.columns is None:
            self.columns = [key for key, _ in _shown(logs)]
            titles = [_TITLES.get(key, key) for key in self.columns]
            self.widths = [max(len(title), 10) for title in titles]
            self._write("  ".join(["epoch".rjust(epoch_width), *(t.rjust(w) for t, w in zip(titles, self.widths,
                                                                                               strict=True))]))
        values = [format_number(key, logs[key]) if key in logs else "-" for key in self.columns]
        self._write("  ".join([f"{epoch}/{self.epochs}".rjust(epoch_width),
                               *(v.rjust(w) for v, w in zip(values, self.widths, strict=True))]))


class JsonLines(Callback):
    """One JSON object per epoch (``{"event": "epoch", "epoch": 3, "epochs": 10, "loss": ...}``) for
    programs reading the log; values at full precision, NaN and infinities as null."""

    def __init__(self, epochs: int, stream: TextIO | None = None):
        self.epochs, self.stream = epochs, stream

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        write_json_line({"event": "epoch", "epoch": epoch, "epochs": self.epochs, **dict(_shown(logs))}, self.stream)


def write_json_line(record: dict[str, Any], stream: TextIO | None = None) -> None:
    """``record`` as one line of strict JSON (non-finite numbers become null), flushed."""
    plain = {key: None if isinstance(value, float) and not math.isfinite(value) else value
             for key, value in record.items()}
    stream = stream or sys.stdout
    stream.write(json.dumps(plain, allow_nan=False) + "\n")
    stream.flush()


def epoch_reporter(log_format: LogFormat, epochs: int, steps_per_epoch: int) -> Callback:
    """The callback that reports epochs in ``log_format`` (``auto``: rich on a terminal, else plain lines)."""
    if log_format not in LOG_FORMATS:
        raise GenkitError(f"unknown log format '{log_format}'; the formats are: {', '.join(LOG_FORMATS)}")
    if log_format == "auto":
        log_format = "rich" if sys.stdout.isatty() else "plain"
    if log_format == "rich":
        return Progress(epochs, steps_per_epoch)
    return EpochLines(epochs) if log_format == "plain" else JsonLines(epochs)


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
