"""Encoder and decoder networks: fully connected (MLP) and convolutional.

Every network is built from the same block, ``main layer -> normalization -> activation ->
dropout``, so the spec options mean the same thing everywhere:

- ``activation``: any Keras activation name (relu, gelu, silu, tanh, leaky_relu, ...);
- ``normalization``: ``none``, ``batch`` (BatchNormalization) or ``layer`` (LayerNormalization);
- ``dropout``: the drop rate after each block (active in training only);
- the widths (``hidden``, ``dense``) or ``filters`` lists: one block per entry, so the length of
  the list is the depth.

Every network takes a condition vector (``call(..., condition=...)``, ``[batch, condition_dim]``)
when genkit builds it with ``condition_dim > 0`` (a label as a one-hot vector, for the CVAE). MLPs
append it to their input; the convolutional encoder appends it to the flattened feature maps and
the convolutional decoder to ``z``, before their dense layers.
"""

from __future__ import annotations

import math
from typing import Literal

import keras
import tensorflow as tf

from genkit import Decoder, Encoder, Shape, check_memory

Normalization = Literal["none", "batch", "layer"]


def _check_options(sizes: dict[str, list[int]], dropout: float, kernel_size: int | None = None) -> None:
    """Reject values the signature's types let through but no network can use."""
    for name, values in sizes.items():
        if any(v <= 0 for v in values):
            raise ValueError(f"{name} must hold positive sizes, got {values}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if kernel_size is not None and kernel_size <= 0:
        raise ValueError(f"kernel_size must be positive, got {kernel_size}")


def _check_weights(role: str, widths: list[int], conv_weights: int = 0) -> None:
    """Refuse a network whose weights cannot fit in memory: dense layers of ``widths`` (input first)
    plus ``conv_weights``, at 16 bytes a weight (the weight, Adam's two moments and the gradient)."""
    weights = sum(a * b + b for a, b in zip(widths, widths[1:], strict=False)) + conv_weights
    check_memory(f"the {role} (dense layers {' -> '.join(f'{w:,}' for w in widths)}, {weights:,} weights)",
                 16.0 * weights)


def _conv_weights(channels: list[int], kernel_size: int) -> int:
    """Weights of a chain of convolutions between ``channels`` (input first)."""
    return sum(kernel_size * kernel_size * a * b + b for a, b in zip(channels, channels[1:], strict=False))


def _block(
    main: keras.layers.Layer, activation: str, normalization: Normalization, dropout: float, spatial: bool = False
) -> list[keras.layers.Layer]:
    """``main`` followed by normalization, activation and dropout.

    Layer normalization of a feature map (``spatial``) normalizes over height, width and channels.
    """
    layers = [main]
    if normalization == "batch":
        layers.append(keras.layers.BatchNormalization())
    elif normalization == "layer":
        layers.append(keras.layers.LayerNormalization(axis=[-3, -2, -1] if spatial else -1))
    layers.append(keras.layers.Activation(activation))
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout))
    return layers


def _dense_blocks(
    widths: list[int], activation: str, normalization: Normalization, dropout: float
) -> list[keras.layers.Layer]:
    return [
        layer
        for width in widths
        for layer in _block(keras.layers.Dense(width), activation, normalization, dropout)
    ]


def _strided_blocks(
    conv: type[keras.layers.Layer], filters: list[int], kernel_size: int, activation: str,
    normalization: Normalization, dropout: float,
) -> list[keras.layers.Layer]:
    """One block per entry of ``filters`` around a stride-2, "same"-padded ``conv`` (Conv2D or Conv2DTranspose)."""
    return [
        layer
        for f in filters
        for layer in _block(conv(f, kernel_size, strides=2, padding="same"), activation, normalization, dropout,
                            spatial=True)
    ]


def _apply(layers: list[keras.layers.Layer], h: tf.Tensor, training: bool) -> tf.Tensor:
    for layer in layers:
        h = layer(h, training=training)
    return h


