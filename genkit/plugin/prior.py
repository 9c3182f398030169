"""The prior contract: p(z), or p(z|y) for conditional priors."""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit.errors import GenkitError
from genkit.plugin.component import Reporting
from genkit.plugin.context import CONTEXT_NAMES, Shape
from genkit.plugin.surface import ModelSurface


class Prior(Reporting, keras.layers.Layer):
    """p(z): anything with ``sample`` and (unless ``sample_only``) ``log_prob``; event ``latent_shape``.

    A prior may hold trainable variables (created in ``__init__``); they train with the model.
    A *conditional* prior p(z|y) sets ``conditional = True``, may ask for ``condition_dim`` in its
    ``__init__``, and its ``distribution(condition)`` takes the ``[batch, condition_dim]`` condition
    vectors and returns a distribution with batch shape ``[batch]``.
    """

    context_args: ClassVar[frozenset[str]] = CONTEXT_NAMES
    #: True for priors that can only be sampled (usable with the adversarial divergence only).
    sample_only: ClassVar[bool] = False
    #: True for p(z|y): ``distribution`` then takes the condition vectors (needs ``conditional: true``).
    conditional: ClassVar[bool] = False

    def __init__(self, latent_dim: int, latent_shape: Shape | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.latent_shape: Shape = tuple(latent_shape) if latent_shape else (self.latent_dim,)

    def distribution(self) -> tfd.Distribution:
        """The prior as a TFP distribution with event shape ``latent_shape``."""
        raise NotImplementedError

    def attach(self, model: ModelSurface) -> None:
        """Called once by the assembled model, before any variable is built; nothing by default.

        A prior that depends on other components overrides it, e.g. the VampPrior keeps
        ``model.posterior_distribution`` (pseudo-inputs through the encoder) and creates its
        pseudo-inputs with ``model.data_shape``. Keep a function, not the model itself, so Keras
        does not track the model as a sub-layer of the prior.
        """

    # --- label layout (for supervised adversarial autoencoders) ------------------------------
    @property
    def num_classes(self) -> int:
        """How many classes the prior's layout has (mixture components, roll arms); 0 if none."""
        return 0

    def sample_for_labels(self, labels: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """One draw z ~ p(z | class) per integer label, ``[n, *latent_shape]``.

        Priors whose layout assigns a region to each class (``num_classes > 0``) implement it; the
        supervised AAE feeds these draws to its discriminator as the real samples of each class.
        """
        raise GenkitError(f"prior {type(self).__name__} has no label layout (num_classes is 0)")
