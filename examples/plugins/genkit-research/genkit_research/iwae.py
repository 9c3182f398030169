"""The importance-weighted autoencoder bound (Burda, Grosse and Salakhutdinov 2016)."""

from __future__ import annotations

import math

import tensorflow as tf

import genkit


class IWAE(genkit.Objective):
    """Trains on the k-sample importance-weighted bound instead of the ELBO.

    ``log p(x) >= E[log (1/k) sum_i p(x, z_i) / q(z_i|x)]``, z_1..z_k ~ q(z|x): tighter than the
    ELBO (k = 1) as k grows. Needs a stochastic posterior and a prior with a density; the model's
    divergence is not used (use ``divergence: kl``, whose value is reported only).

    Args:
        samples: k, the importance samples per example.
    """

    def __init__(self, samples: int = 5):
        super().__init__()
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.samples = samples

    def loss_terms(self, model: genkit.ModelSurface, batch: genkit.Batch, seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        data_seed, terms_seed = genkit.split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)
        condition = model.condition_of(batch.get("y"))
        terms = model.per_example_terms(batch, condition, terms_seed, training, samples=self.samples)
        bound = tf.reduce_logsumexp(terms.log_weights(), axis=0) - math.log(self.samples)
        return {
            "loss": -tf.reduce_mean(bound),
            "iwae_bound": tf.reduce_mean(bound),
            "reconstruction": tf.reduce_mean(terms.reconstruction),
            "divergence": tf.reduce_mean(terms.divergence),
        }
