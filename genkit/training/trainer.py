"""The trainer: epochs of compiled calls over every phase, callbacks, validation and the NaN stop.

Phases come from the model (main phase) and its divergence or objective (e.g. discriminator and
generator phases), each with its own optimizer, so a new adversarial regulariser needs no trainer
change. The compiled calls are :mod:`genkit.training.compiled`'s, one step of every phase is
:mod:`genkit.assembly.learning`'s; distribution lives in :mod:`genkit.training.strategy`, mixed
precision in :mod:`genkit.assembly.precision`.

NaN guard: each phase's update is applied only when its loss terms and gradients are finite on
every replica, so a bad batch never reaches the weights or the optimizer state. ``on_nan: stop``
raises :class:`NumericalFault` naming the epoch, step and term (nothing is updated after the bad
step); ``on_nan: skip`` goes on and counts ``skipped_steps``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from genkit.assembly.core import AutoencoderCore
from genkit.assembly.precision import warn_if_cpu_bfloat16
from genkit.assembly.streaming import StreamedSplit
from genkit.errors import NumericalFault
from genkit.plugin.callback import Callback
from genkit.plugin.dataset import ArrayData
from genkit.spec.schema import TrainSpec
from genkit.training.batching import batches, epoch_order
from genkit.training.compiled import CompiledSteps
from genkit.training.epoch_inputs import EpochInputs
from genkit.training.jit_choice import JitChoice, choose
from genkit.training.optimizers import phase_optimizers
from genkit.training.progress import EpochProgress


def _weighted_means(outputs: list[dict[str, Any]], sizes: list[int]) -> dict[str, float]:
    """Size-weighted means of the public (not ``_``-prefixed) outputs of several batches."""
    keys = [k for k in outputs[0] if not k.startswith("_")]
    weights = np.asarray(sizes, np.float64) / float(sum(sizes))
    return {k: float(np.dot(weights, [float(o[k]) for o in outputs])) for k in keys}


class Trainer:
    """Trains a model on arrays with the spec's ``train`` settings, calling callbacks.

    Under a distribution strategy, build the model and create the trainer inside
    ``strategy.scope()`` (``genkit.train`` does); the trainer uses the strategy whose scope it is
    created in.
    """

    def __init__(
        self,
        model: AutoencoderCore,
        settings: TrainSpec,
        train_data: ArrayData | StreamedSplit,
        validation_data: ArrayData | StreamedSplit | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        self.model, self.settings = model, settings
        warn_if_cpu_bfloat16(settings.mixed_precision)  # correct there, but slower without bfloat16 units
        self.train_data, self.validation_data = train_data, validation_data
        self.callbacks = list(callbacks)
        self.phases = model.phases()
        self.optimizers = phase_optimizers(settings, self.phases)
        self.compiled = CompiledSteps(model, settings, train_data, self.phases, self.optimizers)
        #: How ``jit_compile`` was decided (:meth:`choose_jit`); None until then.
        self.jit_choice: JitChoice | None = None
        self.progress: EpochProgress | None = None
        self.history: list[dict[str, float]] = []
        #: Set by a callback (e.g. early stopping) to end training after the current epoch.
        self.stop_training = False
        #: A streamed run's epoch inputs while :meth:`fit` runs.
        self._inputs: EpochInputs | None = None

    def choose_jit(self, recorded: JitChoice | None = None) -> JitChoice:
        """Decide XLA or graph execution for this run (``jit_compile: auto`` on a CPU measures both,
        :mod:`genkit.training.jit_choice`), or take a ``recorded`` decision (a resumed run keeps its own)."""
        if recorded is not None:
            self.compiled.use(self.compiled.compiled_for(recorded.jit_compile))
            self.jit_choice = recorded
        else:
            self.jit_choice = choose(self.compiled)
        return self.jit_choice

    def _check_finite(self, epoch: int, record: dict[str, Any]) -> None:
        """With ``on_nan: stop``, raise :class:`NumericalFault` for the first bad step of a record."""
        if self.settings.on_nan != "stop" or record["bad_step"] < 0:
            return
        term, value = self._bad_term(record["bad"])
        step = int(record["bad_step"])
        raise NumericalFault(
            f"training stopped at epoch {epoch}, step {step}: {term} became {value} "
            "(train.on_nan is 'stop'; the update of that step was not applied)",
            epoch, step, term,
        )

    def _bad_term(self, outputs: dict[str, Any]) -> tuple[str, str]:
        """Which term of a bad step went non-finite first (a phase's parts before its total), and how."""
        for phase_name, keys in self.compiled.term_keys:
            for key in sorted(keys, key=lambda k: k.endswith("loss")):
                if not math.isfinite(float(outputs[key])):
                    return f"the '{key}' term", str(float(outputs[key]))
            if not bool(outputs[f"_gradients_finite_{phase_name}"]):
                return f"the gradient of the '{phase_name}' phase's loss", "NaN or infinite"
        return "a loss term", "NaN or infinite"

    def evaluate(self, data: ArrayData | StreamedSplit) -> dict[str, float]:
        """The main phase's terms over ``data`` with fixed seeds (the same numbers every call)."""
        outputs, sizes = [], []
        batched = data.examples().batch(self.settings.batch_size) if isinstance(data, StreamedSplit) else batches(
            data, self.settings.batch_size)
        for index, batch in enumerate(batched):
            seed = tf.constant([self.settings.seed + 1, index], tf.int32)
            outputs.append(self.compiled.eval_step(batch, seed))
            sizes.append(int(batch["x"].shape[0]))
        return _weighted_means(outputs, sizes)

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def fit(self, start_epoch: int = 1, progress: EpochProgress | None = None) -> list[dict[str, float]]:
        """Train from ``start_epoch`` to ``train.epochs``; return per-epoch metrics (``self.history``).
        A callback may end training early by setting ``stop_training``.

        ``progress`` continues an epoch part-way (resuming a mid-epoch checkpoint): its batches are
        not trained again and its sums count in that epoch's means. ``on_train_end`` is called
        however training ends (also on a NaN stop or an interrupt).
        """
        self.stop_training = False
        if self.jit_choice is None:
            self.choose_jit()
        self._call("on_train_begin", self)
        if isinstance(self.train_data, StreamedSplit):
            self._inputs = EpochInputs(self.train_data, self.settings.batch_size, self.settings.epochs)
        try:
            for epoch in range(start_epoch, self.settings.epochs + 1):
                resumed = progress if progress is not None and progress.epoch == epoch else None
                self._fit_epoch(resumed or EpochProgress(epoch))
                if self.stop_training:  # set by a callback, e.g. early stopping
                    break
        finally:
            if self._inputs is not None:
                self._inputs.close()
                self._inputs = None
            self._call("on_train_end", self.history)
        return self.history

    def _fit_epoch(self, progress: EpochProgress) -> None:
        settings, epoch, compiled = self.settings, progress.epoch, self.compiled
        self.progress = progress
        self._call("on_epoch_begin", epoch)
        started, examples_before = time.perf_counter(), progress.examples
        if isinstance(self.train_data, StreamedSplit):  # resuming mid-epoch skips the batches already trained
            assert self._inputs is not None, "fit() makes a streamed run's epoch inputs"
            order = self._inputs.iterator(epoch, progress.steps)
            total = self.train_data.steps_per_epoch(epoch, settings.batch_size)
        else:
            order = tf.constant(epoch_order(len(self.train_data), settings.seed, epoch), tf.int32)
            total = -(-len(self.train_data) // settings.batch_size)
        while progress.steps < total:
            steps, batch_size = compiled.next_call(progress.steps, total)
            called = time.perf_counter()
            record = compiled.run(order, progress.steps, steps, batch_size)
            compiled.grow_chunk(time.perf_counter() - called, steps)
            first = progress.steps + 1
            progress.add(record, steps)
            self._check_finite(epoch, record)
            applied = record["applied"]
            shown = record["sums"]["loss"] / applied if applied else None
            for step in range(first, first + steps):
                self._call("on_step_end", step, shown if step == first + steps - 1 else None)
        logs = {"epoch": epoch, "step": int(self.model.step_counter.numpy()), **progress.means()}
        if settings.on_nan == "skip":
            logs["skipped_steps"] = progress.skipped_steps
        seconds = time.perf_counter() - started
        if self.validation_data is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(self.validation_data).items()})
        logs["seconds"] = seconds
        logs["examples_per_second"] = (progress.examples - examples_before) / seconds  # trained in this call
        self.history.append(logs)
        self._call("on_epoch_end", epoch, logs)
