"""The objective contract: a model-level training objective replacing the main loss."""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import tensorflow as tf

from genkit.errors import GenkitError
from genkit.plugin.component import Reporting
from genkit.plugin.context import CONTEXT_NAMES
from genkit.plugin.phase import Phase
from genkit.plugin.surface import Batch, ModelSurface


class Objective(Reporting, keras.layers.Layer):
    """A model-level training objective: replaces the model's main loss and may bring networks
    (a classifier, discriminators) and phases of its own.

    Without an objective the model minimises reconstruction + weight * divergence. An objective's
    ``loss_terms(model, batch, seed, training)`` returns the main phase's terms instead (it may call
    ``model.autoencoder_loss_terms`` or ``model.per_example_terms``, with ``samples=k`` for k codes
    per example, and add to them); its variables train in the main phase unless listed by
    ``exclusive_variables`` (trained only by its own ``phases``). An objective with a classifier
    overrides ``class_logits``, which gives ``model.classify`` its predictions.
    """

    context_args: ClassVar[frozenset[str]] = CONTEXT_NAMES
    #: True when the objective needs a conditional model (``conditional: true``, labels as condition).
    requires_conditional: ClassVar[bool] = False

    def loss_terms(self, model: ModelSurface, batch: Batch, seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        """Batch means of the main phase's loss (key ``"loss"``) and of its parts."""
        return model.autoencoder_loss_terms(batch, seed, training)

    def phases(self, model: ModelSurface) -> list[Phase]:
        """Extra phases run after the main phase and the divergence's phases."""
        return []

    def exclusive_variables(self) -> list[Any]:
        """Variables trained only by this objective's own phases (left out of the main phase)."""
        return []

    def main_phase_variables(self, model: ModelSurface) -> list[Any] | None:
        """The variables the main phase trains, when the objective decides them (e.g. PIWAE trains
        the decoder on one bound and, in a phase of its own, the encoder on another); None (the
        default) means every variable but the divergence's and :meth:`exclusive_variables`."""
        return None

    def variational_terms(self, model: ModelSurface, x: tf.Tensor, condition: tf.Tensor | None, seed: tf.Tensor,
                          samples: int, training: bool = False,
                          encoder_input: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor] | None:
        """The objective's own variational distribution, for one that has it (e.g. the Hamiltonian
        VAE's, which moves the posterior's draws along the decoder's gradient): for ``samples``
        draws per example, ``log p(x|z)`` and the rest of each draw's log importance weight (so
        their sum is ``log p(x, z) - log q(z|x)`` on the space the objective draws from), both
        ``[samples, batch]``; the encoder sees ``encoder_input`` where given. The model's ELBO and
        importance-weighted log-likelihood then use these draws. None (the default): the
        posterior head's q(z|x) is the variational distribution."""
        return None

    @property
    def has_classifier(self) -> bool:
        """Whether this objective overrides :meth:`class_logits` (m2, categorical_aae)."""
        return type(self).class_logits is not Objective.class_logits

    def class_logits(self, model: ModelSurface, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Unnormalised class scores ``[batch, classes]`` (float32) for ``model.classify`` and the
        objective's own losses (``training=True``)."""
        raise GenkitError(f"objective '{type(self).__name__}' has no classifier, so the model cannot classify")
