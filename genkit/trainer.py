"""The trainer: one compiled ``tf.function`` step that runs every phase in order, per batch.

Phases come from the model (main phase) and its divergence (e.g. discriminator and generator
phases), each with its own optimizer, so a new adversarial regulariser needs no trainer change.
Batches are drawn in a seeded order per epoch; the step traces once (fixed input signature).

NaN guard: inside the compiled step each phase's update is applied only when its loss terms and
gradients are finite (``tf.cond``), so a bad batch never reaches the weights or the optimizer
state. The host looks at the step's flags only where it reads values anyway (the progress loss,
the epoch means): ``on_nan: stop`` raises :class:`NumericalFault` naming the epoch, step and term
(nothing is updated after the bad step), ``on_nan: skip`` goes on and counts ``skipped_steps``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from genkit.callbacks import Callback
from genkit.components import ArrayData
from genkit.errors import NumericalFault
from genkit.model import GenerativeAutoencoder, split_seed
from genkit.optimizers import make_optimizer, optimizer_config
from genkit.spec import Spec

#: How often (in steps) the current loss is read back for the progress bar.
LOSS_DISPLAY_EVERY = 10


def batches(arrays: ArrayData, batch_size: int, order: np.ndarray | None = None) -> tf.data.Dataset:
    """``{"x": ...}`` batches (plus ``"y"`` when labels exist), in ``order`` if given."""
    index = np.arange(len(arrays)) if order is None else order
    tensors = {"x": arrays.x[index]}
    if arrays.y is not None:
        tensors["y"] = arrays.y[index]
    return tf.data.Dataset.from_tensor_slices(tensors).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled example order of one epoch, a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, 1000 + epoch]).permutation(n)


def _weighted_means(outputs: list[dict[str, Any]], sizes: list[int]) -> dict[str, float]:
    """Size-weighted means of the public (not ``_``-prefixed) outputs over the steps not skipped."""
    keys = [k for k in outputs[0] if not k.startswith("_")]
    kept = [(o, n) for o, n in zip(outputs, sizes, strict=True) if not bool(o.get("_skipped", False))]
    if not kept:
        return {k: float("nan") for k in keys}
    weights = np.asarray([n for _, n in kept], np.float64) / float(sum(n for _, n in kept))
    return {k: float(np.dot(weights, [float(o[k]) for o, _ in kept])) for k in keys}


def _all_finite(tensors: Sequence[Any]) -> tf.Tensor:
    """One boolean: every value of every tensor (or IndexedSlices) is finite."""
    flags = [tf.reduce_all(tf.math.is_finite(getattr(t, "values", t))) for t in tensors]
    return tf.reduce_all(tf.stack(flags)) if flags else tf.constant(True)


@dataclass
class EpochProgress:
    """The batches of one epoch trained so far, with each step's outputs (a mid-epoch checkpoint keeps it)."""

    epoch: int
    outputs: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


