"""Hamiltonian VAE (Caterini, Doucet and Sejdinovic 2018): the encoder's sample moved by leapfrog
steps on ``log p(x, z)``, with tempering.

The encoder gives ``z_0 ~ q_0(z|x)`` (any posterior that samples by reparameterization and has a
log-density); a momentum ``rho_0 = gamma / sqrt(beta_0)``, ``gamma ~ N(0, I)``, starts "hot". Each
of ``steps`` leapfrog steps moves ``(z, rho)`` along the Hamiltonian ``U(z) + |rho|^2 / 2`` with
``U(z) = -log p(x|z) - log p(z)`` (the decoder's gradient in z, so q depends on x and on the
decoder) and cools the momentum, ``rho <- sqrt(beta_{k-1} / beta_k) rho``, on the quadratic schedule
``1 / sqrt(beta_k) = (1 - 1 / sqrt(beta_0)) k^2 / K^2 + 1 / sqrt(beta_0)`` (``beta_K = 1``). The
leapfrog map preserves volume and the cooling scales it by ``beta_0^(d/2)``, so each draw's
importance weight on the extended space ``(z, rho)`` is

    log w = log p(x|z_K) + log p(z_K) - |rho_K|^2 / 2 + |gamma|^2 / 2 - log q_0(z_0|x),

whose expectation is p(x): its mean is the ELBO the model trains on, and its log-mean-exp over k
draws the importance-weighted estimate of log p(x) that ``genkit evaluate`` reports
(:meth:`Hamiltonian.variational_terms`). The step sizes (one per latent dimension) and beta_0 are
learned with the networks by default.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from genkit import Batch, GenkitError, ModelSurface, Objective, Phase, split_seed


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class Hamiltonian(Objective):
    """The Hamiltonian VAE's bound as the main loss, and as the model's importance weights.

    Reports ``bound`` (the mean log weight, nats per example), ``reconstruction`` (-log p(x|z_K)),
    ``step_size`` (the mean leapfrog step) and ``tempering`` (beta_0). Needs a stochastic posterior
    and a prior with a density; the model's divergence term is not used.

    Args:
        steps: number of leapfrog steps K (each costs two decoder passes and their gradients).
        step_size: initial leapfrog step, the same for every latent dimension.
        learn_step_size: whether the steps (one per dimension) are learned.
        tempering: initial beta_0 in (0, 1]: the momentum starts at temperature 1 / beta_0 (1: no
            tempering).
        learn_tempering: whether beta_0 is learned (needs tempering < 1).
    """

    def __init__(self, latent_dim: int, steps: int = 5, step_size: float = 0.05, learn_step_size: bool = True,
                 tempering: float = 0.5, learn_tempering: bool = True):
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if step_size <= 0:
            raise ValueError(f"step_size must be > 0, got {step_size}")
        if not 0 < tempering <= 1:
            raise ValueError(f"tempering (beta_0) must be in (0, 1], got {tempering}")
        if learn_tempering and tempering == 1:
            raise ValueError("learn_tempering needs tempering < 1 (beta_0 = 1 is no tempering, which is not learned)")
        self.steps = steps
        self.raw_step = self.add_weight(
            shape=(latent_dim,), initializer=keras.initializers.Constant(_inverse_softplus(step_size)),
            trainable=learn_step_size, name="raw_step")
        self.learn_tempering = learn_tempering
        # beta_0 = sigmoid(raw) when learned; the fixed value otherwise (1 is allowed there)
        self.raw_tempering = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(
                math.log(tempering / (1 - tempering)) if learn_tempering else tempering),
            trainable=learn_tempering, name="raw_tempering")

    def step_size(self) -> tf.Tensor:
        """The leapfrog steps, one per latent dimension, ``[latent_dim]``."""
        return tf.nn.softplus(self.raw_step)

    def tempering(self) -> tf.Tensor:
        """beta_0, the initial inverse temperature of the momentum."""
        return tf.sigmoid(self.raw_tempering) if self.learn_tempering else tf.convert_to_tensor(self.raw_tempering)

    def phases(self, model: ModelSurface) -> list[Phase]:
        if model.posterior.deterministic or model.prior is None or model.prior.sample_only:
            raise GenkitError("the hamiltonian objective needs a stochastic posterior and a prior with a density "
                              "(e.g. 'posterior: diagonal_gaussian', 'prior: standard_normal')")
        return []

    def variational_terms(self, model: ModelSurface, x: tf.Tensor, condition: tf.Tensor | None, seed: tf.Tensor,
                          samples: int, training: bool = False,
                          encoder_input: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """``log p(x|z_K)`` and the rest of each draw's log weight, ``log p(z_K) - |rho_K|^2 / 2 +
        |gamma|^2 / 2 - log q_0(z_0|x)``, both ``[samples, batch]``; the encoder sees
        ``encoder_input`` (a corrupted x) where given."""
        z_seed, momentum_seed = split_seed(seed, 2)
        q = model.posterior_distribution(x if encoder_input is None else encoder_input, condition, training=training)
        z = q.sample(samples, seed=z_seed)
        log_q = q.log_prob(z)
        prior = model.prior_distribution(condition)
        dtype = z.dtype
        epsilon = tf.cast(self.step_size(), dtype)
        beta_0 = tf.cast(self.tempering(), dtype)
        gamma = tf.random.stateless_normal(tf.shape(z), momentum_seed, dtype=dtype)
        rho = gamma / tf.sqrt(beta_0)

        def potential_gradient(codes: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                tape.watch(codes)
                potential = tf.reduce_sum(
                    model.reconstruction_of(x, codes, condition, training) - prior.log_prob(codes))
            return tape.gradient(potential, codes)

        inverse_root_beta = 1.0 / tf.sqrt(beta_0)
        previous_root = tf.sqrt(beta_0)
        for k in range(1, self.steps + 1):
            rho = rho - 0.5 * epsilon * potential_gradient(z)
            z = z + epsilon * rho
            rho = rho - 0.5 * epsilon * potential_gradient(z)
            root = 1.0 / ((1.0 - inverse_root_beta) * (k / self.steps) ** 2 + inverse_root_beta)  # sqrt(beta_k)
            rho = rho * previous_root / root
            previous_root = root
        log_px = -model.reconstruction_of(x, z, condition, training)
        rest = (prior.log_prob(z) - 0.5 * tf.reduce_sum(rho**2, axis=-1) + 0.5 * tf.reduce_sum(gamma**2, axis=-1)
                - log_q)
        return log_px, rest

    def loss_terms(self, model: ModelSurface, batch: Batch, seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        data_seed, terms_seed = split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)
        condition = model.condition_of(batch.get("y"))
        log_px, rest = self.variational_terms(model, batch["x"], condition, terms_seed, 1, training,
                                              batch.get("x_input"))
        bound = tf.reduce_mean(log_px + rest)
        return {"loss": -bound, "bound": bound, "reconstruction": -tf.reduce_mean(log_px),
                "step_size": tf.reduce_mean(self.step_size()), "tempering": self.tempering()}
