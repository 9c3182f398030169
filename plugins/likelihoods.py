"""Decoder heads: p(x|z) over the data, event shape = the data shape.

Each likelihood says which data it fits (``check_data`` turns that into a sentence before a run
starts) and what ``-log_prob`` reduces to, so the loss scale is never a guess. All losses are
sums over every value of an example, in nats.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit import Likelihood, Shape

#: The 256 values 8-bit data takes once genkit scales it to [0, 1].
LEVELS = 256


def _range_problem(x: np.ndarray, name: str, hint: str) -> str | None:
    """A sentence if ``x`` leaves [0, 1], else None (8-bit levels stored as numbers are named as such)."""
    low, high = float(np.min(x)), float(np.max(x))
    if low < 0.0 or high > 1.0:
        if low >= 0.0 and high <= LEVELS - 1 and np.all(x == np.round(x)):
            hint = ("the values are whole numbers up to 255, 8-bit levels stored as numbers: store them as uint8 "
                    "(genkit scales uint8 data to [0, 1]) or divide them by 255")
        return f"the {name} likelihood needs values in [0, 1], but the data ranges over [{low:g}, {high:g}]; {hint}"
    return None


class Bernoulli(Likelihood):
    """Independent Bernoulli per value, for binary (or binarized) data in [0, 1].

    ``-log_prob`` is the binary cross-entropy ``-sum(x log p + (1 - x) log(1 - p))``, p =
    sigmoid(logits), summed over all values (in nats). Fractional targets in [0, 1] are allowed
    and give the same cross-entropy, but it is then not a normalized density over gray levels:
    see ``continuous_bernoulli``.
    """

    def distribution(self, params):
        return tfd.Independent(
            tfd.Bernoulli(logits=params, dtype=tf.float32), reinterpreted_batch_ndims=len(self.data_shape)
        )

    def check_data(self, x: np.ndarray) -> str | None:
        return _range_problem(x, "bernoulli", "rescale the data or use the gaussian likelihood")


class Gaussian(Likelihood):
    """Independent Gaussian per value, for real-valued data.

    With ``variance: fixed``, ``-log_prob`` is ``sum((x - mu)^2) / (2 scale^2)`` plus the constant
    ``D log(scale sqrt(2 pi))`` (D values per example): a scaled squared error. ``global`` learns
    one variance, ``per_dimension`` one per data value (``scale`` is then the starting standard
    deviation, kept above 1e-6); the loss then also pays ``log scale`` per value.

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

    def check_data(self, x: np.ndarray) -> str | None:
        if not np.all(np.isfinite(x)):
            return "the gaussian likelihood needs finite values, but the data holds NaN or infinity"
        return None


class ContinuousBernoulli(Likelihood):
    """Continuous Bernoulli per value (Loaiza-Ganem and Cunningham, 2019), for gray levels in [0, 1].

    The properly normalized density on [0, 1] that the Bernoulli likelihood only imitates on
    non-binary data: ``p(x) = C(lam) lam^x (1 - lam)^(1 - x)``, lam = sigmoid(logits). So
    ``-log_prob`` is the binary cross-entropy minus ``sum(log C(lam))``, with
    ``C(lam) = 2 atanh(1 - 2 lam) / (1 - 2 lam)`` (and C(1/2) = 2). Its mean is not lam: samples
    and reconstructions use the true mean ``lam / (2 lam - 1) + 1 / (2 atanh(1 - 2 lam))``.
    """

    def distribution(self, params):
        return tfd.Independent(tfd.ContinuousBernoulli(logits=params), reinterpreted_batch_ndims=len(self.data_shape))

    def check_data(self, x: np.ndarray) -> str | None:
        return _range_problem(x, "continuous_bernoulli", "rescale the data or use the gaussian likelihood")


class Categorical8Bit(Likelihood):
    """A 256-way categorical per value, for 8-bit data (uint8 images genkit scaled to [0, 1]).

    The decoder produces 256 logits per value (``param_shape = data_shape + (256,)``); value
    ``k / 255`` has probability ``softmax(logits)[k]``. ``-log_prob`` is the softmax
    cross-entropy of the true level, summed over values: divide by ``D ln 2`` for bits per
    dimension. Values within a quarter level of ``k / 255`` count as level k (float round-off);
    data off the 8-bit grid is refused by ``check_data`` rather than silently rounded.
    """

    @property
    def param_shape(self) -> Shape:
        return (*self.data_shape, LEVELS)

    def distribution(self, params):
        levels = tf.range(LEVELS, dtype=params.dtype) / (LEVELS - 1)
        values = tfd.FiniteDiscrete(levels, logits=params, atol=0.25 / (LEVELS - 1))
        return tfd.Independent(values, reinterpreted_batch_ndims=len(self.data_shape))

    def check_data(self, x: np.ndarray) -> str | None:
        problem = _range_problem(x, "categorical_8bit", "8-bit data is scaled to [0, 1] by genkit when stored as uint8")
        if problem:
            return problem
        off_grid = np.abs(x * (LEVELS - 1) - np.round(x * (LEVELS - 1))) > 0.25
        if np.any(off_grid):
            return (
                f"the categorical_8bit likelihood needs 8-bit values (multiples of 1/255), but "
                f"{np.mean(off_grid):.1%} of the data lies between levels; store it as uint8, or use "
                "continuous_bernoulli or gaussian"
            )
        return None
