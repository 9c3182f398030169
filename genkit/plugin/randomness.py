"""Stateless random draws of large tensors, with the algorithm picked for where they are compiled.

TensorFlow's default stateless algorithm, Philox, is fast in its CPU kernels but XLA compiles it
into slow scalar code: a 128x784 uniform draw took 770 us under XLA on this project's 2-core
benchmark machine, against 130 us with ThreeFry, which only XLA implements. The trainer traces
its XLA-compiled step inside :func:`compiled_by_xla`, so :func:`uniform` and :func:`normal` (used
for dynamic binarization and the corruptions, the draws as large as the data) then use ThreeFry.
Both are valid streams; a run with XLA is reproducible with XLA, not bit-identical to one without.
Small draws (latent samples through TFP) keep TensorFlow's default.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import tensorflow as tf

_ALGORITHM = contextvars.ContextVar("genkit_random_algorithm", default="auto_select")


@contextmanager
def compiled_by_xla(enabled: bool = True) -> Iterator[None]:
    """Trace the draws inside (if ``enabled``) with the algorithm XLA compiles best."""
    token = _ALGORITHM.set("threefry" if enabled else _ALGORITHM.get())
    try:
        yield
    finally:
        _ALGORITHM.reset(token)


def uniform(shape: Any, seed: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Uniform [0, 1) values of ``shape`` from the stateless ``seed`` ([2] int32)."""
    return tf.random.stateless_uniform(shape, seed=seed, dtype=dtype, alg=_ALGORITHM.get())


def normal(shape: Any, seed: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Standard normal values of ``shape`` from the stateless ``seed`` ([2] int32)."""
    return tf.random.stateless_normal(shape, seed=seed, dtype=dtype, alg=_ALGORITHM.get())


def split_seed(seed: tf.Tensor, n: int) -> list[tf.Tensor]:
    """``n`` independent stateless seeds (each ``[2]`` int32) from one: how a component that needs
    several random draws in one call keeps them independent and reproducible."""
    return list(tf.unstack(tf.random.experimental.stateless_split(seed, num=n)))
