"""GenerativeAutoencoder: one Keras model that composes the components.

    q = posterior(encoder(x))             # tfd.Distribution over z
    z = q.sample()                        # reparameterized
    p_x = likelihood(decoder(z))          # tfd.Distribution over x
    loss = -p_x.log_prob(x) + weight * divergence(q, prior, z)

AE, VAE, beta-VAE (and, through divergence phases, AAE) are choices of components, not
subclasses. Randomness inside training comes from stateless seeds derived from the run seed and
a step counter stored with the weights, so a run is reproducible on CPU.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit.components import Decoder, Divergence, Encoder, Likelihood, Phase, Posterior, Prior
from genkit.errors import GenkitError

Batch = dict[str, tf.Tensor]


def split_seed(seed: tf.Tensor, n: int) -> list[tf.Tensor]:
    """``n`` independent stateless seeds from one."""
    return list(tf.unstack(tf.random.experimental.stateless_split(seed, num=n)))


def kl_or_monte_carlo(q: tfd.Distribution, prior: tfd.Distribution, z: tf.Tensor) -> tf.Tensor:
    """KL(q || prior) in closed form when TFP has one, else the one-sample estimate log q(z) - log p(z)."""
    try:
        return tfd.kl_divergence(q, prior)
    except NotImplementedError:
        return q.log_prob(z) - prior.log_prob(z)


class GenerativeAutoencoder(keras.Model):
    """Encoder + posterior head + decoder + likelihood head + prior + divergence.

    The numpy-facing methods (``encode``, ``decode``, ``sample``, ``reconstruct``, ``elbo``)
    accept arrays or tensors and return numpy arrays, batched. The ``*_distribution`` methods
    return TFP distributions for use inside your own (differentiable) code.
    """

    def __init__(
        self,
        *,
        encoder: Encoder,
        posterior: Posterior,
        decoder: Decoder,
        likelihood: Likelihood,
        prior: Prior | None,
        divergence: Divergence,
        latent_dim: int,
        data_shape: tuple[int, ...],
        condition_dim: int = 0,
        binarize: str = "none",
        seed: int = 0,
    ):
        super().__init__(name="generative_autoencoder")
        self.encoder = encoder
        self.posterior_head = posterior
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.divergence = divergence
        self.latent_dim = int(latent_dim)
        self.data_shape = tuple(data_shape)
        self.condition_dim = int(condition_dim)
        self.binarize = binarize
        self.seed = int(seed)
        self.step_counter = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False, name="step")
        self.rng_counter = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False, name="rng")
        if prior is not None:
            prior.attach(self)

    # --- randomness ---------------------------------------------------------------------------
    def next_seed(self) -> tf.Tensor:
        """A fresh stateless seed ``[2]`` (run seed, counter); the counter is saved with the weights."""
        self.rng_counter.assign_add(1)
        counter = tf.cast(tf.math.floormod(tf.convert_to_tensor(self.rng_counter), 2**31 - 1), tf.int32)
        return tf.stack([tf.constant(self.seed, tf.int32), counter])

    # --- conditioning -------------------------------------------------------------------------
    @property
    def conditional(self) -> bool:
        """Whether labels enter the encoder and decoder (a CVAE-style model)."""
        return self.condition_dim > 0

    def condition_of(self, labels: Any) -> tf.Tensor | None:
        """The condition vector ``[batch, condition_dim]`` for labels: integer class indices become
        one-hot vectors, label vectors pass through. None for unconditional models."""
        if not self.conditional:
            return None
        if labels is None:
            raise GenkitError("this model is conditional: pass labels (class indices or label vectors)")
        labels = tf.convert_to_tensor(labels)
        if labels.dtype.is_integer:
            return tf.one_hot(tf.reshape(labels, [-1]), self.condition_dim, dtype=tf.float32)
        return tf.cast(tf.reshape(labels, [-1, self.condition_dim]), tf.float32)

    # --- distributions ------------------------------------------------------------------------
    def posterior_distribution(
        self, x: tf.Tensor, condition: tf.Tensor | None = None, training: bool = False
    ) -> tfd.Distribution:
        """q(z|x) (q(z|x, y) for conditional models, ``condition`` from :meth:`condition_of`)."""
        return self.posterior_head.distribution(self.encoder(x, condition=condition, training=training))

    def likelihood_distribution(
        self, z: tf.Tensor, condition: tf.Tensor | None = None, training: bool = False
    ) -> tfd.Distribution:
        """p(x|z) (p(x|z, y) for conditional models)."""
        return self.likelihood.distribution(self.decoder(z, condition=condition, training=training))

    def prior_distribution(self) -> tfd.Distribution:
        """p(z); an autoencoder without a prior cannot sample."""
        if self.prior is None:
            raise GenkitError("this model has no prior (a plain autoencoder); add 'prior:' to the spec to sample")
        return self.prior.distribution()

    # --- training -----------------------------------------------------------------------------
    def preprocess(self, batch: Batch, seed: tf.Tensor) -> Batch:
        """Per-step data transformations: dynamic binarization draws fresh binary data."""
        if self.binarize != "dynamic":
            return batch
        x = batch["x"]
        binary = tf.cast(tf.random.stateless_uniform(tf.shape(x), seed=seed) < x, x.dtype)
        return {**batch, "x": binary}

    def loss_terms(self, batch: Batch, seed: tf.Tensor, training: bool = True) -> dict[str, tf.Tensor]:
        """Batch means of the loss, the reconstruction term -log p(x|z) and the (raw) divergence."""
        data_seed, z_seed, div_seed = split_seed(seed, 3)
        batch = self.preprocess(batch, data_seed)
        x = batch["x"]
        condition = self.condition_of(batch.get("y"))
        q = self.posterior_distribution(batch.get("x_input", x), condition, training=training)
        z = q.sample(seed=z_seed)
        reconstruction = -self.likelihood_distribution(z, condition, training=training).log_prob(x)
        prior = self.prior.distribution() if self.prior is not None else None
        divergence = self.divergence.per_example(q, prior, z, div_seed)
        weight = tf.cast(self.divergence.weight(tf.convert_to_tensor(self.step_counter)), reconstruction.dtype)
        return {
            "loss": tf.reduce_mean(reconstruction + weight * divergence),
            "reconstruction": tf.reduce_mean(reconstruction),
            "divergence": tf.reduce_mean(divergence),
        }

    def phases(self) -> list[Phase]:
        """The main phase (all variables but the divergence's own), then the divergence's phases."""
        own = {id(v) for v in self.divergence.trainable_variables}

        def main_variables() -> list:
            return [v for v in self.trainable_variables if id(v) not in own]

        return [Phase("main", self.loss_terms, main_variables), *self.divergence.phases(self)]

    def build_variables(self, example: Batch) -> None:
        """Create every variable (networks, heads, divergence phases) by running each loss once."""
        seed = tf.constant([self.seed, 0], tf.int32)
        for phase in self.phases():
            phase.loss(example, seed)
        self.built = True

    def call(self, x, training=False):
        """Likelihood parameters of the reconstruction of ``x`` through the posterior's point summary
        (unconditional models; conditional ones use :meth:`reconstruct` with labels)."""
        q = self.posterior_distribution(x, training=training)
        return self.decoder(self.posterior_head.point(q), training=training)

    # --- numpy-facing API ---------------------------------------------------------------------
    def _labels_for(self, n: int, labels: Any) -> np.ndarray | None:
        """Labels broadcast to ``n`` rows (a single class index is repeated); None if unconditional."""
        if not self.conditional:
            if labels is not None:
                raise GenkitError("labels were given but this model is not conditional (conditional: false)")
            return None
        if labels is None:
            raise GenkitError("this model is conditional: pass labels (class indices or label vectors)")
        labels = np.asarray(labels)
        if np.issubdtype(labels.dtype, np.integer):
            labels = np.full(n, labels) if labels.ndim == 0 else labels
            if labels.size and (labels.min() < 0 or labels.max() >= self.condition_dim):
                raise GenkitError(
                    f"labels must be class indices in [0, {self.condition_dim - 1}], got {labels.min()}..{labels.max()}"
                )
        elif labels.ndim == 1:  # one label vector for every example
            labels = np.broadcast_to(labels, (n, labels.shape[0]))
        if len(labels) != n:
            raise GenkitError(f"got {len(labels)} labels for {n} examples")
        return labels

    def _batched(self, fn, x: Any, labels: Any = None, batch_size: int = 1000) -> np.ndarray:
        """Apply ``fn(x_chunk, condition_chunk)`` over chunks; return the concatenated numpy result."""
        x = tf.convert_to_tensor(x, tf.float32)
        n = int(x.shape[0])
        labels = self._labels_for(n, labels)
        parts = []
        for i in range(0, n, batch_size):
            condition = None if labels is None else self.condition_of(labels[i : i + batch_size])
            parts.append(fn(x[i : i + batch_size], condition).numpy())
        return np.concatenate(parts) if parts else np.zeros((0,))

    def encode(self, x: Any, labels: Any = None, batch_size: int = 1000) -> np.ndarray:
        """Point summary of q(z|x) (the posterior mean; the code itself for deterministic encoders)."""
        return self._batched(lambda b, c: self.posterior_head.point(self.posterior_distribution(b, c)), x, labels,
                             batch_size)

    def decode(self, z: Any, labels: Any = None, batch_size: int = 1000) -> np.ndarray:
        """Mean of p(x|z) (e.g. pixel probabilities for the Bernoulli likelihood)."""
        return self._batched(lambda b, c: self.likelihood.mean(self.likelihood_distribution(b, c)), z, labels,
                             batch_size)

    def reconstruct(self, x: Any, labels: Any = None, batch_size: int = 1000) -> np.ndarray:
        """decode(encode(x)) (with the same labels for conditional models)."""
        return self.decode(self.encode(x, labels, batch_size), labels, batch_size)

    def sample_latent(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` draws z ~ p(z)."""
        seed_tensor = tf.constant([self.seed if seed is None else seed, 2**30], tf.int32)
        return self.prior_distribution().sample(n, seed=seed_tensor).numpy()

    def sample(self, n: int, labels: Any = None, seed: int | None = None) -> np.ndarray:
        """``n`` new examples: the mean of p(x|z) for z ~ p(z); conditional models generate the
        requested ``labels`` (one class index for all, or one per example)."""
        return self.decode(self.sample_latent(n, seed), labels)

    def elbo_terms(self, x: Any, labels: Any = None, seed: int = 0, batch_size: int = 1000) -> dict[str, np.ndarray]:
        """Per-example ELBO = log p(x|z) - KL(q(z|x) || p(z)) with one z ~ q, and its two terms.

        The KL is analytic where TFP has it, else the one-sample Monte Carlo estimate. This is the
        beta = 1 bound whatever divergence the model trains with.
        """
        if self.posterior_head.deterministic:
            raise GenkitError("the ELBO needs a stochastic posterior; this model's encoder is deterministic")
        prior = self.prior_distribution()
        x = tf.convert_to_tensor(x, tf.float32)
        n = int(x.shape[0])
        labels = self._labels_for(n, labels)
        reconstructions, kls = [], []
        for index, start in enumerate(range(0, n, batch_size)):
            chunk = x[start : start + batch_size]
            condition = None if labels is None else self.condition_of(labels[start : start + batch_size])
            q = self.posterior_distribution(chunk, condition)
            z = q.sample(seed=tf.constant([seed, index], tf.int32))
            reconstructions.append(-self.likelihood_distribution(z, condition).log_prob(chunk).numpy())
            kls.append(kl_or_monte_carlo(q, prior, z).numpy())
        reconstruction, kl = np.concatenate(reconstructions), np.concatenate(kls)
        return {"elbo": -(reconstruction + kl), "reconstruction": reconstruction, "kl": kl}

    def elbo(self, x: Any, labels: Any = None, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
        """Per-example evidence lower bound (nats), one posterior sample each."""
        return self.elbo_terms(x, labels, seed, batch_size)["elbo"]
