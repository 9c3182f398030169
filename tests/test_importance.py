"""The importance-weighted family on known answers: the bounds' arithmetic, their order on a model
with a known marginal likelihood, the DReG gradient's expectation and variance, PIWAE's phases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.importance import ImportanceWeighted, importance_bound
from test_evaluate import exact_model, imperfect_model, ppca_draws

import genkit


def test_the_bounds_arithmetic_against_a_hand_computation():
    log_weights = np.log(np.array([[1.0, 4.0], [3.0, 2.0], [2.0, 1.0], [6.0, 1.0]], np.float32))  # [4 samples, 2]
    iwae = importance_bound(tf.constant(log_weights), groups=1).numpy()
    np.testing.assert_allclose(iwae, np.log([(1 + 3 + 2 + 6) / 4, (4 + 2 + 1 + 1) / 4]), rtol=1e-6)
    miwae = importance_bound(tf.constant(log_weights), groups=2).numpy()  # groups of rows (0, 1) and (2, 3)
    np.testing.assert_allclose(miwae, [(np.log(2) + np.log(4)) / 2, (np.log(3) + np.log(1)) / 2], rtol=1e-6)


def bound(model: genkit.GenerativeAutoencoder, x: tf.Tensor, **arguments) -> float:
    objective = ImportanceWeighted(**arguments)
    values = [float(objective.loss_terms(model, {"x": x}, tf.constant([seed, 9]), training=False)["bound"])
              for seed in range(5)]
    return float(np.mean(values))


def test_bounds_are_ordered_between_the_elbo_and_log_px():
    """On probabilistic PCA with a wrong encoder: ELBO < MIWAE(4, 4) < IWAE_16, IWAE_5 < IWAE_16 <= log p(x)."""
    model = imperfect_model()
    x, log_px = ppca_draws()
    elbo = float(np.mean(model.elbo(x)))
    iwae5, iwae16 = bound(model, x, samples=5), bound(model, x, samples=16)
    miwae = bound(model, x, samples=4, groups=4)
    assert elbo < miwae < iwae16 and iwae5 < iwae16 < float(np.mean(log_px)) + 0.05
    # CIWAE trains on the convex combination; its reported bound is the IWAE part
    terms = ImportanceWeighted(samples=5, elbo_weight=0.25).loss_terms(model, {"x": x}, tf.constant([0, 9]), False)
    combined = 0.25 * float(terms["elbo"]) + 0.75 * float(terms["bound"])
    assert float(terms["loss"]) == pytest.approx(-combined, rel=1e-5)


def _encoder_gradients(model: genkit.GenerativeAutoencoder, estimator: str, seeds: range) -> np.ndarray:
    """Per seed, the encoder's gradient of the IWAE_8 loss (``iwae``) or of the DReG surrogate."""
    objective = ImportanceWeighted(samples=8, encoder="dreg")
    x = tf.constant(ppca_draws(32, seed=5)[0])
    grads = []
    for seed in seeds:
        with tf.GradientTape() as tape:
            if estimator == "iwae":
                loss = objective.loss_terms(model, {"x": x}, tf.constant([seed, 3]))["loss"]
            else:
                loss = objective._dreg_surrogate(model, {"x": x}, tf.constant([seed, 3]))["loss"]
        grads.append(np.concatenate([tf.reshape(g, [-1]).numpy()
                                     for g in tape.gradient(loss, model.encoder.trainable_variables)]))
    return np.stack(grads)


def test_dreg_has_the_iwae_gradient_in_expectation():
    seeds = range(40)
    model = imperfect_model(trainable=True)
    iwae, dreg = _encoder_gradients(model, "iwae", seeds), _encoder_gradients(model, "dreg", seeds)
    spread = iwae.std(axis=0) / math.sqrt(len(seeds))
    assert np.median(np.abs(dreg.mean(axis=0) - iwae.mean(axis=0)) / (spread + 1e-8)) < 2.0
    assert np.corrcoef(iwae.mean(axis=0), dreg.mean(axis=0))[0, 1] > 0.9


def test_dreg_sticks_the_landing_at_the_exact_posterior():
    """With q the true posterior every weight is p(x): the DReG gradient is exactly zero, sample by
    sample, while the plain IWAE estimator still varies around its zero mean (Tucker et al. 2018)."""
    model = exact_model(trainable=True)
    iwae, dreg = _encoder_gradients(model, "iwae", range(10)), _encoder_gradients(model, "dreg", range(10))
    assert np.max(np.abs(dreg)) < 1e-4
    assert np.mean(iwae.std(axis=0)) > 1e-2


def test_piwae_trains_the_decoder_and_the_encoder_in_phases_of_their_own(tiny_vae):
    tiny_vae["model"] = "piwae"
    del tiny_vae["divergence"]
    model = genkit.build(tiny_vae)
    main, encoder = model.phases()
    assert [main.name, encoder.name] == ["main", "encoder"]
    assert {id(v) for v in main.variables()} == {id(v) for v in model.decoder_variables()}
    assert {id(v) for v in encoder.variables()} == {id(v) for v in model.encoder_variables()}
    assert model.objective.groups == 4 and model.objective.samples == 4
    result = genkit.train({**tiny_vae, "train": {**tiny_vae["train"], "epochs": 2}}, progress=False)
    last = result.history[-1]
    assert {"bound", "elbo", "encoder_bound"} <= set(last) and last["bound"] > result.history[0]["bound"]
