"""The callback contract: hooks the trainer calls (logging, early stopping, experiment tracking)."""

from __future__ import annotations

from typing import Any, ClassVar


class Callback:
    """Hooks called by the trainer; override the ones you need.

    A callback may end training after the current epoch by setting ``trainer.stop_training``
    (the trainer is passed to :meth:`on_train_begin`; ``trainer.model`` is the model and
    ``trainer.settings`` the spec's ``train`` section). Built from a spec, a callback's
    ``__init__`` may ask for ``run_dir`` (the run directory, or None when training without one).
    """

    context_args: ClassVar[frozenset[str]] = frozenset({"run_dir"})

    def on_train_begin(self, trainer: Any) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Before an epoch (1-based)."""

    def on_step_end(self, step: int, loss: float | None) -> None:
        """After a training step; ``loss`` (the mean over the last compiled call's steps) is given at the
        end of each call of ``train.steps_per_execution`` steps, None inside one."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """After an epoch with its metrics (training means, validation, timing)."""

    def on_train_end(self, history: list[dict[str, float]]) -> None:
        """After the last epoch, or when training stops early (NaN stop, Ctrl-C, an error)."""
