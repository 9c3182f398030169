"""The hyperspherical VAE's fast vMF KL on known answers: its Bessel functions agree with TFP's
general float64 ones over orders and concentrations spanning both of their methods (series and
Hankel's expansion), and the KL and its closed-form gradient agree with TFP's registered KL and its
automatic gradient."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.bessel import BesselFirstKind, log_bessel_and_ratio
from genkit_plugins.hyperspherical import (
    FAST_KL_MAX_DIMENSION,
    FastKLVonMisesFisher,
    VonMisesFisherPosterior,
    kl_to_uniform,
)
from tensorflow_probability import distributions as tfd
from tensorflow_probability.python.math import bessel

CONCENTRATIONS = tf.constant(np.logspace(-3, 5, 300), tf.float64)


@pytest.mark.parametrize("order", [0.0, 0.5, 1.0, 9.0, 15.5, 31.0, 40.0])
def test_log_bessel_and_ratio_agree_with_tfp_in_float64(order):
    first, second = BesselFirstKind(order), BesselFirstKind(order + 1)
    assert CONCENTRATIONS.numpy().min() < first.switch < CONCENTRATIONS.numpy().max()  # both methods run
    log_i, ratio = log_bessel_and_ratio(first, second, CONCENTRATIONS)
    expected_log_i = bessel.log_bessel_ive(tf.constant(order, tf.float64), CONCENTRATIONS) + CONCENTRATIONS
    expected_ratio = bessel.bessel_iv_ratio(tf.constant(order + 1, tf.float64), CONCENTRATIONS)
    np.testing.assert_allclose(log_i.numpy(), expected_log_i.numpy(), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(ratio.numpy(), expected_ratio.numpy(), rtol=1e-11)


@pytest.mark.parametrize("dimension", [2, 3, 20, 64])
def test_kl_and_its_gradient_agree_with_tfps_registered_kl(dimension):
    k = tf.constant(np.logspace(-2, 4, 60), tf.float64)
    direction = tf.one_hot(tf.zeros(60, tf.int32), dimension, dtype=tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(k)
        fast = kl_to_uniform(k, dimension)
        uniform = tfd.SphericalUniform(dimension, dtype=tf.float64)
        reference = tfd.kl_divergence(tfd.VonMisesFisher(direction, k), uniform)
    np.testing.assert_allclose(fast.numpy(), reference.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(tape.gradient(fast, k).numpy(), tape.gradient(reference, k).numpy(), rtol=1e-6,
                               atol=1e-9)
    assert np.all(np.diff(fast.numpy()) > 0)  # more concentrated, further from uniform


def test_the_posterior_uses_the_fast_kl_up_to_its_largest_dimension():
    small = VonMisesFisherPosterior(FAST_KL_MAX_DIMENSION).distribution(tf.ones([2, FAST_KL_MAX_DIMENSION + 1]))
    large = VonMisesFisherPosterior(FAST_KL_MAX_DIMENSION + 1).distribution(tf.ones([2, FAST_KL_MAX_DIMENSION + 2]))
    assert isinstance(small, FastKLVonMisesFisher) and not isinstance(large, FastKLVonMisesFisher)
    fast = tfd.kl_divergence(small, tfd.SphericalUniform(FAST_KL_MAX_DIMENSION)).numpy()
    # TFP's float32 KL is a difference of two entropies and loses digits; its float64 one is the reference
    reference = tfd.kl_divergence(
        tfd.VonMisesFisher(tf.cast(small.mean_direction, tf.float64), tf.cast(small.concentration, tf.float64)),
        tfd.SphericalUniform(FAST_KL_MAX_DIMENSION, dtype=tf.float64))
    np.testing.assert_allclose(fast, reference.numpy(), rtol=1e-6)
