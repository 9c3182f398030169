"""Conditional priors p(z|y): the prior's distribution takes the condition vectors."""

from __future__ import annotations

import keras
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit import Prior

#: softplus(RAW_UNIT_SCALE) = 1, so every class starts at the standard normal.
RAW_UNIT_SCALE = 0.5413248546129181


class ConditionalGaussian(Prior):
    """Conditional prior p(z|y) = N(mu(y), diag(sigma(y)^2)) with learned linear maps of the condition.

    For one-hot labels this is a learned mean and scale per class (a CVAE with a class-dependent
    prior); any condition vector works. Needs ``conditional: true``.

    Args:
        min_scale: floor on each standard deviation.
    """

    conditional = True

    def __init__(self, latent_dim: int, condition_dim: int = 0, min_scale: float = 1e-3):
        super().__init__(latent_dim)
        if condition_dim < 1:
            raise ValueError("the conditional prior needs a conditional model (conditional: true)")
        self.min_scale = min_scale
        self.loc_kernel = self.add_weight(shape=(condition_dim, latent_dim), initializer="zeros", name="loc")
        self.scale_kernel = self.add_weight(
            shape=(condition_dim, latent_dim), initializer=keras.initializers.Constant(RAW_UNIT_SCALE),
            name="raw_scale",
        )

    def distribution(self, condition):
        condition = tf.cast(condition, tf.float32)
        loc = tf.matmul(condition, self.loc_kernel)
        scale = tf.nn.softplus(tf.matmul(condition, self.scale_kernel)) + self.min_scale
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)
