"""Plugins that fail in the ways a user's plugin can: while built, when first run, while loading data.

Imported by the corpus with --import; each registers a name of its own.
"""

import numpy as np
import tensorflow as tf

import genkit


@genkit.register("prior", "corpus_init_raises")
class InitRaises(genkit.Prior):
    """Raises a RuntimeError in __init__."""

    def __init__(self, latent_dim: int):
        super().__init__(latent_dim)
        raise RuntimeError("the prior cannot be built on purpose")


@genkit.register("prior", "corpus_init_rejects")
class InitRejects(genkit.Prior):
    """Rejects its argument with a ValueError.

    Args:
        width: any value is refused.
    """

    def __init__(self, latent_dim: int, width: float = 1.0):
        super().__init__(latent_dim)
        raise ValueError(f"width {width} is refused on purpose")


@genkit.register("prior", "corpus_distribution_raises")
class DistributionRaises(genkit.Prior):
    """Its distribution() raises."""

    def distribution(self):
        raise RuntimeError("the distribution cannot be made on purpose")


@genkit.register("encoder", "corpus_call_raises")
class CallRaises(genkit.Encoder):
    """An encoder whose call raises."""

    def call(self, x, condition=None, training=False):
        raise tf.errors.InvalidArgumentError(None, None, "the encoder fails on purpose")


@genkit.register("encoder", "corpus_not_an_encoder")
class NotAnEncoder(genkit.Prior):
    """A prior registered as an encoder."""


@genkit.register("dataset", "corpus_load_raises")
class LoadRaises(genkit.Dataset):
    """A dataset whose load raises an OSError."""

    def load(self, split="train"):
        raise OSError(5, "the data server is unreachable on purpose")


@genkit.register("dataset", "corpus_returns_tuple")
class ReturnsTuple(genkit.Dataset):
    """A dataset whose load returns a tuple instead of genkit.ArrayData."""

    def load(self, split="train"):
        return np.zeros((20, 4), np.float32), None


@genkit.register("callback", "corpus_callback_raises")
class CallbackRaises(genkit.Callback):
    """A callback whose __init__ raises."""

    def __init__(self):
        raise RuntimeError("the callback cannot be built on purpose")
