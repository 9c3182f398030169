"""The VQ-VAE (van den Oord, Vinyals and Kavukcuoglu 2017): a grid of codes quantized against a
codebook learned by exponential moving averages, and an autoregressive prior over the codes, fitted
after training, to sample.

The posterior ``vq`` replaces each position of the encoder's grid by its nearest codebook vector;
the decoder sees the quantized grid, the encoder gets the decoder's gradient straight through. A
VQ-VAE has no prior during training (``divergence: none``): the sampler ``autoregressive_codes``
learns p(code grid) from the training data's codes afterwards, as the paper's PixelCNN does.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import numpy as np
import tensorflow as tf
from genkit_plugins.made import MaskedMLP
from genkit_plugins.samplers import TrainedSampler
from tensorflow_probability import distributions as tfd

from genkit import GenkitError, ModelSurface, Posterior, split_seed


def squared_distances(vectors: tf.Tensor, codebook: tf.Tensor) -> tf.Tensor:
    """``|v - e_k|^2`` for rows v of ``[n, D]`` and codebook rows e_k of ``[K, D]``: ``[n, K]``."""
    return (tf.reduce_sum(vectors**2, axis=1, keepdims=True) - 2.0 * tf.matmul(vectors, codebook, transpose_b=True)
            + tf.reduce_sum(codebook**2, axis=1)[None, :])


def nearest_codes(vectors: tf.Tensor, codebook: tf.Tensor) -> tf.Tensor:
    """The index of the nearest codebook row of each vector ``[..., D]``: ``[...]`` int32."""
    flat = tf.reshape(vectors, [-1, tf.shape(codebook)[1]])
    index = tf.argmin(squared_distances(flat, codebook), axis=1, output_type=tf.int32)
    return tf.reshape(index, tf.shape(vectors)[:-1])


class VectorQuantizer(Posterior):
    """VQ-VAE posterior: each position of the encoder's grid of ``D``-vectors (``latent_shape:
    [H, W, D]``; a flat ``latent_dim`` is a single position) becomes the nearest of ``codes`` codebook
    vectors, with straight-through gradients to the encoder.

    The loss gains the commitment term ``commitment * |z_e - sg(e)|^2`` (summed over the grid,
    reported as ``commitment``). The codebook is state, not weights (van den Oord et al., appendix
    A.1): after each training step, each code's moving share of the grid positions and moving mean
    of the encoder outputs assigned to it follow the batch with decay ``decay``; the code is their
    ratio, the shares Laplace-smoothed by ``epsilon``. A code whose moving share falls below
    ``restart_below`` is dead: it restarts at an encoder output of the batch drawn with probability
    proportional to that output's squared distance to its code (the k-means++ rule), so the codebook
    keeps covering the outputs. Every code starts dead, so the first step places the codebook on the
    data. Reports ``perplexity``, the exponential of the entropy of the batch's code usage (the
    number of codes it uses, evenly counted). Use with ``divergence: none`` and a sampler
    (``autoregressive_codes``).

    Under ``train.distribute`` the moving averages combine exactly across replicas; the restart
    points are averaged like the rest of the state.

    Args:
        codes: codebook size K.
        commitment: weight of the commitment loss (beta in the paper: 0.25).
        decay: decay of the codebook's moving averages (0.99 in the paper).
        epsilon: Laplace smoothing of the codes' moving shares.
        restart_below: moving share of the grid positions below which a code restarts.
    """

    deterministic = True

    def __init__(self, latent_dim: int, latent_shape: tuple[int, ...] | None = None, codes: int = 64,
                 commitment: float = 0.25, decay: float = 0.99, epsilon: float = 1e-5, restart_below: float = 1e-3):
        super().__init__(latent_dim, latent_shape)
        if codes < 2 or commitment < 0 or not 0.0 < decay < 1.0 or epsilon < 0 or not 0.0 < restart_below < 1.0:
            raise ValueError("vq needs codes >= 2, commitment >= 0, 0 < decay < 1, epsilon >= 0 and "
                             f"0 < restart_below < 1; got {codes}, {commitment}, {decay}, {epsilon}, {restart_below}")
        self.codes, self.commitment, self.decay = codes, commitment, decay
        self.epsilon, self.restart_below = epsilon, restart_below
        self.width = self.latent_shape[-1]
        self.share = self.add_state("share", (codes,))  # moving fraction of positions assigned to each code
        self.total = self.add_state("total", (codes, self.width))  # moving mean of share * assigned output
        self.updates = self.add_state("updates", ())  # training steps so far: the restarts' random stream

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self.latent_shape

    @property
    def codebook(self) -> tf.Tensor:
        """The codebook ``[codes, D]``: each code's moving mean output (``total`` over its smoothed share)."""
        smoothed = (self.share + self.epsilon) / (1.0 + self.codes * self.epsilon)
        return tf.math.divide_no_nan(self.total, smoothed[:, None])  # a code no output ever had sits at 0

    def snap(self, vectors: tf.Tensor) -> tf.Tensor:
        """Each D-vector of ``vectors [..., D]`` replaced by its nearest code."""
        return tf.gather(self.codebook, nearest_codes(vectors, self.codebook))

    def distribution(self, params):
        codebook = self.codebook
        flat = tf.reshape(params, [-1, self.width])
        distances = squared_distances(tf.stop_gradient(flat), codebook)
        chosen = tf.argmin(distances, axis=1, output_type=tf.int32)
        quantized = tf.reshape(tf.gather(codebook, chosen), tf.shape(params))
        error = tf.reshape((params - tf.stop_gradient(quantized)) ** 2, [tf.shape(params)[0], -1])
        self.add_loss_term("commitment", self.commitment * tf.reduce_mean(tf.reduce_sum(error, axis=1)))
        self._update_codebook(tf.stop_gradient(flat), chosen, tf.reduce_min(distances, axis=1))
        straight_through = params + tf.stop_gradient(quantized - params)
        return tfd.Independent(tfd.Deterministic(straight_through), reinterpreted_batch_ndims=len(self.latent_shape))

    def _update_codebook(self, flat: tf.Tensor, chosen: tf.Tensor, errors: tf.Tensor) -> None:
        """Moving averages of the batch's code usage and assigned outputs (batch means), dead-code
        restarts, and the ``perplexity`` metric."""
        assigned = tf.one_hot(chosen, self.codes)  # [positions, codes]
        usage = tf.reduce_mean(assigned, axis=0)
        self.log_metric("perplexity", tf.exp(-tf.reduce_sum(usage * tf.math.log(usage + 1e-12))))
        positions = tf.cast(tf.shape(flat)[0], flat.dtype)
        share = self.decay * self.share + (1.0 - self.decay) * usage
        total = self.decay * self.total + (1.0 - self.decay) * tf.matmul(assigned, flat, transpose_a=True) / positions
        seed = tf.stack([tf.cast(self.updates, tf.int32), tf.constant(self.codes, tf.int32)])
        picks = tf.random.stateless_categorical(tf.math.log(errors + 1e-12)[None, :], self.codes, seed)[0]
        dead = (share < self.restart_below)[:, None]
        # a restarted code starts at the threshold share (so it restarts again unless batches use it),
        # and total = share * picked output, so the code is the picked output
        self.add_update(self.share, tf.where(dead[:, 0], self.restart_below, share))
        self.add_update(self.total, tf.where(dead, self.restart_below * tf.gather(flat, picks), total))
        self.add_update(self.updates, self.updates + 1.0)

    def point(self, q):
        # the straight-through value equals the code up to rounding; encode returns the code exactly
        return self.snap(q.mean())


