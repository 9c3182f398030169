"""The assembled model: ELBO against a hand computation, the numpy API, AE vs VAE, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import genkit


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def test_elbo_equals_hand_computation(tiny_vae):
    model = genkit.build(tiny_vae)
    x = (np.random.default_rng(3).uniform(size=(5, 12, 12, 1)) > 0.5).astype(np.float32)
    terms = model.elbo_terms(x, seed=7)

    # the same z the model draws: one reparameterized sample from q with the stateless seed [7, 0]
    params = model.encoder(tf.constant(x)).numpy()
    mu, sigma = params[:, :2], softplus(params[:, 2:]) + 1e-5
    q = model.posterior_distribution(tf.constant(x))
    z = q.sample(seed=tf.constant([7, 0], tf.int32)).numpy()

    logits = model.decoder(tf.constant(z)).numpy().reshape(5, -1)
    flat = x.reshape(5, -1)
    log_lik = np.sum(flat * -softplus(-logits) + (1 - flat) * -softplus(logits), axis=1)
    kl = np.sum(0.5 * (mu**2 + sigma**2 - 1.0) - np.log(sigma), axis=1)

    np.testing.assert_allclose(terms["reconstruction"], -log_lik, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(terms["kl"], kl, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(terms["elbo"], log_lik - kl, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(model.elbo(x, seed=7), terms["elbo"])


def test_training_loss_with_beta_one_is_minus_elbo_in_expectation(tiny_vae):
    model = genkit.build(tiny_vae)
    x = (np.random.default_rng(0).uniform(size=(400, 12, 12, 1)) > 0.7).astype(np.float32)
    loss = np.mean([float(model.loss_terms({"x": tf.constant(x)}, tf.constant([s, 1]))["loss"]) for s in range(10)])
    elbo = np.mean([model.elbo(x, seed=s).mean() for s in range(10)])
    assert loss == pytest.approx(-elbo, rel=2e-3)


def test_numpy_api_shapes_and_tensor_inputs(tiny_vae):
    model = genkit.build(tiny_vae)
    x = np.random.default_rng(0).uniform(size=(7, 12, 12, 1)).astype(np.float32)
    for inputs in (x, tf.constant(x)):
        z = model.encode(inputs)
        assert z.shape == (7, 2) and isinstance(z, np.ndarray)
        recon = model.reconstruct(inputs)
        assert recon.shape == (7, 12, 12, 1) and recon.min() >= 0 and recon.max() <= 1
    assert model.decode(np.zeros((3, 2), np.float32)).shape == (3, 12, 12, 1)
    assert model.sample(5, seed=1).shape == (5, 12, 12, 1)
    np.testing.assert_array_equal(model.sample(5, seed=1), model.sample(5, seed=1))
    assert model.elbo(x).shape == (7,)
    # encode returns the posterior mean: the first half of the encoder's output
    np.testing.assert_allclose(model.encode(x), model.encoder(tf.constant(x)).numpy()[:, :2], rtol=1e-6)


def test_plain_autoencoder_has_no_prior_and_trains(tiny_vae):
    spec = {**tiny_vae, "model": "ae"}
    for key in ("prior", "divergence"):
        spec.pop(key)
    result = genkit.train(spec, progress=False)
    model = result.model
    assert model.posterior.deterministic and model.prior is None
    x = np.random.default_rng(0).uniform(size=(4, 12, 12, 1)).astype(np.float32)
    np.testing.assert_array_equal(model.encode(x), model.encode(x))  # deterministic code
    assert result.history[-1]["divergence"] == 0.0
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    with pytest.raises(genkit.GenkitError, match="no prior"):
        model.sample(2)
    with pytest.raises(genkit.GenkitError, match="stochastic posterior"):
        model.elbo(x)


def test_same_seed_same_metrics_and_weights(tiny_toy):
    first = genkit.train(tiny_toy, progress=False)
    second = genkit.train(tiny_toy, progress=False)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_second")} for r in rows]  # noqa: E731
    assert strip(first.history) == strip(second.history)
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    tiny_toy["train"]["seed"] = 1
    third = genkit.train(tiny_toy, progress=False)
    assert strip(third.history) != strip(first.history)


def test_gaussian_likelihood_on_toy_points_learns(tiny_toy):
    tiny_toy["train"]["epochs"] = 6
    result = genkit.train(tiny_toy, progress=False)
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < losses[0] - 0.2
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]


def test_conditional_model_uses_labels(tiny_vae):
    tiny_vae["conditional"] = True
    model = genkit.build(tiny_vae)
    assert model.condition_dim == 4  # four shape classes, one-hot
    z = np.zeros((4, 2), np.float32)
    per_class = model.decode(z, labels=np.arange(4))
    assert not np.allclose(per_class[0], per_class[1])  # the label changes the output for the same z
    np.testing.assert_allclose(model.decode(z[:1], labels=2)[0], per_class[2], rtol=1e-5)
    with pytest.raises(genkit.GenkitError, match="pass labels"):
        model.sample(2)
    with pytest.raises(genkit.GenkitError, match=r"class indices in \[0, 3\]"):
        model.sample(2, labels=4)
