"""Posterior heads against independent numpy/scipy computations, and in an assembled model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from genkit_plugins.posteriors import DiagonalGaussian, FlowPosterior, FullCovarianceGaussian
from genkit_plugins.priors import StandardNormal
from scipy import stats

import genkit

tfd = tfp.distributions
LATENT = 3
RNG = np.random.default_rng(7)


def _softplus(a: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(a))


def test_full_covariance_log_prob_matches_scipy_multivariate_normal():
    head = FullCovarianceGaussian(LATENT, min_scale=1e-3)
    assert head.param_size == LATENT + LATENT * (LATENT + 1) // 2
    params = RNG.normal(size=(5, head.param_size)).astype(np.float32)
    q = head.distribution(tf.constant(params))
    tril = q.scale_tril.numpy()
    z = RNG.normal(size=(5, LATENT)).astype(np.float32)
    for i in range(5):
        lower = tril[i]
        assert np.allclose(lower, np.tril(lower)), "the scale must be lower triangular"
        raw = params[i, LATENT:]
        diagonal = np.diag(lower)
        # every raw number is used exactly once: off-diagonal entries as they are, the diagonal
        # through softplus + min_scale
        raw_diagonal = np.log(np.expm1(diagonal - 1e-3))
        used = np.concatenate([lower[np.tril_indices(LATENT, -1)], raw_diagonal])
        np.testing.assert_allclose(np.sort(used), np.sort(raw), rtol=1e-4, atol=1e-5)
        expected = stats.multivariate_normal(params[i, :LATENT], lower @ lower.T).logpdf(z[i])
        np.testing.assert_allclose(q.log_prob(z).numpy()[i], expected, rtol=1e-5)


def test_full_covariance_kl_to_standard_normal_is_the_closed_form():
    head = FullCovarianceGaussian(LATENT)
    params = RNG.normal(size=(4, head.param_size)).astype(np.float32)
    q = head.distribution(tf.constant(params))
    kl = tfd.kl_divergence(q, StandardNormal(LATENT).distribution()).numpy()
    tril, mu = q.scale_tril.numpy(), params[:, :LATENT]
    for i in range(4):
        cov = tril[i] @ tril[i].T
        closed = 0.5 * (np.trace(cov) + mu[i] @ mu[i] - LATENT - np.linalg.slogdet(cov)[1])
        np.testing.assert_allclose(kl[i], closed, rtol=1e-4)


def test_registered_kl_refuses_a_non_normal_independent_prior():
    head = FullCovarianceGaussian(LATENT)
    q = head.distribution(tf.zeros((1, head.param_size)))
    laplace = tfd.Independent(tfd.Laplace(tf.zeros(LATENT), 1.0), reinterpreted_batch_ndims=1)
    with pytest.raises(NotImplementedError, match="Laplace"):
        tfd.kl_divergence(q, laplace)


def test_diagonal_gaussian_log_prob_matches_scipy():
    params = RNG.normal(size=(4, 2 * LATENT)).astype(np.float32)
    z = RNG.normal(size=(4, LATENT)).astype(np.float32)
    scale = _softplus(params[:, LATENT:]) + 1e-5
    expected = stats.norm(params[:, :LATENT], scale).logpdf(z).sum(axis=1)
    np.testing.assert_allclose(DiagonalGaussian(LATENT).distribution(tf.constant(params)).log_prob(z), expected,
                               rtol=1e-5)


def test_flow_variables_exist_right_after_construction():
    flow = FlowPosterior(4, layers=3, hidden=[16, 8], context_size=5)
    # per coupling layer: Dense(2+5 -> 16), Dense(16 -> 8), Dense(8 -> 2 * 2), a kernel and a bias each
    assert len(flow.trainable_variables) == 3 * 3 * 2
    assert [tuple(v.shape) for v in flow.trainable_variables[:2]] == [(7, 16), (16,)]
    assert flow.param_size == 2 * 4 + 5


def _flow_with_large_weights(context_size: int) -> FlowPosterior:
    flow = FlowPosterior(2, layers=3, hidden=[16], context_size=context_size)
    for index, variable in enumerate(flow.trainable_variables):
        variable.assign(tf.random.stateless_normal(variable.shape, [3, index]) * 0.4)
    return flow


def test_flow_density_integrates_to_one_and_differs_from_its_base():
    flow = _flow_with_large_weights(context_size=2)
    params = tf.constant([[0.3, -0.2, -0.5, 0.1, 1.0, -1.0]])
    q = flow.distribution(params)
    step = 0.04
    axis = np.arange(-8.0, 8.0, step) + step / 2
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 1, 2).astype(np.float32)
    density = np.exp(q.log_prob(grid).numpy())
    assert density.sum() * step**2 == pytest.approx(1.0, abs=2e-3)
    base = np.exp(q.distribution.log_prob(grid).numpy())
    assert np.abs(density - base).sum() * step**2 > 0.2, "the flow should reshape the base Gaussian"


def test_flow_depends_on_the_context_and_its_point_is_the_flowed_base_mean():
    flow = _flow_with_large_weights(context_size=2)
    base = [0.3, -0.2, -0.5, 0.1]
    q = flow.distribution(tf.constant([base + [1.0, -1.0], base + [-1.0, 2.0]]))
    point = flow.point(q).numpy()
    assert not np.allclose(point[0], point[1]), "the same base with another context should move the point"
    np.testing.assert_allclose(point, q.bijector.forward(tf.constant([base[:2], base[:2]])).numpy(), rtol=1e-6)
    z = q.sample(seed=(1, 2))
    np.testing.assert_allclose(q.log_prob(z).numpy(), q.log_prob(tf.identity(z) + 0.0).numpy(), rtol=1e-4)


def test_flow_refuses_one_latent_dimension():
    with pytest.raises(ValueError, match="latent_dim >= 2"):
        FlowPosterior(1)


def test_full_covariance_vae_assembles_and_its_elbo_uses_the_analytic_kl(tiny_vae):
    tiny_vae["posterior"] = {"type": "full_covariance_gaussian"}
    tiny_vae["encoder"] = {"type": "mlp", "hidden": [8]}
    tiny_vae["decoder"] = {"type": "mlp", "hidden": [8]}
    model = genkit.build(tiny_vae, data_shape=(12, 12, 1))
    x = (np.random.default_rng(0).uniform(size=(6, 12, 12, 1)) > 0.5).astype(np.float32)
    terms = model.elbo_terms(x)
    q = model.posterior_distribution(tf.constant(x))
    np.testing.assert_allclose(terms["kl"], tfd.kl_divergence(q, model.prior_distribution()).numpy(), rtol=1e-5)
    assert np.all(np.isfinite(terms["elbo"])) and np.all(terms["kl"] > 0)


def test_full_covariance_kl_to_a_standard_normal_works_inside_tf_function():
    """The registered KL is used in the compiled training step, so it must trace."""
    import genkit

    spec = {
        "latent_dim": 2, "data": {"type": "toy2d", "n_train": 40}, "posterior": "full_covariance_gaussian",
        "likelihood": "gaussian", "encoder": {"type": "mlp", "hidden": [4]}, "decoder": {"type": "mlp", "hidden": [4]},
        "train": {"epochs": 1, "batch_size": 8},
    }
    result = genkit.train(spec, progress=False)
    assert np.isfinite(result.history[0]["divergence"]) and result.history[0]["divergence"] > 0
