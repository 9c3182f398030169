"""The Hamiltonian VAE on known answers: its importance weights estimate p(x) without bias, checked
on a linear Gaussian model whose log p(x) is closed-form; with one tiny step and no tempering its
bound is the plain ELBO; the model's ELBO and log-likelihood use its draws; it trains."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import multivariate_normal

import genkit
from genkit.results.evaluation import importance_weighted_log_likelihood

SEED = tf.constant([5, 6], tf.int32)


def _linear_gaussian(tiny_toy: dict, **objective) -> dict:
    """2-D toy data, a linear decoder (no hidden layer), fixed Gaussian noise and N(0, I) prior."""
    spec = copy.deepcopy(tiny_toy)
    spec.update(name="tiny-hvae", model="hvae", latent_dim=2, decoder={"type": "mlp", "hidden": []},
                likelihood={"type": "gaussian", "scale": 0.5}, prior="standard_normal",
                objective={"type": "hamiltonian", **objective})
    spec.pop("divergence", None)
    return spec


def _analytic_log_px(model, x: np.ndarray) -> np.ndarray:
    """log N(x; b, W^T W + s^2 I) of the linear decoder mean z W + b with noise s."""
    [dense] = [layer for layer in model.decoder._flatten_layers() if hasattr(layer, "kernel")]
    w, b = dense.kernel.numpy(), dense.bias.numpy()
    covariance = w.T @ w + 0.25 * np.eye(2)
    return multivariate_normal(b, covariance).logpdf(x.reshape(len(x), -1))


def test_the_hamiltonian_weights_estimate_p_x_without_bias(tiny_toy):
    model = genkit.build(_linear_gaussian(tiny_toy, steps=3, step_size=0.2, tempering=0.5))
    x = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    exact = _analytic_log_px(model, x)
    estimate = importance_weighted_log_likelihood(model, x, k=20_000, seed=1)
    # a lower bound that k = 20,000 draws tighten to within a few hundredths on average; a weight
    # missing the tempering's volume change, beta_0^(d/2), would be off by log 2 = 0.69 nats
    assert abs(np.mean(estimate - exact)) < 0.03 and np.all(np.abs(estimate - exact) < 0.15), (estimate, exact)
    bound = model.elbo(x, seed=2)  # one draw each: below log p(x) on average
    assert np.mean(bound) < np.mean(exact) - 0.05


def test_one_tiny_step_without_tempering_is_the_plain_elbo(tiny_toy):
    spec = _linear_gaussian(tiny_toy, steps=1, step_size=1e-6, learn_step_size=False, tempering=1.0,
                            learn_tempering=False)
    model = genkit.build(spec)
    x = tf.constant(np.random.default_rng(1).normal(size=(5, 2)), tf.float32)
    log_px, rest = model.objective.variational_terms(model, x, None, SEED, samples=3)
    q = model.posterior_distribution(x)
    z = q.sample(3, seed=tf.random.experimental.stateless_split(SEED, 2)[0])  # the draw the objective made
    expected_log_px = -model.reconstruction_of(x, z)
    expected_rest = model.prior_distribution().log_prob(z) - q.log_prob(z)
    np.testing.assert_allclose(log_px.numpy(), expected_log_px.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rest.numpy(), expected_rest.numpy(), rtol=1e-4, atol=1e-4)


def test_the_model_reports_the_bound_it_trains_on(tiny_vae):
    spec = copy.deepcopy(tiny_vae)
    spec.update(model="hvae", objective={"type": "hamiltonian", "steps": 2})
    spec.pop("divergence", None)
    spec["data"]["validation_split"] = 0.0
    result = genkit.train(spec, progress=False)
    history = result.history
    assert history[-1]["loss"] < history[0]["loss"] - 5.0, [h["loss"] for h in history]
    assert history[-1]["bound"] == pytest.approx(-history[-1]["loss"], rel=1e-6)
    assert 0 < history[-1]["tempering"] < 1 and history[-1]["step_size"] > 0
    model, x = result.model, genkit.load_split(genkit.load_spec(spec), "test").x[:20]
    terms = model.elbo_terms(x, seed=3)
    log_px, rest = model.objective.variational_terms(model, tf.constant(x), None,
                                                     tf.constant([3, 0], tf.int32), samples=1)
    np.testing.assert_allclose(terms["reconstruction"], -log_px.numpy()[0], rtol=1e-4)
    np.testing.assert_allclose(terms["elbo"], (log_px + rest).numpy()[0], rtol=1e-4)


def test_the_hamiltonian_objective_needs_a_density_to_move_on(tiny_vae):
    spec = copy.deepcopy(tiny_vae)
    spec.update(model="ae", prior="standard_normal", divergence="none", objective="hamiltonian")
    with pytest.raises(genkit.GenkitError, match="needs a stochastic posterior and a prior with a density"):
        genkit.build(spec).phases()
