"""Importance-weighted objectives: IWAE, MIWAE, CIWAE and PIWAE (Burda et al. 2016; Rainforth et al.
2018), optionally with doubly reparameterized encoder gradients (DReG, Tucker et al. 2018).

With ``K`` = ``samples`` codes per example in each of ``M`` = ``groups`` groups, and log weights
``log w = log p(x|z) + log p(z) - log q(z|x)``:

    IWAE_K       = E[log (1/K) sum_k w_k]                      (groups: 1)
    MIWAE_{M,K}  = (1/M) sum_m IWAE_K of group m
    CIWAE_beta   = beta * ELBO + (1 - beta) * IWAE_K            (elbo_weight: beta)
    PIWAE        = the decoder trained on IWAE_{M*K}, the encoder on MIWAE_{M,K}, in phases of their own

Rainforth et al. show that tighter bounds give the decoder better gradients but the encoder a worse
signal-to-noise ratio; PIWAE and DReG are their two answers for the encoder.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import tensorflow as tf

from genkit import Batch, ModelSurface, Objective, OptimizerSpec, Phase, split_seed


def importance_bound(log_weights: tf.Tensor, groups: int) -> tf.Tensor:
    """Per-example MIWAE bound from log weights ``[groups * K, batch]`` (IWAE for one group)."""
    grouped = tf.reshape(log_weights, [groups, -1, tf.shape(log_weights)[-1]])
    per_group = tf.reduce_logsumexp(grouped, axis=1) - tf.math.log(tf.cast(tf.shape(grouped)[1], grouped.dtype))
    return tf.reduce_mean(per_group, axis=0)


class ImportanceWeighted(Objective):
    """Trains on an importance-weighted bound instead of the one-sample ELBO.

    ``samples`` codes per example in each of ``groups`` groups (``model.per_example_terms`` with
    ``samples``); the main phase maximises the MIWAE bound (IWAE for one group), mixed with the
    ELBO by ``elbo_weight`` (CIWAE). ``encoder: piwae`` trains only the decoder side in the main phase
    (on IWAE over all ``samples * groups`` codes) and the encoder in a phase of its own on the
    MIWAE bound; ``encoder: dreg`` does the same with the doubly reparameterized IWAE gradient for the
    encoder (lower variance, same expectation). Reports ``bound`` (the bound trained on, nats per
    example) and ``elbo``. Needs a stochastic posterior and a prior with a density; the model's
    divergence term is not used.

    Args:
        samples: importance samples K per group.
        groups: number of groups M (MIWAE); 1 is IWAE.
        elbo_weight: beta of CIWAE, the ELBO's share of the objective (0: pure importance-weighted).
        encoder: what trains the encoder: same (the main phase's bound), piwae (MIWAE in its own
            phase) or dreg (the doubly reparameterized IWAE gradient in its own phase).
        encoder_optimizer: optimizer of the encoder's phase (default: the spec's train.optimizer).
    """

    def __init__(
        self,
        samples: int = 5,
        groups: int = 1,
        elbo_weight: float = 0.0,
        encoder: Literal["same", "piwae", "dreg"] = "same",
        encoder_optimizer: OptimizerSpec | None = None,
    ):
        super().__init__()
        if samples < 1 or groups < 1:
            raise ValueError(f"samples and groups must be >= 1, got {samples} and {groups}")
        if not 0.0 <= elbo_weight <= 1.0:
            raise ValueError(f"elbo_weight must be in [0, 1], got {elbo_weight}")
        self.samples, self.groups, self.elbo_weight, self.encoder = samples, groups, elbo_weight, encoder
        self.encoder_optimizer = None if encoder_optimizer is None else OptimizerSpec.model_validate(
            encoder_optimizer).model_dump()

    def _log_weights(self, model: ModelSurface, batch: Batch, seed: tf.Tensor,
                     training: bool) -> tuple[Batch, tf.Tensor | None, tf.Tensor]:
        data_seed, terms_seed = split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)
        condition = model.condition_of(batch.get("y"))
        terms = model.per_example_terms(batch, condition, terms_seed, training, samples=self.samples * self.groups)
        return batch, condition, terms.log_weights()

    def loss_terms(self, model: ModelSurface, batch: Batch, seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        _, _, log_weights = self._log_weights(model, batch, seed, training)
        # PIWAE and DReG: the main phase trains the decoder on IWAE over every code
        groups = self.groups if self.encoder == "same" else 1
        bound = importance_bound(log_weights, groups)
        elbo = tf.reduce_mean(log_weights, axis=0)
        objective = self.elbo_weight * elbo + (1.0 - self.elbo_weight) * bound
        return {"loss": -tf.reduce_mean(objective), "bound": tf.reduce_mean(bound), "elbo": tf.reduce_mean(elbo)}

    def main_phase_variables(self, model: ModelSurface) -> list[Any] | None:
        if self.encoder == "same":
            return None
        prior = [] if model.prior is None else model.prior.trainable_variables
        return [*model.decoder_variables(), *prior]

    def phases(self, model: ModelSurface) -> list[Phase]:
        if self.encoder == "same":
            return []

        def encoder_loss(batch: Batch, seed: tf.Tensor) -> dict[str, tf.Tensor]:
            if self.encoder == "piwae":
                _, _, log_weights = self._log_weights(model, batch, seed, True)
                bound = importance_bound(log_weights, self.groups)
                return {"loss": -tf.reduce_mean(bound), "bound": tf.reduce_mean(bound)}
            return self._dreg_surrogate(model, batch, seed)

        return [Phase("encoder", encoder_loss, model.encoder_variables, self.encoder_optimizer)]

    def _dreg_surrogate(self, model: ModelSurface, batch: Batch, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        """A loss whose encoder gradient is the doubly reparameterized IWAE gradient:
        ``sum_k w~_k^2 d/dphi log w_k``, with q's parameters held fixed inside log q (the path through
        z alone), w~ the normalised weights (Tucker et al. 2018, eq. 5)."""
        data_seed, z_seed = split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)
        x, condition = batch["x"], model.condition_of(batch.get("y"))
        params = tf.cast(model.encoder(batch.get("x_input", x), condition=condition, training=True), tf.float32)
        z = model.posterior.distribution(params).sample(self.samples, seed=z_seed)
        frozen = model.posterior.distribution(tf.stop_gradient(params))
        prior = model.prior_distribution(condition)
        log_weights = -model.reconstruction_of(x, z, condition, True) + prior.log_prob(z) - frozen.log_prob(z)
        normalised = tf.stop_gradient(tf.nn.softmax(log_weights, axis=0))
        bound = tf.reduce_logsumexp(log_weights, axis=0) - math.log(self.samples)
        return {"loss": -tf.reduce_mean(tf.reduce_sum(normalised**2 * log_weights, axis=0)),
                "bound": tf.reduce_mean(bound)}