@runtime_checkable
class HasCodebook(Protocol):
    """A quantized posterior: its codes are the rows of ``codebook`` ``[K, D]``."""

    @property
    def codebook(self) -> Any: ...


class AutoregressiveCodes(TrainedSampler):
    """A learned prior over a quantized posterior's code grids, fitted after training: the VQ-VAE's
    way to sample (van den Oord et al. fit a PixelCNN over the grid).

    The grid's positions in raster order (row by row) are a sequence of code indices; a MADE
    (Germain et al. 2015) reads the one-hot indices of every position and gives, in one pass, the
    logits of each position's code given the codes before it. It is fitted by maximum likelihood on
    the training codes' indices (nearest codebook rows of ``model.encode``), and sampling draws the
    positions one after another. Needs a posterior with a ``codebook`` (``vq``); the codebook is
    saved with the sampler. ``log_prob`` gives each grid's log-likelihood in nats.

    Args:
        hidden: hidden widths of the MADE.
        fit_epochs: passes over the training codes.
        fit_batch_size: code grids per Adam step.
        learning_rate: Adam's learning rate.
    """

    def __init__(self, latent_shape: tuple[int, ...],
                 hidden: list[int] = [256],  # noqa: B006 - read-only default
                 fit_epochs: int = 10, fit_batch_size: int = 32, learning_rate: float = 3e-3):
        super().__init__(latent_shape, fit_epochs, fit_batch_size, learning_rate)
        if any(width < 1 for width in hidden):
            raise ValueError(f"hidden widths must be >= 1, got {hidden}")
        self.hidden = hidden
        self.positions = math.prod(self.latent_shape[:-1])

    def attach(self, model: ModelSurface) -> None:
        posterior = model.posterior
        if not isinstance(posterior, HasCodebook):
            raise GenkitError(f"the autoregressive_codes sampler needs a posterior with a codebook (such as vq); "
                              f"{type(posterior).__name__} has none")
        self._posterior_codebook = lambda: np.asarray(posterior.codebook, np.float32)

    @property
    def codes(self) -> int:
        """The codebook size K."""
        return len(self.arrays["codebook"])

    def training_data(self, codes: np.ndarray) -> np.ndarray:
        self.arrays = {"codebook": self._posterior_codebook()}
        return self.indices(codes)

    def indices(self, codes: np.ndarray) -> np.ndarray:
        """The code index of every grid position ``[N, positions]`` of code grids ``[N, *latent_shape]``."""
        vectors = tf.constant(codes.reshape(len(codes), self.positions, -1), tf.float32)
        return nearest_codes(vectors, tf.constant(self.arrays["codebook"])).numpy()

    def make_networks(self, seed: int) -> list[Any]:
        self.network = MaskedMLP(self.positions, self.positions, self.hidden, features_in=self.codes,
                                 features_out=self.codes, seed=seed)
        return self.network.trainable_variables

    def _log_likelihood(self, indices: tf.Tensor) -> tf.Tensor:
        """log p(grid) of index grids ``[n, positions]``: ``[n]``."""
        one_hot = tf.one_hot(indices, self.codes)
        logits = self.network(tf.reshape(one_hot, [-1, self.positions * self.codes]))
        return tf.reduce_sum(one_hot * tf.nn.log_softmax(logits), axis=[1, 2])

    def loss(self, batch, seed):
        return -tf.reduce_mean(self._log_likelihood(batch))

    def log_prob(self, codes: np.ndarray) -> np.ndarray:
        """The fitted log-likelihood (nats) of each code grid ``[N, *latent_shape]``."""
        return self._log_likelihood(tf.constant(self.indices(codes))).numpy()

    def sample(self, n, seed):
        seeds = split_seed(seed, self.positions)
        one_hot = tf.zeros([n, self.positions, self.codes])
        for position in range(self.positions):  # each pass fixes one more position
            logits = self.network(tf.reshape(one_hot, [n, self.positions * self.codes]))[:, position]
            drawn = tf.random.stateless_categorical(logits, 1, seeds[position], dtype=tf.int32)[:, 0]
            placed = tf.one_hot(position, self.positions)[None, :, None] * tf.one_hot(drawn, self.codes)[:, None, :]
            one_hot = one_hot + placed
        indices = tf.argmax(one_hot, axis=-1, output_type=tf.int32)
        return tf.reshape(tf.gather(tf.constant(self.arrays["codebook"]), indices), [n, *self.latent_shape])
