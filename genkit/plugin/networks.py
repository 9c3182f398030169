"""The network contracts: Encoder (x -> posterior parameters) and Decoder (z -> likelihood parameters).

Networks are Keras 3 layers that return tensors; the heads (:mod:`genkit.plugin.heads`) turn those
tensors into distributions outside Keras' ``__call__``, the way TFP's ``examples/vae.py`` does.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import keras

from genkit.plugin.component import Reporting
from genkit.plugin.context import CONTEXT_NAMES, Shape


class Encoder(Reporting, keras.layers.Layer):
    """Network from data ``x`` (and an optional condition vector) to the posterior's parameters.

    ``call(x, condition=None, training=False)`` returns ``[batch, *param_shape]``: the shape the
    posterior head asked for, ``(output_size,)`` for the usual flat heads, a grid such as
    ``(7, 7, 64)`` for a posterior over code grids. An encoder that only produces flat vectors may
    ask for ``output_size`` alone; one that supports grids asks for ``output_shape``.
    """

    context_args: ClassVar[frozenset[str]] = CONTEXT_NAMES | {"output_size", "output_shape"}

    def __init__(self, data_shape: Shape, output_size: int | None = None, condition_dim: int = 0,
                 output_shape: Shape | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_shape = tuple(data_shape)
        self.param_shape: Shape = tuple(output_shape) if output_shape else (int(output_size or 0),)
        self.output_size = math.prod(self.param_shape)
        self.condition_dim = int(condition_dim)


class Decoder(Reporting, keras.layers.Layer):
    """Network from a code ``z`` (and an optional condition vector) to the likelihood's parameters.

    ``call(z, condition=None, training=False)`` takes codes ``[batch, *latent_shape]`` and returns
    ``[batch, *output_shape]``, the parameter shape the likelihood head asked for.
    """

    context_args: ClassVar[frozenset[str]] = CONTEXT_NAMES | {"output_shape"}

    def __init__(self, latent_dim: int, output_shape: Shape, condition_dim: int = 0,
                 latent_shape: Shape | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.latent_shape: Shape = tuple(latent_shape) if latent_shape else (self.latent_dim,)
        self.param_shape = tuple(output_shape)
        self.condition_dim = int(condition_dim)
