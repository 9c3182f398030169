"""The typed model surface: exactly what a plugin may call on the assembled model.

Contract methods that receive the model (``Divergence.phases``, ``Objective.loss_terms``,
``Prior.attach``, ``Sampler.attach`` ...) receive a :class:`ModelSurface`. Everything a plugin
needs from the other components is here; anything else on the model object is genkit's own and
may change. mypy checks the built-in plugins against this protocol (tests/test_typing.py).

The component attributes are typed by the few methods plugins call across components, so this
module depends on no contract class (and the contracts can name it without an import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit.plugin.context import Context, Shape

#: A batch: ``x`` ``[batch, *data_shape]``, optional ``y`` (labels or condition vectors) and, after
#: preprocessing with a corruption, ``x_input`` (the encoder's noisy input).
Batch = dict[str, tf.Tensor]


@dataclass(frozen=True)
class Terms:
    """Per-example terms of a batch from :meth:`ModelSurface.per_example_terms`.

    Tensors are ``[batch]`` (``z``: ``[batch, *latent_shape]``) for one sample per example, or
    ``[samples, batch]`` (``z``: ``[samples, batch, *latent_shape]``) with ``samples=k``.
    """

    #: -log p(x|z): the reconstruction term of each sample.
    reconstruction: tf.Tensor
    #: The divergence's per-example value (broadcast to the shape of ``reconstruction``).
    divergence: tf.Tensor
    #: The divergence's weight at this training step (beta, warm-up), a scalar.
    weight: tf.Tensor
    #: The codes the reconstruction decoded.
    z: tf.Tensor
    #: q(z|x) of the batch (batch shape ``[batch]``).
    q: tfd.Distribution
    #: p(z) (or p(z|y)), None for a model without a prior.
    prior: tfd.Distribution | None

    @property
    def loss(self) -> tf.Tensor:
        """reconstruction + weight * divergence, per example (and sample)."""
        return self.reconstruction + self.weight * self.divergence

    def log_weights(self) -> tf.Tensor:
        """log p(x|z) + log p(z) - log q(z|x) of each sample: the log importance weights of the
        IWAE bound (Burda et al. 2016); needs a stochastic posterior and a prior with a density."""
        if self.prior is None:
            raise ValueError("importance weights need a prior (this model has none)")
        return -self.reconstruction + self.prior.log_prob(self.z) - self.q.log_prob(self.z)


class NetworkView(Protocol):
    """An encoder or decoder as other components see it: callable on a batch (with the condition)."""

    @property
    def trainable_variables(self) -> list[Any]: ...

    def __call__(self, inputs: Any, condition: Any = None, training: bool = False) -> Any: ...


class PosteriorView(Protocol):
    """The posterior head as other components see it."""

    deterministic: bool

    @property
    def trainable_variables(self) -> list[Any]: ...

    def distribution(self, params: tf.Tensor) -> tfd.Distribution: ...

    def point(self, q: tfd.Distribution) -> tf.Tensor: ...


class LikelihoodView(Protocol):
    """The likelihood head as other components see it."""

    def mean(self, p: tfd.Distribution) -> tf.Tensor: ...


class PriorView(Protocol):
    """The prior as other components see it."""

    sample_only: bool
    conditional: bool

    @property
    def trainable_variables(self) -> list[Any]: ...

    @property
    def num_classes(self) -> int: ...

    def sample_for_labels(self, labels: tf.Tensor, seed: tf.Tensor) -> tf.Tensor: ...


class ModelSurface(Protocol):
    """What a plugin may use of the assembled model (see the module docstring)."""

    encoder: NetworkView
    decoder: NetworkView
    posterior: PosteriorView
    likelihood: LikelihoodView
    prior: PriorView | None

    @property
    def context(self) -> Context:
        """Shapes and sizes of the build (:class:`~genkit.plugin.context.Context`)."""

    @property
    def latent_shape(self) -> Shape: ...

    @property
    def latent_dim(self) -> int: ...

    @property
    def data_shape(self) -> Shape: ...

    @property
    def condition_dim(self) -> int: ...

    @property
    def conditional(self) -> bool: ...

    @property
    def step(self) -> tf.Tensor:
        """The training step (int64 scalar tensor): 0 before the first step, saved with the weights."""

    def preprocess(self, batch: Batch, seed: tf.Tensor) -> Batch:
        """Dynamic binarization and the corruption (``x_input``) of a training batch."""

    def condition_of(self, labels: Any) -> tf.Tensor | None:
        """The condition vectors ``[batch, condition_dim]`` of labels (None for unconditional models)."""

    def posterior_distribution(self, x: tf.Tensor, condition: tf.Tensor | None = None,
                               training: bool = False) -> tfd.Distribution:
        """q(z|x) (or q(z|x, y)), evaluated in float32."""

    def likelihood_distribution(self, z: tf.Tensor, condition: tf.Tensor | None = None,
                                training: bool = False) -> tfd.Distribution:
        """p(x|z) (or p(x|z, y)) for codes ``[n, *latent_shape]``, evaluated in float32."""

    def prior_distribution(self, condition: tf.Tensor | None = None) -> tfd.Distribution:
        """p(z), or p(z|y) for a conditional prior."""

    def sample_prior(self, n: Any, seed: tf.Tensor, condition: tf.Tensor | None = None) -> tf.Tensor:
        """``n`` draws from the prior, ``[n, *latent_shape]`` (one per condition row if conditional)."""

    def decode_mean(self, z: tf.Tensor, condition: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        """The mean of p(x|z): reconstructions or samples in data space."""

    def reconstruction_of(self, x: tf.Tensor, z: tf.Tensor, condition: tf.Tensor | None = None,
                          training: bool = False) -> tf.Tensor:
        """-log p(x|z) for codes ``[batch, *latent_shape]`` or ``[samples, batch, *latent_shape]``."""

    def per_example_terms(self, batch: Batch, condition: tf.Tensor | None, seed: tf.Tensor,
                          training: bool = True, samples: int | None = None) -> Terms:
        """Reconstruction and divergence terms of a preprocessed batch (``samples=k``: k codes each)."""

    def autoencoder_loss_terms(self, batch: Batch, seed: tf.Tensor, training: bool = True) -> dict[str, tf.Tensor]:
        """The default main-phase loss: batch means of reconstruction + weight * divergence and its terms."""

    def encoder_variables(self) -> list[Any]:
        """The trainable variables of the encoder and the posterior head."""

    def decoder_variables(self) -> list[Any]:
        """The trainable variables of the decoder and the likelihood head."""
