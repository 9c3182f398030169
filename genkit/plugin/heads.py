"""The head contracts: Posterior (parameters -> q(z|x)) and Likelihood (parameters -> p(x|z)).

A head is a small Keras layer (it may hold variables) whose ``distribution`` builds a
``tfd.Distribution`` from the network's output tensor, so every loss is written in distribution terms.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit.plugin.component import Reporting
from genkit.plugin.context import CONTEXT_NAMES, Shape


class Posterior(Reporting, keras.layers.Layer):
    """Encoder head: parameters ``[batch, *param_shape]`` -> q(z|x) with event shape ``latent_shape``.

    Flat heads define ``param_size`` (numbers per example); a head over code grids overrides
    ``param_shape`` instead. ``point`` is the code ``model.encode`` returns. A head may report
    metrics, add loss terms (a commitment loss) and update state (an EMA codebook) through the
    methods every component has (:mod:`genkit.plugin.component`).
    """

    context_args: ClassVar[frozenset[str]] = CONTEXT_NAMES
    #: True when q(z|x) is a point mass (plain and adversarial autoencoders).
    deterministic: ClassVar[bool] = False

    def __init__(self, latent_dim: int, latent_shape: Shape | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.latent_shape: Shape = tuple(latent_shape) if latent_shape else (self.latent_dim,)

    @property
    def param_size(self) -> int:
        """How many numbers per example the encoder must produce."""
        if type(self).param_shape is Posterior.param_shape:
            raise NotImplementedError(f"{type(self).__name__} defines neither param_size nor param_shape")
        return math.prod(self.param_shape)

    @property
    def param_shape(self) -> Shape:
        """The shape (without batch) of the encoder output this head takes: ``(param_size,)`` by default."""
        return (self.param_size,)

    def distribution(self, params: tf.Tensor) -> tfd.Distribution:
        """The posterior distribution for a batch of encoder outputs."""
        raise NotImplementedError

    def point(self, q: tfd.Distribution) -> tf.Tensor:
        """A point summary of q used by ``model.encode`` (the mean by default)."""
        return q.mean()


class Likelihood(Reporting, keras.layers.Layer):
    """Decoder head: parameters ``[batch, *param_shape]`` -> p(x|z), event shape ``data_shape``.

    Subclasses document which data they fit and what ``-log_prob`` reduces to.
    """

    context_args: ClassVar[frozenset[str]] = CONTEXT_NAMES

    def __init__(self, data_shape: Shape, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_shape = tuple(data_shape)

    @property
    def param_shape(self) -> Shape:
        """Shape (without batch) of the parameter tensor the decoder must produce."""
        return self.data_shape

    def distribution(self, params: tf.Tensor) -> tfd.Distribution:
        """The data distribution for a batch of decoder outputs."""
        raise NotImplementedError

    def mean(self, p: tfd.Distribution) -> tf.Tensor:
        """The expected data under p, used for reconstructions and samples."""
        return p.mean()

    def check_data(self, x: np.ndarray) -> str | None:
        """Return a sentence saying why ``x`` does not fit this likelihood, or None if it does."""
        return None
