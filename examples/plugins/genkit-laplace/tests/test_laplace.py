"""The Laplace prior passes genkit's conformance checks, and its KL matches a Monte Carlo estimate."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from genkit_laplace import Laplace, kl_normal_laplace

from genkit.testing import check_prior

tfd = tfp.distributions


def test_conformance():
    check_prior(Laplace, {"scale": 0.5})
    check_prior(Laplace, {"scale": 2.0, "learn_scale": True})


def test_closed_form_kl_matches_monte_carlo():
    loc = tf.constant([0.0, 1.5, -0.7, 3.0])
    scale = tf.constant([1.0, 0.3, 2.0, 0.8])
    q, p = tfd.Normal(loc, scale), tfd.Laplace(0.4, 1.3)
    z = q.sample(400_000, seed=[1, 2])
    monte_carlo = tf.reduce_mean(q.log_prob(z) - p.log_prob(z), axis=0).numpy()
    closed_form = kl_normal_laplace(q, p).numpy()
    np.testing.assert_allclose(closed_form, monte_carlo, atol=0.01)
    # the registered KL is the one tfd.kl_divergence dispatches to, also through tfd.Independent
    np.testing.assert_allclose(tfd.kl_divergence(q, p).numpy(), closed_form, rtol=1e-6)
    batch = tfd.Independent(tfd.Normal(tf.stack([loc, -loc]), scale), 1)
    prior = Laplace(latent_dim=4, scale=1.3).distribution()
    summed = tfd.kl_divergence(batch, prior).numpy()
    expected = [kl_normal_laplace(tfd.Normal(m, scale), tfd.Laplace(0.0, 1.3)).numpy().sum() for m in (loc, -loc)]
    np.testing.assert_allclose(summed, expected, rtol=1e-5)


def test_kl_is_smallest_near_the_matching_normal():
    """For p = Laplace(0, b), the best Normal N(0, s^2) has s close to b: KL grows away from it."""
    p = tfd.Laplace(0.0, 1.0)
    sigmas = np.linspace(0.3, 3.0, 28).astype(np.float32)
    kl = kl_normal_laplace(tfd.Normal(0.0, sigmas), p).numpy()
    best = sigmas[np.argmin(kl)]
    # d/ds [sqrt(2/pi) s / b - log s] = 0  =>  s = b sqrt(pi/2)
    assert abs(best - np.sqrt(np.pi / 2)) < 0.1
    assert np.all(kl > 0)