def _checked_condition(condition: tf.Tensor | None, condition_dim: int, dtype: tf.DType) -> tf.Tensor | None:
    """The condition vectors ``[batch, condition_dim]`` in ``dtype``, after checking they match the network."""
    if condition_dim == 0:
        if condition is not None:
            raise ValueError("this network was built without a condition (condition_dim=0) but got one")
        return None
    if condition is None:
        raise ValueError(f"this network was built with condition_dim={condition_dim} and needs a condition")
    condition = tf.cast(condition, dtype)
    if condition.shape.rank != 2 or condition.shape[-1] != condition_dim:
        raise ValueError(f"condition must have shape [batch, {condition_dim}], got {condition.shape}")
    return condition


def _with_condition(h: tf.Tensor, condition: tf.Tensor | None, condition_dim: int) -> tf.Tensor:
    """Vectors ``h`` with the condition vector appended."""
    condition = _checked_condition(condition, condition_dim, h.dtype)
    return h if condition is None else tf.concat([h, condition], axis=-1)


def _with_condition_map(h: tf.Tensor, condition: tf.Tensor | None, condition_dim: int) -> tf.Tensor:
    """Feature maps ``[batch, H, W, C]`` with the condition vector appended to every position."""
    condition = _checked_condition(condition, condition_dim, h.dtype)
    if condition is None:
        return h
    shape = tf.concat([tf.shape(h)[:3], [condition_dim]], axis=0)
    return tf.concat([h, tf.broadcast_to(condition[:, None, None, :], shape)], axis=-1)


def _image_shape(shape: Shape, role: str) -> tuple[int, int, int]:
    """(height, width, channels) of image data given as (H, W) or (H, W, C)."""
    if len(shape) not in (2, 3) or any(d <= 0 for d in shape):
        raise ValueError(f"the conv {role} needs image data of shape (height, width[, channels]), got {tuple(shape)}")
    return (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)


class MLPEncoder(Encoder):
    """Multilayer perceptron encoder: flattens x, appends the condition vector if any; its output is
    shaped as the posterior asks (a flat vector, or a grid of codes).

    Args:
        hidden: widths of the hidden layers, first to last (its length is the depth).
        activation: any Keras activation name (relu, tanh, gelu, ...).
        normalization: none, batch or layer, after each hidden layer.
        dropout: drop rate after each hidden layer, in [0, 1).
    """

    def __init__(
        self,
        data_shape: Shape,
        output_size: int,
        condition_dim: int = 0,
        output_shape: Shape | None = None,
        hidden: list[int] = [512, 256],  # noqa: B006 - read-only default, shown in the spec reference
        activation: str = "relu",
        normalization: Normalization = "none",
        dropout: float = 0.0,
    ):
        super().__init__(data_shape, output_size, condition_dim, output_shape)
        _check_options({"hidden": hidden}, dropout)
        _check_weights("encoder", [math.prod(self.data_shape) + self.condition_dim, *hidden, self.output_size])
        self.flatten = keras.layers.Flatten()
        self.hidden_layers = _dense_blocks(hidden, activation, normalization, dropout)
        self.head = keras.layers.Dense(self.output_size)
        self.reshape = keras.layers.Reshape(self.param_shape)

    def call(self, x, condition=None, training=False):
        h = _with_condition(self.flatten(x), condition, self.condition_dim)
        return self.reshape(self.head(_apply(self.hidden_layers, h, training)))


