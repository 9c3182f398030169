"""Fully connected (MLP) encoder and decoder networks."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from genkit.components import Decoder, Encoder, Shape


def _dense_stack(hidden: list[int], activation: str) -> list[keras.layers.Layer]:
    return [keras.layers.Dense(width, activation=activation) for width in hidden]


def _with_condition(h: tf.Tensor, condition: tf.Tensor | None) -> tf.Tensor:
    if condition is None:
        return h
    return tf.concat([h, tf.cast(condition, h.dtype)], axis=-1)


class MLPEncoder(Encoder):
    """Multilayer perceptron encoder: flattens x, appends the condition vector if any.

    Args:
        hidden: widths of the hidden layers, first to last.
        activation: any Keras activation name (relu, tanh, gelu, ...).
    """

    def __init__(
        self,
        data_shape: Shape,
        output_size: int,
        condition_dim: int = 0,
        hidden: list[int] = [512, 256],  # noqa: B006 - read-only default, shown in the spec reference
        activation: str = "relu",
    ):
        super().__init__(data_shape, output_size, condition_dim)
        self.flatten = keras.layers.Flatten()
        self.hidden_layers = _dense_stack(hidden, activation)
        self.head = keras.layers.Dense(output_size)

    def call(self, x, condition=None, training=False):
        h = _with_condition(self.flatten(x), condition)
        for layer in self.hidden_layers:
            h = layer(h, training=training)
        return self.head(h)


class MLPDecoder(Decoder):
    """Multilayer perceptron decoder: z (and condition) -> likelihood parameters of any shape.

    Args:
        hidden: widths of the hidden layers, first to last.
        activation: any Keras activation name.
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Shape,
        condition_dim: int = 0,
        hidden: list[int] = [256, 512],  # noqa: B006 - read-only default, shown in the spec reference
        activation: str = "relu",
    ):
        super().__init__(latent_dim, output_shape, condition_dim)
        self.hidden_layers = _dense_stack(hidden, activation)
        self.head = keras.layers.Dense(math.prod(self.param_shape))
        self.reshape = keras.layers.Reshape(self.param_shape)

    def call(self, z, condition=None, training=False):
        h = _with_condition(z, condition)
        for layer in self.hidden_layers:
            h = layer(h, training=training)
        return self.reshape(self.head(h))
