"""Masked MLPs: MADE (Germain et al. 2015) and its unmasked form, the networks behind genkit's
autoregressive flows (the MAF prior and sampler, the IAF posterior), coupling layers and the
autoregressive prior over VQ-VAE codes.

One pass of a MADE gives, for every position of a sequence, outputs that depend only on the
positions before it: the shifts and scales of all dimensions of an autoregressive flow step, or the
logits of every code given the codes before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb


def _masks(positions: int, features_in: int, hidden: list[int], features_out: int) -> list[np.ndarray]:
    """MADE's 0/1 masks ``[width_in, width_out]``, layer by layer.

    Input unit degrees are their position (1-based, each position's ``features_in`` units in a
    row), hidden degrees cycle over 1..positions-1, output degrees are their position again. A
    hidden unit sees inputs of degree <= its own; an output sees hidden units of degree < its own,
    so output position i depends on input positions < i only.
    """
    degrees = [np.repeat(np.arange(1, positions + 1), features_in)]
    degrees += [np.arange(width) % max(1, positions - 1) + 1 for width in hidden]
    out = np.repeat(np.arange(1, positions + 1), features_out)
    masks = [(after[None, :] >= before[:, None]) for before, after in zip(degrees[:-1], degrees[1:], strict=True)]
    masks.append(out[None, :] > degrees[-1][:, None])
    return [mask.astype(np.float32) for mask in masks]


class MaskedMLP(keras.layers.Layer):
    """An MLP from ``[..., positions_in * features_in]`` (and an optional context vector) to
    ``[..., positions_out, features_out]``, ReLU between layers, weights created at construction.

    ``autoregressive=True`` (a MADE; ``positions_in == positions_out``): the outputs of position i
    depend only on the inputs of positions before i (inputs are position-major: the features of the
    first position, then of the second ...). ``autoregressive=False``: a plain MLP, every output sees
    every input (a coupling layer's network). The context ``[..., context_size]`` (an encoder's
    summary of x, for an amortized flow) reaches every unit of the first layer.

    The last layer starts at zero, so a flow step built on the network starts as the identity and a
    categorical one as uniform; ``seed`` seeds the other initializers (reproducible fitting).
    """

    def __init__(self, positions_in: int, positions_out: int, hidden: list[int], features_in: int = 1,
                 features_out: int = 2, context_size: int = 0, autoregressive: bool = True,
                 seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if autoregressive and positions_in != positions_out:
            raise ValueError("an autoregressive network has as many output positions as input positions")
        self.positions_out, self.features_out, self.context_size = positions_out, features_out, context_size
        widths = [positions_in * features_in, *hidden, positions_out * features_out]
        if autoregressive:
            masks = _masks(positions_in, features_in, hidden, features_out)
        else:
            masks = [np.ones((a, b), np.float32) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        self.masks = [tf.constant(mask) for mask in masks]

        def initializer(index: int, last: bool) -> Any:
            return "zeros" if last else keras.initializers.GlorotUniform(None if seed is None else seed + index)

        self.kernels, self.biases = [], []
        for index, mask in enumerate(masks):
            last = index == len(masks) - 1
            self.kernels.append(self.add_weight(shape=mask.shape, initializer=initializer(index, last),
                                                name=f"kernel_{index}"))
            self.biases.append(self.add_weight(shape=(mask.shape[1],), initializer="zeros", name=f"bias_{index}"))
        self.context_kernel = None
        if context_size:
            self.context_kernel = self.add_weight(shape=(context_size, widths[1]), name="context",
                                                  initializer=initializer(len(masks), len(masks) == 1))

    def call(self, x: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        h = x
        for index, (kernel, bias, mask) in enumerate(zip(self.kernels, self.biases, self.masks, strict=True)):
            h = tf.matmul(h, kernel * mask) + bias
            if index == 0 and self.context_kernel is not None:
                if context is None:
                    raise ValueError(f"this network has context_size={self.context_size} and needs a context")
                h = h + tf.matmul(context, self.context_kernel)  # the context broadcasts over leading sample axes
            if index < len(self.kernels) - 1:
                h = tf.nn.relu(h)
        return tf.reshape(h, tf.concat([tf.shape(h)[:-1], [self.positions_out, self.features_out]], axis=0))


def shift_and_log_scale(network: MaskedMLP,
                        context: tf.Tensor | None = None) -> Callable[..., tuple[tf.Tensor, tf.Tensor]]:
    """The ``shift_and_log_scale_fn`` of an affine flow step (``tfb.MaskedAutoregressiveFlow``,
    ``tfb.RealNVP``) from a network with two outputs per position; the log-scale is tanh-bounded,
    which keeps a stack of steps well conditioned."""

    def fn(x: tf.Tensor, *unused_args: Any, **unused_kwargs: Any) -> tuple[tf.Tensor, tf.Tensor]:
        out = network(x, context)
        return out[..., 0], tf.tanh(out[..., 1])

    return fn


def reversing_chain(steps: list[tfb.Bijector], dim: int) -> tfb.Bijector:
    """The flow of ``steps`` with the order of the ``dim`` dimensions reversed between consecutive
    steps, so each dimension is conditioned on every other one somewhere in the stack."""
    reverse = tfb.Permute(list(range(dim - 1, -1, -1)))
    bijectors: list[tfb.Bijector] = []
    for step in steps:
        bijectors += [step, reverse]
    return tfb.Chain(bijectors[:-1])
