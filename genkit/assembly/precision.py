"""Mixed precision from the spec key ``train.mixed_precision: none | float16 | bfloat16``.

Networks built under a mixed policy keep float32 variables and compute in float16/bfloat16; the
model casts network outputs to float32 before the heads, so every distribution (log-probabilities,
KL terms, samples) is evaluated in float32. float16 has a narrow exponent range, so its optimizers
are wrapped in Keras' ``LossScaleOptimizer`` (dynamic loss scaling); bfloat16 needs none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keras

#: Spec value -> Keras dtype policy name.
POLICIES: dict[str, str] = {"none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


@contextmanager
def policy_scope(mode: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy of ``mode``; the previous global policy is restored after.

    Keras layers read the global policy when they are constructed, so only model building needs it.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[mode])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def wrap_optimizer(optimizer: keras.optimizers.Optimizer, mode: str) -> keras.optimizers.Optimizer:
    """The optimizer with dynamic loss scaling for float16; unchanged otherwise."""
    if mode == "float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
