"""A discriminator on data space: the adversarial part of a VAE-GAN (Larsen et al. 2016)."""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf
from genkit_plugins.adversarial import AdversarialGame, Discriminate, mlp_discriminator, optimizer_dict

from genkit import Batch, ModelSurface, Objective, OptimizerSpec, Phase, Shape, split_seed


class DataAdversarial(Objective):
    """The autoencoder's own loss, plus a discriminator on data that tells training examples from
    decoded codes: reconstructions (z ~ q(z|x)) and samples (z ~ p(z)). Its generator phase trains
    the decoder to make both look real, weighted by ``weight``; the main phase is unchanged.

    The discriminator is an MLP on the flattened data. Its two phases report
    ``discriminator_loss``, ``discriminator_accuracy`` and ``generator_raw`` (the unweighted
    generator loss).

    Args:
        hidden: hidden widths of the discriminator MLP.
        activation: any Keras activation of its hidden layers.
        weight: multiplier of the decoder's adversarial loss.
        discriminator_optimizer: optimizer of the discriminator phase.
        generator_optimizer: optimizer of the decoder's adversarial phase (default: the spec's train.optimizer).
    """

    def __init__(
        self,
        data_shape: Shape,
        hidden: list[int] = [256],  # noqa: B006 - read-only default
        activation: str = "relu",
        weight: float = 1.0,
        discriminator_optimizer: OptimizerSpec = OptimizerSpec(type="adam", learning_rate=1e-4),
        generator_optimizer: OptimizerSpec | None = None,
    ):
        super().__init__()
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = weight
        self.flatten = keras.layers.Flatten()
        self.discriminator = mlp_discriminator(math.prod(data_shape), hidden, activation)
        self.optimizers = [optimizer_dict(spec) for spec in (discriminator_optimizer, generator_optimizer)]

    def exclusive_variables(self) -> list[Any]:
        return self.discriminator.trainable_variables

    def _logits(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        return tf.cast(self.discriminator(self.flatten(x), training=True)[:, 0], tf.float32)

    def phases(self, model: ModelSurface) -> list[Phase]:
        return data_game(model, self._logits, self.discriminator, self.weight, *self.optimizers).phases()


def decoded_fakes(model: ModelSurface, batch: Batch, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """A batch's data x (preprocessed), reconstructions (decoded z ~ q(z|x)) and as many samples
    (decoded z ~ p(z)), differentiable in the encoder and decoder."""
    data_seed, posterior_seed, prior_seed = split_seed(seed, 3)
    batch = model.preprocess(batch, data_seed)
    condition = model.condition_of(batch.get("y"))
    q = model.posterior_distribution(batch.get("x_input", batch["x"]), condition, training=True)
    z_q = q.sample(seed=posterior_seed)
    z_p = tf.cast(model.sample_prior(tf.shape(z_q)[0], prior_seed, condition), z_q.dtype)
    return batch["x"], model.decode_mean(z_q, condition, True), model.decode_mean(z_p, condition, True)


def data_game(model: ModelSurface, discriminate: Discriminate, discriminator: keras.layers.Layer, weight: float,
              discriminator_optimizer: dict[str, Any] | None,
              generator_optimizer: dict[str, Any] | None = None) -> AdversarialGame:
    """The game on data space: ``discriminator`` (scoring samples through ``discriminate``) tells
    the batch's training examples from its reconstructions and as many decoded prior samples; the
    generator side is the decoder, its loss weighted by ``weight``."""

    def examples(batch: Batch, n: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        x = model.preprocess(batch, seed)["x"]
        return tf.tile(x, [2, *[1] * (len(x.shape) - 1)])[:n]  # the batch twice: as many as the fakes

    return AdversarialGame(
        discriminate=discriminate, real=examples,
        fake=lambda batch, seed: tf.concat(decoded_fakes(model, batch, seed)[1:], axis=0),
        discriminator_variables=lambda: discriminator.trainable_variables,
        generator_variables=model.decoder_variables, weight=lambda: tf.constant(weight),
        discriminator_optimizer=discriminator_optimizer, generator_optimizer=generator_optimizer,
    )
