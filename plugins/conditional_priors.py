"""Conditional priors p(z|y): the prior's distribution takes the condition vectors (a linear map, or a network)."""

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


class ConditionalNetworkPrior(Prior):
    """Conditional prior network p(z|y) = N(mu(y), diag(sigma(y)^2)), an MLP of the condition.

    Sohn et al. (2015)'s prior network for structured output prediction: when the condition is an
    input in its own right (the given quadrants of an image, ``[N, H, W]`` flattened), the prior
    must read it the way an encoder reads data; a linear map per class (``conditional_gaussian``)
    cannot. Both heads' kernels start at zero and the scale head's bias at softplus^-1(1), so every
    condition starts at the standard normal and the network learns how the condition moves it.
    Needs ``conditional: true``.

    Args:
        hidden: widths of the hidden layers, first to last ([] gives an affine map of the condition).
        activation: any Keras activation name.
        min_scale: floor on each standard deviation.
    """

    conditional = True

    def __init__(
        self,
        latent_dim: int,
        condition_dim: int = 0,
        hidden: list[int] = [500, 500],  # noqa: B006 - read-only default, shown in the spec reference
        activation: str = "relu",
        min_scale: float = 1e-3,
    ):
        super().__init__(latent_dim)
        if condition_dim < 1:
            raise ValueError("the conditional prior needs a conditional model (conditional: true)")
        if any(width <= 0 for width in hidden):
            raise ValueError(f"hidden must hold positive widths, got {hidden}")
        if min_scale <= 0:
            raise ValueError(f"min_scale must be positive, got {min_scale}")
        self.condition_dim = int(condition_dim)
        self.min_scale = min_scale
        self.hidden_layers = [keras.layers.Dense(width, activation=activation) for width in hidden]
        self.loc_head = keras.layers.Dense(latent_dim, kernel_initializer="zeros")
        self.scale_head = keras.layers.Dense(latent_dim, kernel_initializer="zeros",
                                             bias_initializer=keras.initializers.Constant(RAW_UNIT_SCALE))

    def distribution(self, condition):
        h = tf.reshape(tf.cast(condition, tf.float32), [-1, self.condition_dim])
        for layer in self.hidden_layers:
            h = layer(h)
        scale = tf.nn.softplus(self.scale_head(h)) + self.min_scale
        return tfd.Independent(tfd.Normal(self.loc_head(h), scale), reinterpreted_batch_ndims=1)