class MLPDecoder(Decoder):
    """Multilayer perceptron decoder: z (flattened, with the condition) -> likelihood parameters of any shape.

    Args:
        hidden: widths of the hidden layers, first to last (its length is the depth).
        activation: any Keras activation name.
        normalization: none, batch or layer, after each hidden layer.
        dropout: drop rate after each hidden layer, in [0, 1).
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Shape,
        condition_dim: int = 0,
        latent_shape: Shape | None = None,
        hidden: list[int] = [256, 512],  # noqa: B006 - read-only default, shown in the spec reference
        activation: str = "relu",
        normalization: Normalization = "none",
        dropout: float = 0.0,
    ):
        super().__init__(latent_dim, output_shape, condition_dim, latent_shape)
        _check_options({"hidden": hidden}, dropout)
        _check_weights("decoder", [self.latent_dim + self.condition_dim, *hidden, math.prod(self.param_shape)])
        self.flatten = keras.layers.Flatten()
        self.hidden_layers = _dense_blocks(hidden, activation, normalization, dropout)
        self.head = keras.layers.Dense(math.prod(self.param_shape))
        self.reshape = keras.layers.Reshape(self.param_shape)

    def call(self, z, condition=None, training=False):
        h = _with_condition(self.flatten(z), condition, self.condition_dim)
        return self.reshape(self.head(_apply(self.hidden_layers, h, training)))


class ConvEncoder(Encoder):
    """Convolutional encoder for images of any size: strided convolutions, then dense layers.

    Each entry of ``filters`` is a ``kernel_size`` convolution with stride 2 and "same" padding,
    so an H x W image becomes ceil(H / 2^depth) x ceil(W / 2^depth) feature maps whatever H and W
    are. For a flat posterior the maps are flattened, the condition vector (if any) appended, and
    ``dense`` layers lead to the posterior parameters. For a posterior over a grid of codes (a
    VQ-VAE's ``latent_shape: [7, 7, 64]``) a 1x1 convolution maps the last feature map to the
    grid's channels instead (the grid must have the maps' height and width; the condition is
    appended to every position). Data of shape (H, W) is read as one channel.

    Args:
        filters: channels of each strided convolution, first to last (its length is the depth).
        dense: widths of the dense layers after flattening (flat posteriors only).
        kernel_size: height and width of every convolution kernel.
        activation: any Keras activation name.
        normalization: none, batch or layer, after each convolution and dense layer.
        dropout: drop rate after each convolution and dense layer, in [0, 1).
    """

    def __init__(
        self,
        data_shape: Shape,
        output_size: int,
        condition_dim: int = 0,
        output_shape: Shape | None = None,
        filters: list[int] = [32, 64],  # noqa: B006 - read-only default, shown in the spec reference
        dense: list[int] = [256],  # noqa: B006
        kernel_size: int = 4,
        activation: str = "relu",
        normalization: Normalization = "none",
        dropout: float = 0.0,
    ):
        super().__init__(data_shape, output_size, condition_dim, output_shape)
        _check_options({"filters": filters, "dense": dense}, dropout, kernel_size)
        height, width, channels = _image_shape(self.data_shape, "encoder")
        factor = 2 ** len(filters)
        maps = (math.ceil(height / factor), math.ceil(width / factor))
        flat = maps[0] * maps[1] * (filters[-1] if filters else channels) + self.condition_dim
        _check_weights("encoder", [flat, *dense, self.output_size], _conv_weights([channels, *filters], kernel_size))
        self.to_image = keras.layers.Reshape((height, width, channels))
        self.conv_layers = _strided_blocks(
            keras.layers.Conv2D, filters, kernel_size, activation, normalization, dropout
        )
        self.grid = len(self.param_shape) == 3
        if self.grid:
            if tuple(self.param_shape[:2]) != maps:
                raise ValueError(f"a code grid of {self.param_shape[0]}x{self.param_shape[1]} needs feature maps of "
                                 f"that size, but {len(filters)} stride-2 convolutions of {height}x{width} images "
                                 f"give {maps[0]}x{maps[1]}; change the number of filters or the latent_shape")
            self.head = keras.layers.Conv2D(self.param_shape[2], 1)
        else:
            self.flatten = keras.layers.Flatten()
            self.dense_layers = _dense_blocks(dense, activation, normalization, dropout)
            self.head = keras.layers.Dense(self.output_size)

    def call(self, x, condition=None, training=False):
        h = _apply(self.conv_layers, self.to_image(x), training)
        if self.grid:
            return self.head(_with_condition_map(h, condition, self.condition_dim))
        h = _with_condition(self.flatten(h), condition, self.condition_dim)
        return self.head(_apply(self.dense_layers, h, training))


class ConvDecoder(Decoder):
    """Convolutional decoder for images of any size: dense layers, then strided transposed convs.

    A flat z (with the condition vector appended, if any) goes through ``dense`` layers to a
    ``start_size`` feature map with ``filters[0]`` channels, where
    ``start_size = ceil(H / 2^depth) x ceil(W / 2^depth)``; a grid of codes of that height and
    width (``latent_shape: [7, 7, 64]``) is that map already, taken to ``filters[0]`` channels by a
    1x1 convolution. Each entry of ``filters`` doubles the height and width with a stride-2
    transposed convolution; a last stride-1 convolution gives the parameter channels, and the map is
    centre-cropped to H x W (so sizes that 2^depth does not divide, such as 28 with depth 3, work).
    Parameter shapes with axes after the channels (the categorical likelihood's 256 logits per
    value) are produced as extra channels and reshaped.

    Args:
        filters: channels of each transposed convolution, first to last (its length is the depth).
        dense: widths of the dense layers before the first feature map (flat codes only).
        kernel_size: height and width of every convolution kernel.
        activation: any Keras activation name.
        normalization: none, batch or layer, after each dense layer and transposed convolution.
        dropout: drop rate after each dense layer and transposed convolution, in [0, 1).
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Shape,
        condition_dim: int = 0,
        latent_shape: Shape | None = None,
        filters: list[int] = [64, 32],  # noqa: B006 - read-only default, shown in the spec reference
        dense: list[int] = [256],  # noqa: B006
        kernel_size: int = 4,
        activation: str = "relu",
        normalization: Normalization = "none",
        dropout: float = 0.0,
    ):
        super().__init__(latent_dim, output_shape, condition_dim, latent_shape)
        _check_options({"filters": filters, "dense": dense}, dropout, kernel_size)
        if not filters:
            raise ValueError("filters must name at least one transposed convolution")
        height, width = _image_shape(self.param_shape[:3], "decoder")[:2]
        factor = 2 ** len(filters)
        self.start_size = (math.ceil(height / factor), math.ceil(width / factor))
        out_channels = math.prod(self.param_shape[2:])
        _check_weights("decoder", [self.latent_dim + self.condition_dim, *dense,
                                   self.start_size[0] * self.start_size[1] * filters[0]],
                       _conv_weights([*filters, out_channels], kernel_size))
        self.grid = len(self.latent_shape) == 3
        if self.grid:
            if tuple(self.latent_shape[:2]) != self.start_size:
                raise ValueError(f"{len(filters)} stride-2 transposed convolutions up to {height}x{width} start from "
                                 f"{self.start_size[0]}x{self.start_size[1]} maps, but the code grid is "
                                 f"{self.latent_shape[0]}x{self.latent_shape[1]}; change filters or latent_shape")
            self.to_map = keras.layers.Conv2D(filters[0], 1, activation=activation)
        else:
            self.dense_layers = _dense_blocks(
                [*dense, self.start_size[0] * self.start_size[1] * filters[0]], activation, normalization, dropout
            )
            self.to_map = keras.layers.Reshape((*self.start_size, filters[0]))
        self.deconv_layers = _strided_blocks(
            keras.layers.Conv2DTranspose, filters, kernel_size, activation, normalization, dropout
        )
        self.to_params = keras.layers.Conv2D(out_channels, kernel_size, padding="same")
        extra_h, extra_w = self.start_size[0] * factor - height, self.start_size[1] * factor - width
        self.crop = keras.layers.Cropping2D(
            ((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2))
        )
        self.reshape = keras.layers.Reshape(self.param_shape)

    def call(self, z, condition=None, training=False):
        if self.grid:
            h = self.to_map(_with_condition_map(z, condition, self.condition_dim))
        else:
            h = self.to_map(_apply(self.dense_layers, _with_condition(z, condition, self.condition_dim), training))
        h = _apply(self.deconv_layers, h, training)
        return self.reshape(self.crop(self.to_params(h)))
