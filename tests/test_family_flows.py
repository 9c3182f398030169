"""Flow posteriors and the hyperspherical VAE on known answers: each flow's log-density is the
change of variables computed by hand (a Jacobian by automatic differentiation), for its own samples
and, through its inverse, for any point; the vMF KL to the uniform distribution on the sphere is its
Monte Carlo estimate; and each posterior trains in a model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.flows import InverseAutoregressiveFlow, PlanarFlow, RadialFlow
from genkit_plugins.hyperspherical import SphericalUniformPrior, VonMisesFisherPosterior
from tensorflow_probability import distributions as tfd

from genkit.runs.train import train

SEED = tf.constant([3, 4], tf.int32)


def _iaf() -> InverseAutoregressiveFlow:
    head = InverseAutoregressiveFlow(3, layers=2, hidden=[8], context_size=2)
    for index, variable in enumerate(head.trainable_variables):  # off the identity it starts at
        variable.assign(0.5 * tf.random.stateless_normal(variable.shape, [7, index]))
    return head


def _shared(flow: type[PlanarFlow] | type[RadialFlow]) -> PlanarFlow | RadialFlow:
    """A flow whose steps all x share, its weights moved off the near-identity start."""
    head = flow(3, layers=3, amortized=False)
    assert head.param_size == 6  # the encoder gives only the base Gaussian
    head.shared_steps.assign(tf.random.stateless_normal(head.shared_steps.shape, [8, 9]))
    return head


@pytest.mark.parametrize("make", [_iaf, lambda: PlanarFlow(3, layers=3), lambda: RadialFlow(3, layers=3),
                                  lambda: _shared(PlanarFlow), lambda: _shared(RadialFlow)],
                         ids=["iaf", "planar", "radial", "shared-planar", "shared-radial"])
def test_flow_log_density_is_the_change_of_variables(make):
    head = make()
    params = tf.constant(np.random.default_rng(0).normal(size=(5, head.param_size)), tf.float32)
    q = head.distribution(params)
    eps = q.distribution.sample(seed=SEED)  # the base Gaussian
    with tf.GradientTape() as tape:
        tape.watch(eps)
        z = q.bijector.forward(eps)
    jacobian = tape.batch_jacobian(z, eps)  # each example's z depends on its own eps only
    expected = q.distribution.log_prob(eps) - tf.math.log(tf.abs(tf.linalg.det(jacobian)))
    np.testing.assert_allclose(q.log_prob(z).numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
    # a fresh tensor with the same values is not in the bijector cache: the inverse runs
    elsewhere = tf.constant(z.numpy())
    np.testing.assert_allclose(q.log_prob(elsewhere).numpy(), expected.numpy(), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(q.bijector.inverse(elsewhere).numpy(), eps.numpy(), atol=1e-4)
    assert np.max(np.abs(z.numpy() - eps.numpy())) > 0.1  # the flow is not the identity


def test_planar_steps_stay_invertible_whatever_the_encoder_gives():
    head = PlanarFlow(2, layers=1)
    params = np.zeros((1, head.param_size), np.float32)
    params[0, 4:6], params[0, 6:8] = [-10.0, 0.0], [1.0, 0.0]  # u against w: w.u = -10 before the fix
    step = head.distribution(tf.constant(params)).bijector.bijectors[0]
    assert float(step.wu[0]) > -1.0  # m(w.u) = softplus(w.u) - 1
    z = tf.constant(np.linspace(-3, 3, 50)[:, None] * [[1.0, 0.0]], tf.float32)[:, None, :]
    assert np.all(np.diff(step.forward(z).numpy()[:, 0, 0]) > 0)  # monotone along w


@pytest.mark.parametrize("dim", [3, 5])
def test_von_mises_fisher_kl_to_the_uniform_sphere_matches_monte_carlo(dim):
    head = VonMisesFisherPosterior(dim)
    # four directions with raw concentrations -2, 0, 2, 4
    params = tf.constant(np.c_[np.random.default_rng(1).normal(size=(4, dim)), [-2.0, 0.0, 2.0, 4.0]], tf.float32)
    q, prior = head.distribution(params), SphericalUniformPrior(dim).distribution()
    area = 2 * math.pi ** (dim / 2) / math.gamma(dim / 2)
    np.testing.assert_allclose(prior.log_prob(tf.one_hot([0], dim)).numpy(), -math.log(area), rtol=1e-5)
    analytic = tfd.kl_divergence(q, prior).numpy()  # TFP registers this pair: no fallback
    z = q.sample(20_000, seed=SEED)
    np.testing.assert_allclose(np.linalg.norm(z.numpy(), axis=-1), 1.0, atol=1e-5)  # on the sphere
    log_ratio = (q.log_prob(z) - prior.log_prob(z)).numpy()
    standard_error = log_ratio.std(axis=0) / math.sqrt(len(log_ratio))
    assert np.all(np.abs(log_ratio.mean(axis=0) - analytic) < 4 * standard_error + 1e-3), (analytic, log_ratio.mean(0))
    assert np.all(np.diff(analytic) > 0)  # more concentrated, further from uniform


@pytest.mark.parametrize("posterior", [{"type": "iaf", "layers": 2, "hidden": [16]}, {"type": "planar_flow"},
                                       {"type": "radial_flow"}, {"type": "planar_flow", "amortized": False},
                                       {"type": "von_mises_fisher"}],
                         ids=lambda p: p["type"] + ("-shared" if p.get("amortized") is False else ""))
def test_each_posterior_trains_in_a_model(tiny_vae, posterior):
    spherical = posterior["type"] == "von_mises_fisher"
    tiny_vae.update(latent_dim=3, posterior=posterior, divergence="kl" if spherical else "mc_kl",
                    prior="spherical_uniform" if spherical else "standard_normal")
    tiny_vae["data"]["validation_split"] = 0.0
    history = train(tiny_vae, progress=False).history
    assert history[-1]["loss"] < history[0]["loss"] - 5.0, [h["loss"] for h in history]
    assert all(h["divergence"] > 0 for h in history)


def test_shared_steps_are_the_same_for_every_x_and_train_as_weights():
    head = _shared(PlanarFlow)
    assert [v.name for v in head.trainable_variables] == ["steps"]
    params = tf.constant(np.random.default_rng(2).normal(size=(4, head.param_size)), tf.float32)
    q = head.distribution(params)
    eps = tf.zeros((4, 3))  # the same base point for every x: the same z, whatever each x's base
    z = q.bijector.forward(eps).numpy()
    np.testing.assert_allclose(z, np.repeat(z[:1], 4, axis=0), atol=1e-6)
    with tf.GradientTape() as tape:
        log_q = head.distribution(params).log_prob(tf.ones((4, 3)))
    assert float(tf.norm(tape.gradient(log_q, head.shared_steps))) > 0