class Trainer:
    """Trains a model on arrays with the spec's ``train`` settings, calling callbacks."""

    def __init__(
        self,
        model: GenerativeAutoencoder,
        spec: Spec,
        train_data: ArrayData,
        validation_data: ArrayData | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        self.model, self.spec = model, spec
        self.train_data, self.validation_data = train_data, validation_data
        self.callbacks = list(callbacks)
        self.phases = model.phases()
        self.optimizers = [make_optimizer(optimizer_config(spec.train, phase.optimizer)) for phase in self.phases]
        for phase, optimizer in zip(self.phases, self.optimizers, strict=True):
            optimizer.build(phase.variables())  # now, not lazily in the step: a checkpoint restores into it
        self.halted = tf.Variable(False, trainable=False, name="halted")  # on_nan: stop saw a bad step
        self.term_keys: list[tuple[str, list[str]]] = []  # (phase, its output keys), recorded while tracing
        self.progress: EpochProgress | None = None
        self.history: list[dict[str, float]] = []
        #: Set by a callback (e.g. early stopping) to end training after the current epoch.
        self.stop_training = False
        self.trace_count = 0
        signature = {"x": tf.TensorSpec((None, *model.data_shape), tf.float32)}
        if train_data.y is not None:
            signature["y"] = tf.TensorSpec((None, *train_data.y.shape[1:]), tf.as_dtype(train_data.y.dtype))
        self.train_step = tf.function(self._train_step, input_signature=[signature])
        self.eval_step = tf.function(
            self._eval_step, input_signature=[signature, tf.TensorSpec((2,), tf.int32)]
        )

    def _train_step(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.trace_count += 1  # Python side effect: runs only while tracing
        seeds = split_seed(self.model.next_seed(), len(self.phases))
        results: dict[str, tf.Tensor] = {}
        skipped = tf.constant(False)
        self.term_keys = []
        for index, (phase, optimizer) in enumerate(zip(self.phases, self.optimizers, strict=True)):
            variables = phase.variables()
            with tf.GradientTape() as tape:
                terms = phase.loss(batch, seeds[index])
            gradients = tape.gradient(terms["loss"], variables)
            pairs = [(g, v) for g, v in zip(gradients, variables, strict=True) if g is not None]
            gradients_finite = _all_finite([g for g, _ in pairs])
            skipped |= self._apply_if_finite(optimizer, pairs, _all_finite(list(terms.values())) & gradients_finite)
            prefix = "" if index == 0 else f"{phase.name}_"
            results.update({prefix + key: value for key, value in terms.items()})
            results[f"_gradients_finite_{phase.name}"] = gradients_finite
            self.term_keys.append((phase.name, [prefix + key for key in terms]))
        self.model.step_counter.assign_add(1)
        results["_skipped"] = skipped
        results["_step"] = tf.convert_to_tensor(self.model.step_counter)
        return results

    def _apply_if_finite(self, optimizer: Any, pairs: list, finite: tf.Tensor) -> tf.Tensor:
        """Apply one phase's update only if ``finite`` (and, with ``on_nan: stop``, no step went bad yet).

        Returns whether the update was left out. Runs inside the compiled step: no host sync.
        """
        apply = finite & tf.logical_not(self.halted)

        def update() -> tf.Tensor:
            optimizer.apply_gradients(pairs)
            return tf.constant(True)

        tf.cond(apply, update, lambda: tf.constant(False))
        if self.spec.train.on_nan == "stop":
            self.halted.assign(self.halted | tf.logical_not(finite))
        return tf.logical_not(apply)

    def _check_finite(self, progress: EpochProgress, start: int) -> None:
        """With ``on_nan: stop``, raise :class:`NumericalFault` for the first bad step in ``outputs[start:]``."""
        if self.spec.train.on_nan != "stop":
            return
        for out in progress.outputs[start:]:
            if bool(out["_skipped"]):
                term, value = self._bad_term(out)
                step = int(out["_step"])
                raise NumericalFault(
                    f"training stopped at epoch {progress.epoch}, step {step}: {term} became {value} "
                    "(train.on_nan is 'stop'; the update of that step was not applied)",
                    progress.epoch, step, term,
                )

    def _bad_term(self, out: dict[str, Any]) -> tuple[str, str]:
        """Which term of a bad step went non-finite first (a phase's parts before its total), and how."""
        for phase_name, keys in self.term_keys:
            for key in sorted(keys, key=lambda k: k.endswith("loss")):
                if not math.isfinite(float(out[key])):
                    return f"the '{key}' term", str(float(out[key]))
            if not bool(out[f"_gradients_finite_{phase_name}"]):
                return f"the gradient of the '{phase_name}' phase's loss", "NaN or infinite"
        return "a loss term", "NaN or infinite"

    def _eval_step(self, batch: dict[str, tf.Tensor], seed: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.model.loss_terms(batch, seed, training=False)

    def evaluate(self, arrays: ArrayData) -> dict[str, float]:
        """Loss terms over ``arrays`` with fixed seeds (the same numbers every call)."""
        outputs, sizes = [], []
        for index, batch in enumerate(batches(arrays, self.spec.train.batch_size)):
            outputs.append(self.eval_step(batch, tf.constant([self.spec.train.seed + 1, index], tf.int32)))
            sizes.append(int(batch["x"].shape[0]))
        return _weighted_means(outputs, sizes)

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def fit(self, start_epoch: int = 1, progress: EpochProgress | None = None) -> list[dict[str, float]]:
        """Train from ``start_epoch`` to ``train.epochs``; return per-epoch metrics (``self.history``).
        A callback may end training early by setting ``stop_training``.

        ``progress`` continues an epoch part-way (resuming a mid-epoch checkpoint): its batches are
        not trained again and its outputs count in that epoch's means. ``on_train_end`` is called
        however training ends (also on a NaN stop or an interrupt).
        """
        self.stop_training = False
        self._call("on_train_begin", self)
        try:
            for epoch in range(start_epoch, self.spec.train.epochs + 1):
                resumed = progress is not None and progress.epoch == epoch
                self._fit_epoch(progress if resumed else EpochProgress(epoch))
                if self.stop_training:  # set by a callback, e.g. early stopping
                    break
        finally:
            self._call("on_train_end", self.history)
        return self.history

    def _fit_epoch(self, progress: EpochProgress) -> None:
        train, epoch = self.spec.train, progress.epoch
        self.progress = progress
        self._call("on_epoch_begin", epoch)
        started = time.perf_counter()
        checked = 0  # outputs restored from a mid-epoch checkpoint are checked too
        order = epoch_order(len(self.train_data), train.seed, epoch)[sum(progress.sizes) :]
        first = len(progress.sizes) + 1
        for step, batch in enumerate(batches(self.train_data, train.batch_size, order), start=first):
            out = self.train_step(batch)
            progress.outputs.append(out)
            progress.sizes.append(int(batch["x"].shape[0]))
            shown = float(out["loss"]) if step % LOSS_DISPLAY_EVERY == 1 else None
            if shown is not None:  # the loss is read back here anyway: check the steps since the last look
                self._check_finite(progress, checked)
                checked = len(progress.outputs)
            self._call("on_step_end", step, shown)
        self._check_finite(progress, checked)
        outputs, sizes = progress.outputs, progress.sizes
        logs = {"epoch": epoch, "step": int(self.model.step_counter.numpy()), **_weighted_means(outputs, sizes)}
        if train.on_nan == "skip":
            logs["skipped_steps"] = sum(bool(o["_skipped"]) for o in outputs)
        seconds = time.perf_counter() - started
        if self.validation_data is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(self.validation_data).items()})
        logs["seconds"] = seconds
        logs["examples_per_second"] = sum(sizes[first - 1 :]) / seconds  # the examples trained in this call
        self.history.append(logs)
        self._call("on_epoch_end", epoch, logs)
