"""Divergences between q(z|x) and p(z)."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from genkit.components import Divergence

tfd = tfp.distributions


class AnalyticKL(Divergence):
    """KL(q(z|x) || p(z)) in closed form through ``tfd.kl_divergence``, weighted by beta.

    beta = 1 gives the VAE's ELBO; beta > 1 the beta-VAE.

    Args:
        beta: weight of the KL term in the loss.
    """

    def __init__(self, latent_dim: int, beta: float = 1.0):
        super().__init__(latent_dim)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = beta

    def per_example(self, q, prior, z, seed):
        return tfd.kl_divergence(q, prior)

    def weight(self, step):
        return tf.constant(self.beta)


class NoDivergence(Divergence):
    """No regulariser: the plain (or denoising) autoencoder. Needs no prior."""

    requires_prior = False

    def per_example(self, q, prior, z, seed):
        return tf.zeros(tf.shape(z)[:1], dtype=z.dtype)
