"""Corruptions of the encoder input for denoising autoencoders (the target stays clean)."""

from __future__ import annotations

import tensorflow as tf

from genkit import Corruption, normal, uniform


class _RateCorruption(Corruption):
    """Base of corruptions that hit each value with probability ``rate``."""

    def __init__(self, rate: float = 0.3):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate = rate


class GaussianNoise(Corruption):
    """Additive Gaussian noise x + std * eps, optionally clipped back to [0, 1].

    Args:
        std: standard deviation of the noise.
        clip: clip the corrupted values to [0, 1] (for image data in that range).
    """

    def __init__(self, std: float = 0.3, clip: bool = True):
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        self.std, self.clip = std, clip

    def corrupt(self, x, seed):
        noisy = x + self.std * normal(tf.shape(x), seed, x.dtype)
        return tf.clip_by_value(noisy, 0.0, 1.0) if self.clip else noisy


class Masking(_RateCorruption):
    """Masking noise: each value is set to 0 with probability ``rate`` (Vincent et al. 2008).

    Args:
        rate: the fraction of values zeroed.
    """

    def corrupt(self, x, seed):
        keep = uniform(tf.shape(x), seed) >= self.rate
        return tf.where(keep, x, tf.zeros_like(x))


class SaltAndPepper(_RateCorruption):
    """Salt-and-pepper noise: each value is, with probability ``rate``, set to 0 or 1 (even odds).

    Args:
        rate: the fraction of values replaced.
    """

    def corrupt(self, x, seed):
        hit_seed, value_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        hit = uniform(tf.shape(x), hit_seed) < self.rate
        salt = tf.cast(uniform(tf.shape(x), value_seed) < 0.5, x.dtype)
        return tf.where(hit, salt, x)
