"""The divergence contract: the regulariser between q(z|x) and p(z), and any phases of its own."""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit.plugin.component import Reporting
from genkit.plugin.context import CONTEXT_NAMES
from genkit.plugin.phase import Phase
from genkit.plugin.surface import ModelSurface


class Divergence(Reporting, keras.layers.Layer):
    """The regulariser between q(z|x) and p(z), per example, plus optional extra training phases.

    ``per_example(q, prior, z, seed)`` returns the divergence of each example: ``[batch]`` for codes
    ``z`` ``[batch, *latent_shape]``, and ``[samples, batch]`` (or ``[batch]``, broadcast) when the
    model draws several codes per example (``z`` ``[samples, batch, *latent_shape]``). The model adds
    ``weight(step) * per_example`` to the reconstruction term. It may ask for any context value by
    name (``num_train_examples``, ``batch_size`` ...) and report metrics (``self.log_metric``). A
    divergence that brings its own networks (a discriminator) returns their phases from
    ``phases(model)``; its own variables are left out of the main phase.
    """

    context_args: ClassVar[frozenset[str]] = CONTEXT_NAMES
    #: False for divergences that need no prior (e.g. the plain autoencoder's ``none``).
    requires_prior: ClassVar[bool] = True
    #: True when the prior need only be sampled (adversarial, MMD).
    sample_only_prior_ok: ClassVar[bool] = False

    def __init__(self, latent_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)

    def per_example(
        self, q: tfd.Distribution, prior: tfd.Distribution | None, z: tf.Tensor, seed: tf.Tensor
    ) -> tf.Tensor:
        """The divergence of each example's posterior from the prior (see the class docstring)."""
        raise NotImplementedError

    def attach(self, model: ModelSurface) -> None:
        """Called once by the assembled model, before any variable is built; nothing by default.
        A divergence that needs the model outside its phases (e.g. the training step inside
        ``per_example``) keeps a function of it here, not the model itself (Keras would track it)."""

    def weight(self, step: tf.Tensor) -> tf.Tensor:
        """Multiplier of the divergence term at a training step (beta, warm-up); 1 by default."""
        return tf.constant(1.0)

    def phases(self, model: ModelSurface) -> list[Phase]:
        """Extra phases run after the main (reconstruction + divergence) phase."""
        return []
