"""The trainer: one compiled ``tf.function`` step that runs every phase in order, per batch.

Phases come from the model (main phase) and its divergence (e.g. discriminator and generator
phases), each with its own optimizer, so a new adversarial regulariser needs no trainer change.
Batches are drawn in a seeded order per epoch; the step traces once (fixed input signature).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from genkit.callbacks import Callback
from genkit.components import ArrayData
from genkit.model import GenerativeAutoencoder, split_seed
from genkit.optimizers import make_optimizer
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


def _weighted_means(outputs: list[dict[str, tf.Tensor]], sizes: list[int]) -> dict[str, float]:
    weights = np.asarray(sizes, np.float64) / float(sum(sizes))
    return {k: float(np.dot(weights, [float(o[k]) for o in outputs])) for k in outputs[0]}


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
        default = spec.train.optimizer.model_dump()
        self.optimizers = [make_optimizer(phase.optimizer or default) for phase in self.phases]
        self.history: list[dict[str, float]] = []
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
        for index, (phase, optimizer) in enumerate(zip(self.phases, self.optimizers, strict=True)):
            variables = phase.variables()
            with tf.GradientTape() as tape:
                terms = phase.loss(batch, seeds[index])
            gradients = tape.gradient(terms["loss"], variables)
            optimizer.apply_gradients([(g, v) for g, v in zip(gradients, variables, strict=True) if g is not None])
            prefix = "" if index == 0 else f"{phase.name}_"
            results.update({prefix + key: value for key, value in terms.items()})
        self.model.step_counter.assign_add(1)
        return results

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

    def fit(self, start_epoch: int = 1) -> list[dict[str, float]]:
        """Train from ``start_epoch`` to ``train.epochs``; return per-epoch metrics."""
        train = self.spec.train
        self._call("on_train_begin", self)
        for epoch in range(start_epoch, train.epochs + 1):
            self._call("on_epoch_begin", epoch)
            started = time.perf_counter()
            outputs, sizes = [], []
            order = epoch_order(len(self.train_data), train.seed, epoch)
            for step, batch in enumerate(batches(self.train_data, train.batch_size, order), start=1):
                out = self.train_step(batch)
                outputs.append(out)
                sizes.append(int(batch["x"].shape[0]))
                shown = float(out["loss"]) if step % LOSS_DISPLAY_EVERY == 1 else None
                self._call("on_step_end", step, shown)
            logs = {"epoch": epoch, "step": int(self.model.step_counter.numpy()), **_weighted_means(outputs, sizes)}
            seconds = time.perf_counter() - started
            if self.validation_data is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(self.validation_data).items()})
            logs["seconds"] = seconds
            logs["examples_per_second"] = sum(sizes) / seconds
            self.history.append(logs)
            self._call("on_epoch_end", epoch, logs)
        self._call("on_train_end", self.history)
        return self.history
