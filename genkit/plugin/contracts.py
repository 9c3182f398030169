"""The contracts every plugin implements: Encoder, Decoder, Posterior, Likelihood, Prior,
Divergence, Corruption, Objective and Dataset.

Networks are Keras 3 layers that return tensors. Heads (Posterior, Likelihood, Prior) turn those
tensors into ``tfd.Distribution`` objects *outside* Keras' ``__call__`` (the way TFP's
``examples/vae.py`` does), so every loss is written in distribution terms.

A plugin's typed ``__init__`` signature is its spec schema. Arguments named in
``context_args`` (e.g. ``latent_dim``) are supplied by genkit from the assembled model, not from
the spec; every other argument comes from the spec and is validated against its annotation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit.training.callbacks import Callback
from genkit.errors import GenkitError

Shape = tuple[int, ...]


class Encoder(keras.layers.Layer):
    """Network from data ``x`` (and an optional condition vector) to a flat parameter vector.

    ``call(x, condition=None, training=False)`` returns a ``[batch, output_size]`` tensor that the
    posterior head turns into q(z|x).
    """

    context_args: ClassVar[frozenset[str]] = frozenset({"data_shape", "output_size", "condition_dim"})

    def __init__(self, data_shape: Shape, output_size: int, condition_dim: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_shape = tuple(data_shape)
        self.output_size = int(output_size)
        self.condition_dim = int(condition_dim)


class Decoder(keras.layers.Layer):
    """Network from a latent code ``z`` (and an optional condition vector) to likelihood parameters.

    ``call(z, condition=None, training=False)`` returns a ``[batch, *output_shape]`` tensor, where
    ``output_shape`` is the parameter shape the likelihood asked for.
    """

    context_args: ClassVar[frozenset[str]] = frozenset({"latent_dim", "output_shape", "condition_dim"})

    def __init__(self, latent_dim: int, output_shape: Shape, condition_dim: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.param_shape = tuple(output_shape)
        self.condition_dim = int(condition_dim)


class Posterior(keras.layers.Layer):
    """Encoder head: parameters ``[batch, param_size]`` -> q(z|x), event shape ``[latent_dim]``."""

    context_args: ClassVar[frozenset[str]] = frozenset({"latent_dim"})
    #: True when q(z|x) is a point mass (plain and adversarial autoencoders).
    deterministic: ClassVar[bool] = False

    def __init__(self, latent_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)

    @property
    def param_size(self) -> int:
        """How many numbers per example the encoder must produce."""
        raise NotImplementedError

    def distribution(self, params: tf.Tensor) -> tfd.Distribution:
        """The posterior distribution for a batch of encoder outputs."""
        raise NotImplementedError

    def point(self, q: tfd.Distribution) -> tf.Tensor:
        """A point summary of q used by ``model.encode`` (the mean by default)."""
        return q.mean()


class Likelihood(keras.layers.Layer):
    """Decoder head: parameters ``[batch, *param_shape]`` -> p(x|z), event shape ``data_shape``.

    Subclasses document which data they fit and what ``-log_prob`` reduces to.
    """

    context_args: ClassVar[frozenset[str]] = frozenset({"data_shape"})

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


class Prior(keras.layers.Layer):
    """p(z): anything with ``sample`` and (unless ``sample_only``) ``log_prob``; event ``[latent_dim]``.

    A prior may hold trainable variables (created in ``__init__``); they train with the model.
    A *conditional* prior p(z|y) sets ``conditional = True``, may ask for ``condition_dim`` in its
    ``__init__``, and its ``distribution(condition)`` takes the ``[batch, condition_dim]`` condition
    vectors and returns a distribution with batch shape ``[batch]``.
    """

    context_args: ClassVar[frozenset[str]] = frozenset({"latent_dim", "condition_dim"})
    #: True for priors that can only be sampled (usable with the adversarial divergence only).
    sample_only: ClassVar[bool] = False
    #: True for p(z|y): ``distribution`` then takes the condition vectors (needs ``conditional: true``).
    conditional: ClassVar[bool] = False

    def __init__(self, latent_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)

    def distribution(self) -> tfd.Distribution:
        """The prior as a TFP distribution with event shape ``[latent_dim]``."""
        raise NotImplementedError

    def attach(self, model: Any) -> None:
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
        """One draw z ~ p(z | class) per integer label, ``[n, latent_dim]``.

        Priors whose layout assigns a region to each class (``num_classes > 0``) implement it; the
        supervised AAE feeds these draws to its discriminator as the real samples of each class.
        """
        raise GenkitError(f"prior {type(self).__name__} has no label layout (num_classes is 0)")


@dataclass
class Phase:
    """One optimisation phase run in every training step, in declaration order.

    ``loss(batch, seed)`` returns a dict of scalar tensors holding at least ``"loss"``, which is
    minimised over ``variables()`` with an optimizer built from ``optimizer`` (a spec dict such as
    ``{"type": "adam", "learning_rate": 1e-4}``; None means the spec's ``train.optimizer``).
    """

    name: str
    loss: Callable[[dict[str, tf.Tensor], tf.Tensor], dict[str, tf.Tensor]]
    variables: Callable[[], list[tf.Variable]]
    optimizer: dict[str, Any] | None = None


class Divergence(keras.layers.Layer):
    """The regulariser between q(z|x) and p(z), per example, plus optional extra training phases.

    ``per_example(q, prior, z, seed)`` returns a ``[batch]`` tensor; the model adds
    ``weight(step) * per_example`` to the reconstruction term. A divergence that brings its own
    networks (e.g. a discriminator) returns their phases from ``phases(model)``; its own variables
    are left out of the main phase.
    """

    context_args: ClassVar[frozenset[str]] = frozenset({"latent_dim"})
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
        """The divergence of each example's posterior from the prior, shape ``[batch]``."""
        raise NotImplementedError

    def weight(self, step: tf.Tensor) -> tf.Tensor:
        """Multiplier of the divergence term at a training step (beta, warm-up); 1 by default."""
        return tf.constant(1.0)

    def phases(self, model: Any) -> list[Phase]:
        """Extra phases run after the main (reconstruction + divergence) phase."""
        return []


class Corruption:
    """Noise applied to the encoder's input only (denoising autoencoders); the target stays clean.

    ``corrupt(x, seed)`` returns a tensor shaped like ``x``; randomness must come from the stateless
    ``seed`` ``[2]`` so a run is reproducible.
    """

    context_args: ClassVar[frozenset[str]] = frozenset()

    def corrupt(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """A corrupted copy of the batch ``x``."""
        raise NotImplementedError


class Objective(keras.layers.Layer):
    """A model-level training objective: replaces the model's main loss and may bring networks
    (a classifier, discriminators) and phases of its own.

    Without an objective the model minimises reconstruction + weight * divergence. An objective's
    ``loss_terms(model, batch, seed, training)`` returns the main phase's terms instead (it may call
    ``model.autoencoder_loss_terms`` or ``model.per_example_terms`` and add to them); its variables
    train in the main phase unless listed by ``exclusive_variables`` (trained only by its own
    ``phases``). ``class_logits`` gives ``model.classify`` its predictions.
    """

    context_args: ClassVar[frozenset[str]] = frozenset({"latent_dim", "data_shape", "condition_dim"})
    #: True when the objective needs a conditional model (``conditional: true``, labels as condition).
    requires_conditional: ClassVar[bool] = False

    def loss_terms(self, model: Any, batch: dict[str, tf.Tensor], seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        """Batch means of the main phase's loss (key ``"loss"``) and of its parts."""
        return model.autoencoder_loss_terms(batch, seed, training)

    def phases(self, model: Any) -> list[Phase]:
        """Extra phases run after the main phase and the divergence's phases."""
        return []

    def exclusive_variables(self) -> list[tf.Variable]:
        """Variables trained only by this objective's own phases (left out of the main phase)."""
        return []

    def class_logits(self, model: Any, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Unnormalised class scores ``[batch, classes]`` (float32) for ``model.classify`` and the
        objective's own losses (``training=True``)."""
        raise GenkitError(f"objective '{type(self).__name__}' has no classifier, so the model cannot classify")


@dataclass
class ArrayData:
    """One split of a dataset as arrays: ``x`` float32 ``[N, *shape]`` and optional extras.

    ``y`` are class labels (int, ``[N]``) or condition vectors (``[N, d]``); ``factors`` are known
    generative factors ``[N, F]`` with ``factor_names`` (used by disentanglement metrics).
    """

    x: np.ndarray
    y: np.ndarray | None = None
    factors: np.ndarray | None = None
    factor_names: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: np.ndarray) -> ArrayData:
        """The examples at ``index``, extras kept aligned."""
        return ArrayData(
            self.x[index],
            None if self.y is None else self.y[index],
            None if self.factors is None else self.factors[index],
            self.factor_names,
            self.class_names,
        )


class Dataset:
    """A source of arrays. ``load(split)`` returns :class:`ArrayData` for ``"train"`` or ``"test"``.

    Generated datasets must be deterministic for a given ``seed`` argument. Values may be uint8
    (scaled to [0, 1] by genkit) or float.
    """

    context_args: ClassVar[frozenset[str]] = frozenset()
    #: The splits this dataset can produce.
    splits: ClassVar[tuple[str, ...]] = ("train", "test")

    def load(self, split: str = "train") -> ArrayData:
        """Arrays of one split."""
        raise NotImplementedError


#: The component base class of each registry kind.
BASES: dict[str, type] = {
    "encoder": Encoder,
    "decoder": Decoder,
    "posterior": Posterior,
    "likelihood": Likelihood,
    "prior": Prior,
    "divergence": Divergence,
    "corruption": Corruption,
    "objective": Objective,
    "dataset": Dataset,
    "callback": Callback,
}
