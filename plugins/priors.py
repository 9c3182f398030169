"""Priors p(z)."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from genkit.components import Prior

tfd = tfp.distributions


class StandardNormal(Prior):
    """Isotropic standard normal N(0, I), the usual VAE prior."""

    def distribution(self):
        return tfd.Independent(tfd.Normal(tf.zeros(self.latent_dim), 1.0), reinterpreted_batch_ndims=1)
