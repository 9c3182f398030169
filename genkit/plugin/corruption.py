"""The corruption contract: noise on the encoder's input (denoising autoencoders)."""

from __future__ import annotations

from typing import ClassVar

import tensorflow as tf

from genkit.plugin.component import Reporting
from genkit.plugin.context import CONTEXT_NAMES


class Corruption(Reporting):
    """Noise applied to the encoder's input only (denoising autoencoders); the target stays clean.

    ``corrupt(x, seed)`` returns a tensor shaped like ``x``; randomness must come from the stateless
    ``seed`` ``[2]`` (:func:`genkit.uniform`, :func:`genkit.normal`) so a run is reproducible.
    """

    context_args: ClassVar[frozenset[str]] = CONTEXT_NAMES

    def corrupt(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """A corrupted copy of the batch ``x``."""
        raise NotImplementedError
