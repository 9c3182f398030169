"""Encoder heads: turn the encoder's parameter vector into q(z|x)."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from genkit.components import Posterior

tfd = tfp.distributions


class DiagonalGaussian(Posterior):
    """Diagonal Gaussian q(z|x) = N(mu, diag(sigma^2)), sigma = softplus(raw) + min_scale.

    Args:
        min_scale: floor on each standard deviation, for numerical safety.
    """

    def __init__(self, latent_dim: int, min_scale: float = 1e-5):
        super().__init__(latent_dim)
        self.min_scale = min_scale

    @property
    def param_size(self) -> int:
        return 2 * self.latent_dim

    def distribution(self, params):
        loc, raw_scale = tf.split(params, 2, axis=-1)
        scale = tf.nn.softplus(raw_scale) + self.min_scale
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)


class Deterministic(Posterior):
    """Point-mass q(z|x) = delta(z - f(x)): the plain and adversarial autoencoders' encoder."""

    deterministic = True

    @property
    def param_size(self) -> int:
        return self.latent_dim

    def distribution(self, params):
        return tfd.Independent(tfd.Deterministic(params), reinterpreted_batch_ndims=1)
