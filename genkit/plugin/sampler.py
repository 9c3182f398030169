"""The sampler contract: a latent sampler fitted after training on the aggregate posterior."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import tensorflow as tf

from genkit.plugin.component import Reporting
from genkit.plugin.context import CONTEXT_NAMES, Shape
from genkit.plugin.surface import ModelSurface


class Sampler(Reporting):
    """Draws codes for new samples from a density fitted to the training data's codes.

    Deterministic and regularised autoencoders (RAE, VQ-VAE) have no prior worth sampling; a sampler
    fitted after training on the codes ``model.encode(x_train)`` (the aggregate posterior) gives
    them one. genkit calls ``attach(model)``, then ``fit(codes, seed)`` once, then ``sample`` as often
    as needed; ``state()`` is saved with the run (an ``.npz`` of arrays, no pickles) and
    ``load_state`` restores it, so a loaded run samples exactly as the one that fitted it.

    ``sample(n, seed)`` uses TensorFlow ops and the stateless ``seed`` ``[2]`` only, so it also runs
    inside the exported SavedModel.
    """

    context_args: ClassVar[frozenset[str]] = CONTEXT_NAMES

    def __init__(self, latent_shape: Shape):
        self.latent_shape = tuple(latent_shape)
        #: Set by genkit once :meth:`fit` or :meth:`load_state` ran; until then the model samples its prior.
        self.fitted = False

    def attach(self, model: ModelSurface) -> None:
        """Called once before fitting or loading (e.g. to keep the posterior's codebook); nothing by default."""

    def fit(self, codes: np.ndarray, seed: int) -> None:
        """Fit to codes ``[N, *latent_shape]`` (float32), deterministically for ``seed``."""
        raise NotImplementedError

    def sample(self, n: int, seed: tf.Tensor) -> tf.Tensor:
        """``n`` codes ``[n, *latent_shape]`` (float32)."""
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """The fitted parameters as named arrays (what :meth:`load_state` takes back)."""
        raise NotImplementedError

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore parameters written by :meth:`state`."""
        raise NotImplementedError
