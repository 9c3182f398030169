"""VAE-GAN (Larsen, Sønderby, Larochelle and Winther 2016): a VAE whose reconstruction error is
measured in the feature space of a GAN discriminator trained alongside it.

Pixel-wise likelihoods reward blurry reconstructions; a discriminator's intermediate features
respond to what makes an image look real, so matching them gives sharper images. Three networks,
three losses, three optimizers (Larsen et al., Algorithm 1), as three phases:

- encoder (the main phase): ``KL(q(z|x) || p(z)) + L_feature``;
- decoder: ``feature_weight * L_feature + adversarial_weight * L_fool`` (reconstructions and prior
  samples labelled real);
- discriminator: the data-space game of :mod:`genkit_plugins.data_adversarial` (training examples
  real, reconstructions and samples fake).

``L_feature = |Dis_l(x) - Dis_l(x~)|^2 / 2`` per example, x~ the reconstruction: the negative
log-likelihood of the features of x under a unit Gaussian around those of x~, up to a constant.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import keras
import tensorflow as tf
from genkit_plugins.adversarial import bce, mlp_discriminator, optimizer_dict
from genkit_plugins.data_adversarial import data_game, decoded_fakes

from genkit import Batch, ModelSurface, Objective, OptimizerSpec, Phase, Shape, split_seed


def _check_feature_layer(feature_layer: int, layers: int) -> int:
    """The feature layer's index from the front (negative indices count from the last layer)."""
    if not -layers <= feature_layer < layers:
        raise ValueError(f"feature_layer must index one of the discriminator's {layers} layers, got {feature_layer}")
    return feature_layer % layers


