"""GenerativeAutoencoder: the assembled model, with a numpy-facing API for people and downstream code.

The training core (:mod:`genkit.assembly.core`) composes the components; the Keras contract
(:mod:`genkit.assembly.keras_fit`) makes ``compile`` / ``fit`` work; this module adds what a user
calls on a trained model. Every method here accepts arrays or tensors, works in batches and
returns numpy arrays; the ``*_distribution`` methods of the core return TFP distributions for use
inside your own (differentiable) code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit.assembly.keras_fit import KerasTrainable
from genkit.errors import GenkitError

#: The second element of the stateless seed ``sample`` draws codes with (the SavedModel's too).
SAMPLE_STREAM = 2**30


def kl_or_monte_carlo(q: tfd.Distribution, prior: tfd.Distribution, z: tf.Tensor) -> tf.Tensor:
    """KL(q || prior) in closed form when TFP has one, else the one-sample estimate log q(z) - log p(z)."""
    try:
        return tfd.kl_divergence(q, prior)
    except NotImplementedError:
        return q.log_prob(z) - prior.log_prob(z)


class GenerativeAutoencoder(KerasTrainable):
    """Encoder + posterior head + decoder + likelihood head + prior + divergence, as one Keras model.

    ``encode``, ``decode``, ``reconstruct``, ``sample``, ``classify`` and ``elbo`` take numpy arrays
    (or tensors) and return numpy arrays. Codes have the shape ``[n, *latent_shape]``.
    """

    def _labels_for(self, n: int, labels: Any) -> np.ndarray | None:
        """Labels broadcast to ``n`` rows (a single class index is repeated); None if unconditional."""
        if not self.conditional:
            if labels is not None:
                raise GenkitError("labels were given but this model is not conditional (conditional: false)")
            return None
        if labels is None:
            raise GenkitError("this model is conditional: pass labels (class indices or condition vectors)")
        labels = np.asarray(labels)
        if np.issubdtype(labels.dtype, np.integer):
            labels = np.full(n, labels) if labels.ndim == 0 else labels
            if labels.size and (labels.min() < 0 or labels.max() >= self.condition_dim):
                raise GenkitError(
                    f"labels must be class indices in [0, {self.condition_dim - 1}], got {labels.min()}..{labels.max()}"
                )
        elif labels.ndim == 1:  # one condition vector for every example
            labels = np.broadcast_to(labels, (n, labels.shape[0]))
        if len(labels) != n:
            raise GenkitError(f"got {len(labels)} labels for {n} examples")
        return labels

    def _batched(self, fn: Callable[[tf.Tensor, tf.Tensor | None], tf.Tensor], x: Any, labels: Any = None,
                 batch_size: int = 1000) -> np.ndarray:
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
        return self._batched(lambda b, c: self.posterior.point(self.posterior_distribution(b, c)), x, labels,
                             batch_size)

    def decode(self, z: Any, labels: Any = None, batch_size: int = 1000) -> np.ndarray:
        """Mean of p(x|z) (e.g. pixel probabilities for the Bernoulli likelihood)."""
        return self._batched(self.decode_mean, z, labels, batch_size)

    def reconstruct(self, x: Any, labels: Any = None, batch_size: int = 1000) -> np.ndarray:
        """decode(encode(x)) (with the same labels for conditional models)."""
        return self.decode(self.encode(x, labels, batch_size), labels, batch_size)

    def sample_latent(self, n: int, seed: int | None = None, labels: Any = None) -> np.ndarray:
        """``n`` codes from the model's fitted sampler when it has one, else from p(z) (p(z|y) for a
        conditional prior, which needs ``labels``)."""
        seed_tensor = tf.constant([self.seed if seed is None else seed, SAMPLE_STREAM], tf.int32)
        if self.sampler is not None and self.sampler.fitted:
            return self.sampler.sample(n, seed_tensor).numpy()
        condition = None
        if self.prior is not None and self.prior.conditional:
            condition = self.condition_of(self._labels_for(n, labels))
        return self.sample_prior(n, seed_tensor, condition).numpy()

    @property
    def can_sample(self) -> bool:
        """Whether the model has something to draw codes from: a fitted sampler or a prior."""
        return (self.sampler is not None and self.sampler.fitted) or self.prior is not None

    def sample(self, n: int, labels: Any = None, seed: int | None = None) -> np.ndarray:
        """``n`` new examples: the mean of p(x|z) for z from :meth:`sample_latent`; conditional models
        generate the requested ``labels`` (one class index for all, or one per example)."""
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
        return self.objective is not None and self.objective.has_classifier

    def classify(self, x: Any, batch_size: int = 1000) -> np.ndarray:
        """Predicted class index of each example, from the objective's classifier (semi-supervised
        and clustering models)."""
        if self.objective is None or not self.objective.has_classifier:
            raise GenkitError("this model has no classifier; use an objective that has one (e.g. objective: m2)")
        x = tf.convert_to_tensor(x, tf.float32)
        parts = [tf.argmax(self.objective.class_logits(self, x[i : i + batch_size]), axis=-1).numpy()
                 for i in range(0, int(x.shape[0]), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0,), np.int64)

    def elbo_terms(self, x: Any, labels: Any = None, seed: int = 0, batch_size: int = 1000,
                   first_batch: int = 0) -> dict[str, np.ndarray]:
        """Per-example ELBO = log p(x|z) - KL(q(z|x) || p(z)) with one z ~ q, and its two terms.

        The KL is analytic where TFP has it, else the one-sample Monte Carlo estimate. This is the
        beta = 1 bound whatever divergence the model trains with. An objective with a variational
        distribution of its own (:meth:`genkit.Objective.variational_terms`) gives its one-draw
        bound instead, ``kl`` being everything in it but log p(x|z). Batch ``i`` draws with seed
        ``(seed, first_batch + i)``, so a dataset evaluated a batch at a time gets the numbers of
        one call on all of it.
        """
        if self.posterior.deterministic:
            raise GenkitError("the ELBO needs a stochastic posterior; this model's encoder is deterministic")
        x = tf.convert_to_tensor(x, tf.float32)
        n = int(x.shape[0])
        labels = self._labels_for(n, labels)
        reconstructions, kls = [], []
        for index, start in enumerate(range(0, n, batch_size)):
            chunk = x[start : start + batch_size]
            condition = None if labels is None else self.condition_of(labels[start : start + batch_size])
            draw_seed = tf.constant([seed, first_batch + index], tf.int32)
            own = None if self.objective is None else self.objective.variational_terms(
                self, chunk, condition, draw_seed, 1)
            if own is not None:  # the objective's variational distribution: its one-draw bound
                reconstructions.append(-own[0][0].numpy())
                kls.append(-own[1][0].numpy())
                continue
            q = self.posterior_distribution(chunk, condition)
            prior = self.prior_distribution(condition)
            z = q.sample(seed=draw_seed)
            reconstructions.append(-self.likelihood_distribution(z, condition).log_prob(chunk).numpy())
            kls.append(kl_or_monte_carlo(q, prior, z).numpy())
        reconstruction, kl = np.concatenate(reconstructions), np.concatenate(kls)
        return {"elbo": -(reconstruction + kl), "reconstruction": reconstruction, "kl": kl}

    def elbo(self, x: Any, labels: Any = None, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
        """Per-example evidence lower bound (nats), one posterior sample each."""
        return self.elbo_terms(x, labels, seed, batch_size)["elbo"]
