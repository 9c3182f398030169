"""GenerativeAutoencoder: one Keras model that composes the components.

    q = posterior(encoder(x))             # tfd.Distribution over z
    z = q.sample()                        # reparameterized
    p_x = likelihood(decoder(z))          # tfd.Distribution over x
    loss = -p_x.log_prob(x) + weight * divergence(q, prior, z)

AE, VAE, beta-VAE, DAE (a corruption of the encoder input), CVAE (labels as a condition) and,
through divergence and objective phases, AAE and semi-supervised models are choices of
components, not subclasses. Randomness inside training comes from stateless seeds derived from the run seed and
a step counter stored with the weights, so a run is reproducible on CPU.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit.plugin import randomness
from genkit.plugin.contracts import (
    Corruption,
    Decoder,
    Divergence,
    Encoder,
    Likelihood,
    Objective,
    Phase,
    Posterior,
    Prior,
)
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
        corruption: Corruption | None = None,
        objective: Objective | None = None,
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
        self.corruption = corruption
        self.objective = objective
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
        """q(z|x) (q(z|x, y) for conditional models, ``condition`` from :meth:`condition_of`).

        Evaluated in float32 whatever precision the encoder computes in (``train.mixed_precision``).
        """
        return self.posterior_head.distribution(
            tf.cast(self.encoder(x, condition=condition, training=training), tf.float32)
        )

    def likelihood_distribution(
        self, z: tf.Tensor, condition: tf.Tensor | None = None, training: bool = False
    ) -> tfd.Distribution:
        """p(x|z) (p(x|z, y) for conditional models), evaluated in float32 like the posterior."""
        return self.likelihood.distribution(
            tf.cast(self.decoder(z, condition=condition, training=training), tf.float32)
        )

    def prior_distribution(self, condition: tf.Tensor | None = None) -> tfd.Distribution:
        """p(z), or p(z|y) for a conditional prior; an autoencoder without a prior cannot sample."""
        if self.prior is None:
            raise GenkitError("this model has no prior (a plain autoencoder); add 'prior:' to the spec to sample")
        if not self.prior.conditional:
            return self.prior.distribution()
        if condition is None:
            raise GenkitError("this model's prior is conditional, p(z|y): pass labels")
        return self.prior.distribution(condition)  # type: ignore[call-arg]  # conditional priors take it

    # --- training -----------------------------------------------------------------------------
    def preprocess(self, batch: Batch, seed: tf.Tensor) -> Batch:
        """Per-step data transformations. Dynamic binarization draws fresh binary data ``x``; a
        corruption (denoising) adds ``x_input``, the noisy encoder input, while ``x`` stays the
        clean reconstruction target. A batch that already carries ``x_input`` keeps it."""
        binarize_seed, corrupt_seed = split_seed(seed, 2)
        x = batch["x"]
        if self.binarize == "dynamic":
            x = tf.cast(randomness.uniform(tf.shape(x), binarize_seed) < x, x.dtype)
        batch = {**batch, "x": x}
        if self.corruption is not None and "x_input" not in batch:
            batch["x_input"] = self.corruption.corrupt(x, corrupt_seed)
        return batch

    def per_example_terms(
        self, batch: Batch, condition: tf.Tensor | None, seed: tf.Tensor, training: bool = True
    ) -> dict[str, tf.Tensor]:
        """Per-example ``reconstruction`` -log p(x|z, y) and raw ``divergence`` (both ``[batch]``)
        of a preprocessed batch under ``condition``, with the code ``z`` and the weight of the
        divergence at this step. Objectives build their losses from these terms."""
        z_seed, div_seed = split_seed(seed, 2)
        x = batch["x"]
        q = self.posterior_distribution(batch.get("x_input", x), condition, training=training)
        z = q.sample(seed=z_seed)
        reconstruction = -self.likelihood_distribution(z, condition, training=training).log_prob(x)
        prior = None if self.prior is None else self.prior_distribution(condition)
        divergence = self.divergence.per_example(q, prior, z, div_seed)
        weight = tf.cast(self.divergence.weight(tf.convert_to_tensor(self.step_counter)), reconstruction.dtype)
        return {"reconstruction": reconstruction, "divergence": divergence, "z": z, "weight": weight}

    def autoencoder_loss_terms(self, batch: Batch, seed: tf.Tensor, training: bool = True) -> dict[str, tf.Tensor]:
        """The autoencoder loss: batch means of reconstruction + weight * divergence and its terms."""
        data_seed, terms_seed = split_seed(seed, 2)
        batch = self.preprocess(batch, data_seed)
        terms = self.per_example_terms(batch, self.condition_of(batch.get("y")), terms_seed, training)
        reconstruction, divergence = terms["reconstruction"], terms["divergence"]
        return {
            "loss": tf.reduce_mean(reconstruction + terms["weight"] * divergence),
            "reconstruction": tf.reduce_mean(reconstruction),
            "divergence": tf.reduce_mean(divergence),
        }

    def loss_terms(self, batch: Batch, seed: tf.Tensor, training: bool = True) -> dict[str, tf.Tensor]:
        """Batch means of the main phase's loss and its terms: the objective's if the model has
        one, else :meth:`autoencoder_loss_terms`."""
        if self.objective is not None:
            return self.objective.loss_terms(self, batch, seed, training)
        return self.autoencoder_loss_terms(batch, seed, training)

    def phases(self) -> list[Phase]:
        """The main phase (every variable but those the divergence's and the objective's own
        phases train), then the divergence's phases, then the objective's."""
        extra = [] if self.objective is None else self.objective.phases(self)
        excluded = [*self.divergence.trainable_variables]
        if self.objective is not None:
            excluded += self.objective.exclusive_variables()
        own = {id(v) for v in excluded}

        def main_variables() -> list:
            return [v for v in self.trainable_variables if id(v) not in own]

        return [Phase("main", self.loss_terms, main_variables), *self.divergence.phases(self), *extra]

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

    def sample_latent(self, n: int, seed: int | None = None, labels: Any = None) -> np.ndarray:
        """``n`` draws z ~ p(z) (z ~ p(z|y) for a conditional prior, which needs ``labels``)."""
        seed_tensor = tf.constant([self.seed if seed is None else seed, 2**30], tf.int32)
        if self.prior is not None and self.prior.conditional:
            condition = self.condition_of(self._labels_for(n, labels))
            return self.prior_distribution(condition).sample(seed=seed_tensor).numpy()
        return self.prior_distribution().sample(n, seed=seed_tensor).numpy()

    def sample(self, n: int, labels: Any = None, seed: int | None = None) -> np.ndarray:
        """``n`` new examples: the mean of p(x|z) for z ~ p(z); conditional models generate the
        requested ``labels`` (one class index for all, or one per example)."""
        return self.decode(self.sample_latent(n, seed, labels), labels)

    def corrupt(self, x: Any, seed: int = 0) -> np.ndarray:
        """``x`` with the model's training corruption applied (denoising models), as numpy."""
        if self.corruption is None:
            raise GenkitError("this model has no corruption; add 'corruption:' to the spec")
        x = tf.convert_to_tensor(x, tf.float32)
        return self.corruption.corrupt(x, tf.constant([seed, 2**29], tf.int32)).numpy()

    @property
    def has_classifier(self) -> bool:
        """Whether :meth:`classify` works (an objective with a classifier, e.g. m2 or categorical_aae)."""
        return self.objective is not None and callable(getattr(self.objective, "class_logits", None))

    def classify(self, x: Any, batch_size: int = 1000) -> np.ndarray:
        """Predicted class index of each example, from the objective's classifier (semi-supervised
        and clustering models)."""
        if self.objective is None:
            raise GenkitError("this model has no classifier; use an objective that has one (e.g. objective: m2)")
        x = tf.convert_to_tensor(x, tf.float32)
        parts = [tf.argmax(self.objective.class_logits(self, x[i : i + batch_size]), axis=-1).numpy()
                 for i in range(0, int(x.shape[0]), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0,), np.int64)

    def elbo_terms(self, x: Any, labels: Any = None, seed: int = 0, batch_size: int = 1000) -> dict[str, np.ndarray]:
        """Per-example ELBO = log p(x|z) - KL(q(z|x) || p(z)) with one z ~ q, and its two terms.

        The KL is analytic where TFP has it, else the one-sample Monte Carlo estimate. This is the
        beta = 1 bound whatever divergence the model trains with.
        """
        if self.posterior_head.deterministic:
            raise GenkitError("the ELBO needs a stochastic posterior; this model's encoder is deterministic")
        x = tf.convert_to_tensor(x, tf.float32)
        n = int(x.shape[0])
        labels = self._labels_for(n, labels)
        reconstructions, kls = [], []
        for index, start in enumerate(range(0, n, batch_size)):
            chunk = x[start : start + batch_size]
            condition = None if labels is None else self.condition_of(labels[start : start + batch_size])
            q = self.posterior_distribution(chunk, condition)
            prior = self.prior_distribution(condition)
            z = q.sample(seed=tf.constant([seed, index], tf.int32))
            reconstructions.append(-self.likelihood_distribution(z, condition).log_prob(chunk).numpy())
            kls.append(kl_or_monte_carlo(q, prior, z).numpy())
        reconstruction, kl = np.concatenate(reconstructions), np.concatenate(kls)
        return {"elbo": -(reconstruction + kl), "reconstruction": reconstruction, "kl": kl}

    def elbo(self, x: Any, labels: Any = None, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
        """Per-example evidence lower bound (nats), one posterior sample each."""
        return self.elbo_terms(x, labels, seed, batch_size)["elbo"]