class FeatureDiscriminator(keras.layers.Layer):
    """A discriminator whose ``call`` returns the flattened output of hidden layer
    ``feature_layer`` (Larsen et al.'s Dis_l) and the logits ``[batch]`` of its ``logit`` layer
    on the flattened last hidden output. Subclasses give the layers and how x enters them."""

    feature_layer: int
    flatten: keras.layers.Layer
    logit: keras.layers.Layer

    def hidden_layers(self) -> list[keras.layers.Layer]:
        raise NotImplementedError

    def to_input(self, x: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def call(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        h = self.to_input(x)
        features = h
        for index, layer in enumerate(self.hidden_layers()):
            h = layer(h)
            if index == self.feature_layer:
                features = self.flatten(h)
        return tf.cast(features, tf.float32), tf.cast(self.logit(self.flatten(h))[:, 0], tf.float32)


class ConvDiscriminator(FeatureDiscriminator):
    """An image discriminator: stride-2 convolutions, then one logit from the flattened last map.
    ``call`` returns the flattened output of convolution ``feature_layer`` (Larsen et al.'s Dis_l)
    and the logits ``[batch]``. Weights are created at construction."""

    def __init__(self, data_shape: Shape, filters: list[int], feature_layer: int, activation: str, **kwargs: Any):
        super().__init__(**kwargs)
        image = (*data_shape, 1) if len(data_shape) == 2 else tuple(data_shape)
        if len(image) != 3 or not filters or any(f < 1 for f in filters):
            raise ValueError(f"the conv discriminator needs images and positive filters, got {data_shape}, {filters}")
        self.feature_layer = _check_feature_layer(feature_layer, len(filters))
        self.to_image = keras.layers.Reshape(image)
        self.convolutions = [keras.layers.Conv2D(f, 4, strides=2, padding="same", activation=activation)
                             for f in filters]
        self.flatten = keras.layers.Flatten()
        self.logit = keras.layers.Dense(1)
        h = self.to_image.compute_output_shape((None, *data_shape))
        for convolution in self.convolutions:
            convolution.build(h)
            h = convolution.compute_output_shape(h)
        self.logit.build((None, h[1] * h[2] * h[3]))

    def hidden_layers(self) -> list[keras.layers.Layer]:
        return self.convolutions

    def to_input(self, x: tf.Tensor) -> tf.Tensor:
        return self.to_image(x)


class MLPDiscriminator(FeatureDiscriminator):
    """A discriminator on the flattened data: dense hidden layers, then one logit
    (:func:`genkit_plugins.adversarial.mlp_discriminator`); its features are hidden layer
    ``feature_layer``'s output, after its activation. Weights are created at construction."""

    def __init__(self, data_shape: Shape, hidden: list[int], feature_layer: int, activation: str, **kwargs: Any):
        super().__init__(**kwargs)
        if not hidden or any(width < 1 for width in hidden):
            raise ValueError(f"the mlp discriminator needs positive hidden widths, got {hidden}")
        self.feature_layer = _check_feature_layer(feature_layer, len(hidden))
        self.flatten = keras.layers.Flatten()
        self.network = mlp_discriminator(math.prod(data_shape), hidden, activation)
        self.logit = self.network.layers[-1]

    def hidden_layers(self) -> list[keras.layers.Layer]:
        return self.network.layers[:-1]

    def to_input(self, x: tf.Tensor) -> tf.Tensor:
        return self.flatten(x)


class VAEGAN(Objective):
    """VAE-GAN (Larsen et al. 2016): the encoder minimises ``KL + L_feature``, the decoder
    ``feature_weight * L_feature + adversarial_weight * L_fool``, a discriminator tells
    training images from reconstructions and prior samples; three phases with their own optimizers
    (``main`` trains the encoder and the prior, then ``decoder``, then ``discriminator``).

    ``L_feature`` is half the squared distance between the discriminator's features (convolution
    or hidden layer ``feature_layer``) of x and of its reconstruction, per example; the pixel likelihood trains
    nothing and is reported as ``reconstruction``. Reports ``feature_reconstruction``,
    ``divergence``, ``decoder_fool`` (the unweighted L_fool), ``discriminator_loss`` and
    ``discriminator_accuracy``. Needs a prior to sample and image data.

    Args:
        discriminator: ``conv`` (stride-2 convolutions, ``filters``) or ``mlp`` (dense layers on the
            flattened data, ``hidden``).
        filters: channels of the conv discriminator's convolutions, first to last.
        hidden: widths of the mlp discriminator's hidden layers.
        activation: any Keras activation of the discriminator's layers.
        feature_layer: which convolution's or hidden layer's output is the feature space (-1: the last).
        feature_weight: gamma, the weight of L_feature in the decoder's loss.
        adversarial_weight: the weight of L_fool in the decoder's loss.
        decoder_optimizer: optimizer of the decoder phase (default: the spec's train.optimizer).
        discriminator_optimizer: optimizer of the discriminator phase.
    """

    def __init__(
        self,
        data_shape: Shape,
        discriminator: Literal["conv", "mlp"] = "conv",
        filters: list[int] = [32, 64],  # noqa: B006 - read-only default
        hidden: list[int] = [256],  # noqa: B006 - read-only default
        activation: str = "leaky_relu",
        feature_layer: int = -1,
        feature_weight: float = 1.0,
        adversarial_weight: float = 1.0,
        decoder_optimizer: OptimizerSpec | None = None,
        discriminator_optimizer: OptimizerSpec = OptimizerSpec(type="adam", learning_rate=1e-4),
    ):
        super().__init__()
        if feature_weight < 0 or adversarial_weight < 0:
            raise ValueError(f"feature_weight and adversarial_weight must be >= 0, got {feature_weight}, "
                             f"{adversarial_weight}")
        self.feature_weight, self.adversarial_weight = feature_weight, adversarial_weight
        self.discriminator = (
            ConvDiscriminator(data_shape, filters, feature_layer, activation, name="discriminator")
            if discriminator == "conv"
            else MLPDiscriminator(data_shape, hidden, feature_layer, activation, name="discriminator"))
        self.optimizers = [optimizer_dict(spec) for spec in (decoder_optimizer, discriminator_optimizer)]

    def feature_reconstruction(self, x: tf.Tensor, reconstruction: tf.Tensor) -> tf.Tensor:
        """``|Dis_l(x) - Dis_l(reconstruction)|^2 / 2`` of each example, ``[batch]``."""
        features, _ = self.discriminator(tf.concat([x, tf.cast(reconstruction, x.dtype)], axis=0))
        real, decoded = tf.split(features, 2, axis=0)
        return 0.5 * tf.reduce_sum((real - decoded) ** 2, axis=-1)

    def loss_terms(self, model: ModelSurface, batch: Batch, seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        data_seed, terms_seed = split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)
        condition = model.condition_of(batch.get("y"))
        terms = model.per_example_terms(batch, condition, terms_seed, training)
        feature = self.feature_reconstruction(batch["x"], model.decode_mean(terms.z, condition, training))
        divergence = terms.weight * terms.divergence
        return {"loss": tf.reduce_mean(divergence + feature), "feature_reconstruction": tf.reduce_mean(feature),
                "divergence": tf.reduce_mean(terms.divergence), "reconstruction": tf.reduce_mean(terms.reconstruction)}

    def main_phase_variables(self, model: ModelSurface) -> list[Any] | None:
        prior = [] if model.prior is None else model.prior.trainable_variables
        return [*model.encoder_variables(), *prior]

    def exclusive_variables(self) -> list[Any]:
        return self.discriminator.trainable_variables

    def phases(self, model: ModelSurface) -> list[Phase]:
        def decoder_loss(batch: Batch, seed: tf.Tensor) -> dict[str, tf.Tensor]:
            x, reconstructions, samples = decoded_fakes(model, batch, seed)
            feature = tf.reduce_mean(self.feature_reconstruction(x, reconstructions))
            _, logits = self.discriminator(tf.concat([reconstructions, samples], axis=0))
            fool = bce(logits, real=True)
            return {"loss": self.feature_weight * feature + self.adversarial_weight * fool,
                    "feature_reconstruction": feature, "fool": fool}

        game = data_game(model, lambda samples, batch: self.discriminator(samples)[1], self.discriminator,
                         self.adversarial_weight, self.optimizers[1])
        discriminator = game.phases()[0]  # the game's generator phase is the decoder phase above
        return [Phase("decoder", decoder_loss, model.decoder_variables, self.optimizers[0]), discriminator]
