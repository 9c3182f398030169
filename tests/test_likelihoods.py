"""Each likelihood's log_prob and mean against a direct numpy computation, and its check_data rules."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.likelihoods import Bernoulli, Categorical8Bit, ContinuousBernoulli, Gaussian

SHAPE = (2, 3, 1)
RNG = np.random.default_rng(42)
#: A fixed batch: logits / means and 8-bit data in [0, 1], four examples.
PARAMS = RNG.normal(size=(4, *SHAPE)).astype(np.float32) * 2.0
X = (RNG.integers(0, 256, size=(4, *SHAPE)) / 255.0).astype(np.float32)


def _sum_per_example(values: np.ndarray) -> np.ndarray:
    return values.reshape(values.shape[0], -1).sum(axis=1)


def _log_prob(likelihood, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    return likelihood.distribution(tf.constant(params)).log_prob(tf.constant(x)).numpy()


def _log_sigmoid(a: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -a)


def test_bernoulli_log_prob_is_minus_binary_cross_entropy():
    expected = _sum_per_example(X * _log_sigmoid(PARAMS) + (1 - X) * _log_sigmoid(-PARAMS))
    np.testing.assert_allclose(_log_prob(Bernoulli(SHAPE), PARAMS, X), expected, rtol=1e-5)


def _gaussian_log_prob(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    return _sum_per_example(-0.5 * np.log(2 * np.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2))


def test_fixed_gaussian_is_scaled_squared_error_plus_constant():
    likelihood = Gaussian(SHAPE, scale=0.5)
    squared_error = _sum_per_example((X - PARAMS) ** 2)
    constant = np.prod(SHAPE) * np.log(0.5 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(-_log_prob(likelihood, PARAMS, X), squared_error / (2 * 0.25) + constant, rtol=1e-5)
    assert likelihood.trainable_variables == []


@pytest.mark.parametrize("variance, shape", [("global", ()), ("per_dimension", SHAPE)])
def test_learned_gaussian_variance_uses_softplus_of_its_variable(variance, shape):
    likelihood = Gaussian(SHAPE, scale=0.7, variance=variance)
    (raw,) = likelihood.trainable_variables
    assert tuple(raw.shape) == shape
    np.testing.assert_allclose(np.log1p(np.exp(raw.numpy())), 0.7, rtol=1e-5)  # starts at `scale`
    raw.assign(RNG.normal(size=shape).astype(np.float32))
    sigma = np.log1p(np.exp(raw.numpy())) + 1e-6
    np.testing.assert_allclose(_log_prob(likelihood, PARAMS, X), _gaussian_log_prob(X, PARAMS, sigma), rtol=1e-5)


def _continuous_bernoulli_log_norm(lam: np.ndarray) -> np.ndarray:
    """log C(lam), C(lam) = 2 atanh(1 - 2 lam) / (1 - 2 lam)."""
    return np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))


def test_continuous_bernoulli_is_bernoulli_plus_log_normalizer():
    params = np.where(np.abs(PARAMS) < 0.2, 0.5, PARAMS)  # keep lam away from 1/2, where C's formula is 0/0
    lam = 1 / (1 + np.exp(-params))
    bernoulli = _sum_per_example(X * np.log(lam) + (1 - X) * np.log(1 - lam))
    expected = bernoulli + _sum_per_example(_continuous_bernoulli_log_norm(lam))
    likelihood = ContinuousBernoulli(SHAPE)
    np.testing.assert_allclose(_log_prob(likelihood, params, X), expected, rtol=1e-4)
    mean = likelihood.mean(likelihood.distribution(tf.constant(params))).numpy()
    np.testing.assert_allclose(mean, lam / (2 * lam - 1) + 1 / (2 * np.arctanh(1 - 2 * lam)), rtol=1e-4)


def test_categorical_8bit_is_softmax_cross_entropy_of_the_level():
    likelihood = Categorical8Bit(SHAPE)
    assert likelihood.param_shape == (*SHAPE, 256)
    logits = RNG.normal(size=(4, *SHAPE, 256)).astype(np.float32)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    levels = np.round(X * 255).astype(np.int64)
    expected = _sum_per_example(np.take_along_axis(log_softmax, levels[..., None], axis=-1)[..., 0])
    np.testing.assert_allclose(_log_prob(likelihood, logits, X), expected, rtol=1e-5)
    mean = likelihood.mean(likelihood.distribution(tf.constant(logits))).numpy()
    np.testing.assert_allclose(mean, (np.exp(log_softmax) * np.arange(256) / 255).sum(axis=-1), rtol=1e-5)


def test_categorical_8bit_counts_float_round_off_as_the_level():
    logits = RNG.normal(size=(1, 1, 256)).astype(np.float32)
    exact, nudged = np.array([[100 / 255]], np.float32), np.array([[100 / 255 + 1e-4]], np.float32)
    np.testing.assert_allclose(_log_prob(Categorical8Bit((1,)), logits, exact),
                               _log_prob(Categorical8Bit((1,)), logits, nudged))


@pytest.mark.parametrize("likelihood", [Bernoulli(SHAPE), ContinuousBernoulli(SHAPE), Categorical8Bit(SHAPE)])
def test_unit_interval_likelihoods_refuse_data_outside_it(likelihood):
    assert likelihood.check_data(X) is None
    problem = likelihood.check_data(np.array([[-1.0, 0.5, 3.0]], np.float32))
    assert "needs values in [0, 1]" in problem and "[-1, 3]" in problem


def test_categorical_8bit_refuses_data_between_levels():
    assert Categorical8Bit(SHAPE).check_data(np.full((2, *SHAPE), 0.5 / 255, np.float32)) is not None
    problem = Categorical8Bit(SHAPE).check_data(np.array([[0.0, 0.3, 1.0, 0.5]]))
    assert "8-bit values" in problem and "50.0%" in problem


def test_gaussian_accepts_any_finite_data_and_refuses_nan():
    assert Gaussian(SHAPE).check_data(X * 100.0 - 30.0) is None
    assert "NaN" in Gaussian(SHAPE).check_data(np.array([[1.0, np.nan]]))
