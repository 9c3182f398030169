"""An adversarial game on any space: a discriminator phase and a generator phase, each with its own optimizer.

The same two phases serve a discriminator on latent codes (the adversarial autoencoder's
regulariser, :class:`genkit_plugins.divergences.Adversarial`) and one on data (a VAE-GAN's,
:class:`genkit_plugins.data_adversarial.DataAdversarial`): only what counts as real and fake, and
which variables the generator phase trains, differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from genkit import Batch, OptimizerSpec, Phase, split_seed

#: (samples, batch) -> one logit per sample, ``[n]`` float32 (positive: "real").
Discriminate = Callable[[tf.Tensor, Batch], tf.Tensor]


def optimizer_dict(spec: OptimizerSpec | dict[str, Any] | None) -> dict[str, Any] | None:
    """A phase's optimizer entry (``Phase.optimizer``) from a spec argument; None keeps train.optimizer."""
    return None if spec is None else OptimizerSpec.model_validate(spec).model_dump()


def mlp_discriminator(input_width: int, hidden: list[int], activation: str) -> keras.Sequential:
    """A discriminator MLP from ``input_width`` numbers to one logit, built now."""
    network = keras.Sequential(
        [keras.layers.Dense(width, activation=activation) for width in hidden] + [keras.layers.Dense(1)],
        name="discriminator",
    )
    network.build((None, input_width))
    return network


def bce(logits: tf.Tensor, real: bool) -> tf.Tensor:
    """The binary cross-entropy of logits all labelled real (or all fake), averaged."""
    labels = tf.ones_like(logits) if real else tf.zeros_like(logits)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))


@dataclass
class AdversarialGame:
    """The discriminator learns to tell ``real`` samples from ``fake`` ones (binary cross-entropy,
    reported with its ``accuracy``); then the generator phase trains ``generator_variables`` so that
    fresh fake samples are called real, its loss ``weight() * BCE`` (reported unweighted as ``raw``).

    ``real(batch, n, seed)`` gives ``n`` real samples, ``fake(batch, seed)`` the fake samples of a
    batch (differentiable in the generator's variables); ``discriminate(samples, batch)`` the logits.
    """

    discriminate: Discriminate
    real: Callable[[Batch, tf.Tensor, tf.Tensor], tf.Tensor]
    fake: Callable[[Batch, tf.Tensor], tf.Tensor]
    discriminator_variables: Callable[[], list[Any]]
    generator_variables: Callable[[], list[Any]]
    weight: Callable[[], tf.Tensor]
    discriminator_optimizer: dict[str, Any] | None = None
    generator_optimizer: dict[str, Any] | None = None

    def discriminator_loss(self, batch: Batch, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        fake_seed, real_seed = split_seed(seed, 2)
        fake = tf.stop_gradient(self.fake(batch, fake_seed))
        real = tf.cast(self.real(batch, tf.shape(fake)[0], real_seed), fake.dtype)
        real_logits, fake_logits = self.discriminate(real, batch), self.discriminate(fake, batch)
        accuracy = 0.5 * tf.reduce_mean(tf.cast(real_logits > 0, tf.float32)) + 0.5 * tf.reduce_mean(
            tf.cast(fake_logits < 0, tf.float32))
        return {"loss": bce(real_logits, True) + bce(fake_logits, False), "accuracy": accuracy}

    def generator_loss(self, batch: Batch, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        fooled = bce(self.discriminate(self.fake(batch, seed), batch), True)
        return {"loss": self.weight() * fooled, "raw": fooled}

    def phases(self, prefix: str = "") -> list[Phase]:
        """The discriminator phase, then the generator phase (names prefixed by ``prefix``)."""
        return [
            Phase(f"{prefix}discriminator", self.discriminator_loss, self.discriminator_variables,
                  self.discriminator_optimizer),
            Phase(f"{prefix}generator", self.generator_loss, self.generator_variables, self.generator_optimizer),
        ]
