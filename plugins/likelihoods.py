"""Decoder heads: p(x|z) over the data, event shape = the data shape."""

from __future__ import annotations

from typing import Literal

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkit.components import Likelihood, Shape

tfd = tfp.distributions


class Bernoulli(Likelihood):
    """Independent Bernoulli per value, for binary (or binarized) data in [0, 1].

    ``-log_prob`` is the binary cross-entropy summed over all values (in nats). Fractional targets
    in [0, 1] are allowed and give the same cross-entropy.
    """

    def distribution(self, params):
        return tfd.Independent(
            tfd.Bernoulli(logits=params, dtype=tf.float32), reinterpreted_batch_ndims=len(self.data_shape)
        )

    def check_data(self, x: np.ndarray) -> str | None:
        low, high = float(np.min(x)), float(np.max(x))
        if low < 0.0 or high > 1.0:
            return (
                f"the bernoulli likelihood needs values in [0, 1], but the data ranges over "
                f"[{low:g}, {high:g}]; rescale the data or use the gaussian likelihood"
            )
        return None


class Gaussian(Likelihood):
    """Independent Gaussian per value, for real-valued data.

    With ``variance: fixed``, ``-log_prob`` is ``sum((x - mu)^2) / (2 scale^2)`` plus a constant:
    a scaled squared error. ``global`` learns one variance, ``per_dimension`` one per data value
    (``scale`` is then the starting standard deviation).

    Args:
        scale: the fixed (or initial) standard deviation.
        variance: fixed, global or per_dimension.
    """

    def __init__(
        self,
        data_shape: Shape,
        scale: float = 1.0,
        variance: Literal["fixed", "global", "per_dimension"] = "fixed",
    ):
        super().__init__(data_shape)
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.variance = variance
        self.scale = scale
        raw = float(np.log(np.expm1(scale)))  # softplus inverse, so softplus(raw) = scale at start
        shape = {"fixed": None, "global": (), "per_dimension": self.data_shape}[variance]
        self.raw_scale = (
            None
            if shape is None
            else self.add_weight(shape=shape, initializer=lambda s, dtype=None: tf.fill(s, raw), name="raw_scale")
        )

    def distribution(self, params):
        scale = self.scale if self.raw_scale is None else tf.nn.softplus(self.raw_scale) + 1e-6
        return tfd.Independent(tfd.Normal(params, scale), reinterpreted_batch_ndims=len(self.data_shape))
