"""``adam`` is FusedAdam: Keras' Adam rule in TensorFlow's fused kernel, with Keras' own clipping,
weight decay and AMSGrad around or instead of it."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from genkit.plugin.optimizers import FusedAdam, make_optimizer

RNG = np.random.default_rng(0)
INITIAL = [RNG.normal(size=(50, 30)).astype("float32"), RNG.normal(size=(30,)).astype("float32")]
GRADIENTS = [[RNG.normal(size=w.shape).astype("float32") for w in INITIAL] for _ in range(20)]


def trained(optimizer: keras.optimizers.Optimizer, jit_compile: bool = False) -> list[np.ndarray]:
    """The variables after 20 compiled steps of ``optimizer`` on fixed gradients."""
    variables = [keras.Variable(w) for w in INITIAL]
    optimizer.build(variables)
    step = tf.function(lambda gradients: optimizer.apply_gradients(zip(gradients, variables, strict=True)),
                       jit_compile=jit_compile)
    for gradients in GRADIENTS:
        step([tf.constant(g) for g in gradients])
    assert int(optimizer.iterations.numpy()) == len(GRADIENTS)
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("arguments", [{}, {"clipnorm": 0.5}, {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}],
                         ids=["defaults", "clipnorm", "betas"])
def test_adam_is_the_fused_kernel_with_keras_numbers(jit_compile, arguments):
    fused = make_optimizer({"type": "adam", "learning_rate": 1e-2, **arguments})
    assert isinstance(fused, FusedAdam) and isinstance(fused, keras.optimizers.Adam)
    expected = trained(keras.optimizers.Adam(learning_rate=1e-2, **arguments))
    moved = [np.max(np.abs(e - w)) for e, w in zip(expected, INITIAL, strict=True)]
    for got, want, distance in zip(trained(fused, jit_compile), expected, moved, strict=True):
        assert distance > 0.05  # the steps moved the weights ...
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)  # ... where Keras' Adam moves them


def test_amsgrad_takes_keras_own_step():
    expected = trained(keras.optimizers.Adam(learning_rate=1e-2, amsgrad=True))
    for got, want in zip(trained(make_optimizer({"type": "adam", "learning_rate": 1e-2, "amsgrad": True})),
                         expected, strict=True):
        np.testing.assert_array_equal(got, want)
