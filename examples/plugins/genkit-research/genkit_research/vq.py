"""VQ-VAE (van den Oord, Vinyals and Kavukcuoglu 2017): a grid of codes quantized against a codebook
learned by exponential moving averages, and a sampler over the codes fitted after training."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import genkit

tfd = tfp.distributions


class VectorQuantized(genkit.Posterior):
    """Each position of the encoder's grid (``latent_shape: [H, W, D]``) snaps to its nearest of
    ``codes`` codebook vectors; gradients pass straight through to the encoder.

    The loss gains ``commitment * |z_e - sg(z_q)|^2`` (reported as ``commitment``); the codebook is
    not trained by gradients but follows the encoder outputs assigned to it by exponential moving
    averages (``decay``), updated after each step; a code whose moving share of the positions falls
    below ``restart_below`` restarts at one of the batch's outputs, so the codebook does not collapse.
    Reports ``perplexity``, the effective number of codes a batch uses. Use with
    ``divergence: none`` and a sampler such as ``code_histogram``.

    Args:
        codes: codebook size K.
        commitment: weight of the commitment loss (beta in the paper, 0.25).
        decay: EMA decay of the codebook statistics.
        restart_below: moving share of the grid positions under which a code restarts.
    """

    deterministic = True

    def __init__(self, latent_dim: int, latent_shape: tuple[int, ...], codes: int = 64, commitment: float = 0.25,
                 decay: float = 0.99, restart_below: float = 1e-3):
        super().__init__(latent_dim, latent_shape)
        if len(self.latent_shape) < 2 or codes < 2 or not 0 < decay < 1:
            raise ValueError("vector_quantized needs latent_shape [..., D], codes >= 2 and 0 < decay < 1")
        self.codes, self.commitment, self.decay, self.restart_below = codes, commitment, decay, restart_below
        # the codebook is sums / counts (moving averages of the batch's usage fractions and of the
        # outputs assigned to each code); every code starts unused, so the first step restarts it at
        # encoder outputs
        self.counts = self.add_state("counts", (codes,), "zeros")
        self.sums = self.add_state("sums", (codes, self.latent_shape[-1]), keras.initializers.RandomNormal(stddev=1.0))

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self.latent_shape

    @property
    def codebook(self) -> tf.Tensor:
        return self.sums / tf.where(self.counts > 0, self.counts, 1.0)[:, None]

    def distribution(self, params):
        codebook, flat = self.codebook, tf.stop_gradient(tf.reshape(params, [-1, self.latent_shape[-1]]))
        distances = tf.reduce_sum(flat**2, 1, keepdims=True) - 2 * flat @ tf.transpose(codebook) + tf.reduce_sum(
            codebook**2, 1)
        assigned = tf.one_hot(tf.argmin(distances, axis=1), self.codes)
        quantized = tf.reshape(assigned @ codebook, tf.shape(params))
        self.add_loss_term("commitment", self.commitment * tf.reduce_mean(
            tf.reduce_sum(tf.reshape((params - tf.stop_gradient(quantized)) ** 2, [tf.shape(params)[0], -1]), 1)))
        usage = tf.reduce_mean(assigned, axis=0)  # the fraction of positions each code took
        self.log_metric("perplexity", tf.exp(-tf.reduce_sum(usage * tf.math.log(usage + 1e-10))))
        counts = self.decay * self.counts + (1 - self.decay) * usage  # batch means: exact under distribution
        sums = self.decay * self.sums + (1 - self.decay) * tf.transpose(assigned) @ flat / tf.cast(
            tf.shape(flat)[0], flat.dtype)
        # a code no output has chosen for a while restarts at an output of this batch (evenly spaced rows)
        dead = counts < self.restart_below
        restart = tf.gather(flat, tf.range(self.codes) * (tf.shape(flat)[0] // self.codes))
        self.add_update(self.counts, tf.where(dead, 1.0 / self.codes, counts))
        self.add_update(self.sums, tf.where(dead[:, None], restart / self.codes, sums))
        straight_through = params + tf.stop_gradient(quantized - params)
        return tfd.Independent(tfd.Deterministic(straight_through), reinterpreted_batch_ndims=len(self.latent_shape))


class CodeHistogram(genkit.Sampler):
    """Samples each grid position independently from the codes the training data used there.

    Fitted on the codes of the training data (``model.encode``): the distinct code vectors, and per
    position how often each was used (plus ``smoothing``). A small, honest baseline for a learned
    autoregressive prior over codes.

    Args:
        smoothing: pseudo-count added to every (position, code) count.
    """

    def __init__(self, latent_shape: tuple[int, ...], smoothing: float = 0.1):
        super().__init__(latent_shape)
        if smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {smoothing}")
        self.smoothing = smoothing

    def fit(self, codes: np.ndarray, seed: int) -> None:
        vectors = codes.reshape(len(codes), -1, self.latent_shape[-1])
        self.vectors, index = np.unique(vectors.reshape(-1, vectors.shape[-1]), axis=0, return_inverse=True)
        counts = np.zeros((vectors.shape[1], len(self.vectors)))
        np.add.at(counts, (np.tile(np.arange(vectors.shape[1]), len(codes)), index.ravel()), 1.0)
        self.logits = np.log(counts + self.smoothing + 1e-12).astype(np.float32)

    def sample(self, n, seed):
        chosen = tfd.Categorical(logits=self.logits).sample(n, seed=seed)  # [n, positions]
        return tf.reshape(tf.gather(tf.constant(self.vectors, tf.float32), chosen), [n, *self.latent_shape])

    def state(self) -> dict[str, np.ndarray]:
        return {"vectors": self.vectors.astype(np.float32), "logits": self.logits}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.vectors, self.logits = state["vectors"], state["logits"]
