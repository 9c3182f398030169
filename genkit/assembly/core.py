"""The training core of a generative autoencoder: components composed into distributions, terms and phases.

    q = posterior(encoder(x))             # tfd.Distribution over z
    z = q.sample()                        # reparameterized; k codes per example with samples=k
    p_x = likelihood(decoder(z))          # tfd.Distribution over x
    loss = -p_x.log_prob(x) + weight * divergence(q, prior, z)

AE, VAE, beta-VAE, DAE (a corruption of the encoder input), CVAE (labels as a condition) and,
through divergence and objective phases, AAE and semi-supervised models are choices of
components, not subclasses. This class is what :class:`~genkit.plugin.surface.ModelSurface`
describes to plugins. Randomness inside training comes from stateless seeds derived from the run
seed and a counter stored with the weights, so a run is reproducible on CPU.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit.errors import GenkitError
from genkit.plugin import randomness
from genkit.plugin.component import recording
from genkit.plugin.context import Context, Shape
from genkit.plugin.corruption import Corruption
from genkit.plugin.divergence import Divergence
from genkit.plugin.heads import Likelihood, Posterior
from genkit.plugin.networks import Decoder, Encoder
from genkit.plugin.objective import Objective
from genkit.plugin.phase import Phase
from genkit.plugin.prior import Prior
from genkit.plugin.sampler import Sampler
from genkit.plugin.surface import Batch, Terms

split_seed = randomness.split_seed


def _tile(tensor: tf.Tensor, times: Any) -> tf.Tensor:
    """``times`` copies of a batch along its first axis, copy-major: ``[times * batch, ...]``."""
    return tf.tile(tensor, [times, *[1] * (len(tensor.shape) - 1)])


class AutoencoderCore(keras.Model):
    """Encoder + posterior head + decoder + likelihood head + prior + divergence (+ optional
    corruption, objective and sampler), with the distributions, terms and phases training needs."""

    def __init__(
        self,
        *,
        encoder: Encoder,
        posterior: Posterior,
        decoder: Decoder,
        likelihood: Likelihood,
        prior: Prior | None,
        divergence: Divergence,
        context: Context,
        binarize: str = "none",
        seed: int = 0,
        corruption: Corruption | None = None,
        objective: Objective | None = None,
        sampler: Sampler | None = None,
    ):
        super().__init__(name="generative_autoencoder")
        self.encoder = encoder
        self.posterior = posterior
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.divergence = divergence
        self.corruption = corruption
        self.objective = objective
        self.sampler = sampler
        self._context = context
        self.binarize = binarize
        self.seed = int(seed)
        #: (phase, its term keys), recorded by :meth:`build_variables`.
        self.phase_term_keys: list[tuple[str, list[str]]] = []
        self.step_counter = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False, name="step")
        self.rng_counter = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False, name="rng")
        if prior is not None:
            prior.attach(self)
        divergence.attach(self)

    # --- what the build knows -----------------------------------------------------------------
    @property
    def context(self) -> Context:
        """Shapes and sizes of the build (stored in model.json)."""
        return self._context

    @property
    def latent_shape(self) -> Shape:
        return self._context.latent_shape

    @property
    def latent_dim(self) -> int:
        return self._context.latent_dim

    @property
    def data_shape(self) -> Shape:
        return self._context.data_shape

    @property
    def condition_dim(self) -> int:
        return self._context.condition_dim

    @property
    def conditional(self) -> bool:
        """Whether a condition (labels, vectors) enters the encoder and decoder (a CVAE-style model)."""
        return self.condition_dim > 0

    @property
    def step(self) -> tf.Tensor:
        """The training step, saved with the weights."""
        return tf.convert_to_tensor(self.step_counter)

    # --- randomness ---------------------------------------------------------------------------
    def next_seed(self) -> tf.Tensor:
        """A fresh stateless seed ``[2]`` (run seed, counter); the counter is saved with the weights."""
        self.rng_counter.assign_add(1)
        counter = tf.cast(tf.math.floormod(tf.convert_to_tensor(self.rng_counter), 2**31 - 1), tf.int32)
        return tf.stack([tf.constant(self.seed, tf.int32), counter])

    # --- conditioning -------------------------------------------------------------------------
    def condition_of(self, labels: Any) -> tf.Tensor | None:
        """The condition vector ``[batch, condition_dim]`` for labels: integer class indices become
        one-hot vectors, other conditions (vectors, images) are flattened. None for unconditional models."""
        if not self.conditional:
            return None
        if labels is None:
            raise GenkitError("this model is conditional: pass labels (class indices or condition vectors)")
        labels = tf.convert_to_tensor(labels)
        if labels.dtype.is_integer:
            return tf.one_hot(tf.reshape(labels, [-1]), self.condition_dim, dtype=tf.float32)
        return tf.cast(tf.reshape(labels, [-1, self.condition_dim]), tf.float32)

    # --- distributions ------------------------------------------------------------------------
    def posterior_distribution(self, x: tf.Tensor, condition: tf.Tensor | None = None,
                               training: bool = False) -> tfd.Distribution:
        """q(z|x) (q(z|x, y) for conditional models, ``condition`` from :meth:`condition_of`).

        Evaluated in float32 whatever precision the encoder computes in (``train.mixed_precision``).
        """
        params = self.encoder(x, condition=condition, training=training)
        return self.posterior.distribution(tf.cast(params, tf.float32))

    def likelihood_distribution(self, z: tf.Tensor, condition: tf.Tensor | None = None,
                                training: bool = False) -> tfd.Distribution:
        """p(x|z) (p(x|z, y) for conditional models), evaluated in float32 like the posterior."""
        params = self.decoder(z, condition=condition, training=training)
        return self.likelihood.distribution(tf.cast(params, tf.float32))

    def prior_distribution(self, condition: tf.Tensor | None = None) -> tfd.Distribution:
        """p(z), or p(z|y) for a conditional prior; an autoencoder without a prior cannot sample."""
        if self.prior is None:
            raise GenkitError("this model has no prior (a plain autoencoder); add 'prior:' to the spec, or a "
                              "'sampler:' fitted after training, to sample")
        if not self.prior.conditional:
            return self.prior.distribution()
        if condition is None:
            raise GenkitError("this model's prior is conditional, p(z|y): pass labels")
        return self.prior.distribution(condition)  # type: ignore[call-arg]  # conditional priors take it

    def sample_prior(self, n: Any, seed: tf.Tensor, condition: tf.Tensor | None = None) -> tf.Tensor:
        """``n`` codes from the prior (one per condition row for a conditional prior)."""
        if self.prior is not None and self.prior.conditional:
            return self.prior_distribution(condition).sample(seed=seed)
        return self.prior_distribution().sample(n, seed=seed)

    def decode_mean(self, z: tf.Tensor, condition: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        """The mean of p(x|z) for codes ``[n, *latent_shape]``."""
        return self.likelihood.mean(self.likelihood_distribution(z, condition, training))

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

    def reconstruction_of(self, x: tf.Tensor, z: tf.Tensor, condition: tf.Tensor | None = None,
                          training: bool = False) -> tf.Tensor:
        """-log p(x|z) of a batch ``x`` for codes ``[batch, *latent_shape]`` (result ``[batch]``) or
        ``[samples, batch, *latent_shape]`` (result ``[samples, batch]``; the decoder sees the
        ``samples * batch`` codes as one batch)."""
        if len(z.shape) == 1 + len(self.latent_shape):
            return -self.likelihood_distribution(z, condition, training=training).log_prob(x)
        samples = tf.shape(z)[0]
        codes = tf.reshape(z, tf.concat([[-1], tf.shape(z)[2:]], axis=0))
        tiled = None if condition is None else _tile(condition, samples)
        log_px = self.likelihood_distribution(codes, tiled, training=training).log_prob(_tile(x, samples))
        return -tf.reshape(log_px, [samples, -1])

    def per_example_terms(self, batch: Batch, condition: tf.Tensor | None, seed: tf.Tensor,
                          training: bool = True, samples: int | None = None) -> Terms:
        """Per-example terms of a preprocessed batch under ``condition``: one code per example, or
        ``samples`` codes each (every tensor then has a leading ``[samples]`` axis). Objectives build
        their losses from these."""
        z_seed, divergence_seed = split_seed(seed, 2)
        x = batch["x"]
        q = self.posterior_distribution(batch.get("x_input", x), condition, training=training)
        z = q.sample(seed=z_seed) if samples is None else q.sample(samples, seed=z_seed)
        reconstruction = self.reconstruction_of(x, z, condition, training)
        prior = None if self.prior is None else self.prior_distribution(condition)
        divergence = self.divergence.per_example(q, prior, z, divergence_seed)
        divergence = tf.broadcast_to(tf.cast(divergence, reconstruction.dtype), tf.shape(reconstruction))
        weight = tf.cast(self.divergence.weight(self.step), reconstruction.dtype)
        return Terms(reconstruction, divergence, weight, z, q, prior)

    def log_importance_weights(self, x: tf.Tensor, condition: tf.Tensor | None, seed: tf.Tensor,
                               samples: int) -> tf.Tensor:
        """log p(x|z) + log p(z) - log q(z|x) for ``samples`` draws z ~ q(z|x) per example,
        ``[samples, batch]`` (the terms of the importance-weighted bound, Burda et al. 2016); the
        objective's own draws and weights where it has them (:meth:`Objective.variational_terms`)."""
        own = None if self.objective is None else self.objective.variational_terms(self, x, condition, seed, samples)
        if own is not None:
            return own[0] + own[1]
        q = self.posterior_distribution(x, condition)
        z = q.sample(samples, seed=seed)
        return -self.reconstruction_of(x, z, condition) + self.prior_distribution(condition).log_prob(z) - q.log_prob(z)

    def autoencoder_loss_terms(self, batch: Batch, seed: tf.Tensor, training: bool = True) -> dict[str, tf.Tensor]:
        """The autoencoder loss: batch means of reconstruction + weight * divergence and its terms."""
        data_seed, terms_seed = split_seed(seed, 2)
        batch = self.preprocess(batch, data_seed)
        terms = self.per_example_terms(batch, self.condition_of(batch.get("y")), terms_seed, training)
        return {
            "loss": tf.reduce_mean(terms.loss),
            "reconstruction": tf.reduce_mean(terms.reconstruction),
            "divergence": tf.reduce_mean(terms.divergence),
        }

    def loss_terms(self, batch: Batch, seed: tf.Tensor, training: bool = True) -> dict[str, tf.Tensor]:
        """Batch means of the main phase's loss and its terms: the objective's if the model has
        one, else :meth:`autoencoder_loss_terms`."""
        if self.objective is not None:
            return self.objective.loss_terms(self, batch, seed, training)
        return self.autoencoder_loss_terms(batch, seed, training)

    def encoder_variables(self) -> list[Any]:
        """The trainable variables of the encoder and the posterior head."""
        return [*self.encoder.trainable_variables, *self.posterior.trainable_variables]

    def decoder_variables(self) -> list[Any]:
        """The trainable variables of the decoder and the likelihood head."""
        return [*self.decoder.trainable_variables, *self.likelihood.trainable_variables]

    def phases(self) -> list[Phase]:
        """The main phase (every variable but those the divergence's and the objective's own
        phases train), then the divergence's phases, then the objective's."""
        extra = [] if self.objective is None else self.objective.phases(self)
        excluded = [*self.divergence.trainable_variables]
        if self.objective is not None:
            excluded += self.objective.exclusive_variables()
        own = {id(v) for v in excluded}

        def main_variables() -> list:
            chosen = None if self.objective is None else self.objective.main_phase_variables(self)
            return [v for v in self.trainable_variables if id(v) not in own] if chosen is None else chosen

        return [Phase("main", self.loss_terms, main_variables), *self.divergence.phases(self), *extra]

    def run_phase(self, phase: Phase, batch: Batch, seed: tf.Tensor,
                  training: bool = True) -> tuple[dict[str, tf.Tensor], list[tuple[Any, tf.Tensor]]]:
        """One phase's loss terms with what the components reported while computing them: their
        loss terms added to ``loss`` and listed by name, their metrics listed; and the state
        updates they asked for (empty unless ``training``)."""
        with recording(training) as record:
            terms = dict(phase.loss(batch, seed))
        reported = record.totals()
        clash = sorted(set(reported) & set(terms))
        if clash:
            raise GenkitError(f"the phase '{phase.name}' already has terms named {clash}; a component reports "
                              "metrics or loss terms under the same names")
        extra_loss = [reported[name] for name in record.loss_terms]
        loss = terms["loss"] + tf.cast(tf.add_n(extra_loss), terms["loss"].dtype) if extra_loss else terms["loss"]
        return {**terms, **reported, "loss": loss}, record.updates

    def build_variables(self, example: Batch) -> None:
        """Create every variable (networks, heads, divergence phases) by running each loss once, and
        record each phase's term keys."""
        seed = tf.constant([self.seed, 0], tf.int32)
        self.phase_term_keys = [(phase.name, list(self.run_phase(phase, example, seed, training=False)[0]))
                                for phase in self.phases()]
        self.built = True

    def call(self, x: Any, training: bool = False) -> tf.Tensor:
        """Likelihood parameters of the reconstruction of ``x`` through the posterior's point summary
        (unconditional models; conditional ones use ``reconstruct`` with labels)."""
        q = self.posterior_distribution(x, training=training)
        return self.decoder(self.posterior.point(q), training=training)
