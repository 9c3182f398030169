"""Example order and batches: the seeded order of an epoch, and batches of arrays for evaluation."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from genkit.plugin.dataset import ArrayData

Tensors = dict[str, tf.Tensor]


def as_tensors(arrays: ArrayData) -> Tensors:
    """``{"x": ...}`` (plus ``"y"`` when labels exist) as tensors."""
    tensors = {"x": tf.convert_to_tensor(arrays.x)}
    if arrays.y is not None:
        tensors["y"] = tf.convert_to_tensor(arrays.y)
    return tensors


def batches(arrays: ArrayData, batch_size: int) -> tf.data.Dataset:
    """Batches of ``arrays`` in their order, prefetched (evaluation; training gathers its own)."""
    return tf.data.Dataset.from_tensor_slices(as_tensors(arrays)).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled example order of one epoch, a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, 1000 + epoch]).permutation(n)
