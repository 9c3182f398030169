"""The VQ-VAE: one step of the codebook's moving averages, the commitment loss and the straight-through
gradient on known numbers, dead codes restarting where the codebook serves the outputs worst; on the
built-in shapes, a short training uses more than half of the codebook, and the autoregressive prior
over the code grid beats an independent per-position histogram on held-out codes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.quantized import AutoregressiveCodes, VectorQuantizer, nearest_codes

import genkit
from genkit.assembly.data import load_split
from genkit.plugin.component import recording
from genkit.runs.train import train

CODES = 16
SPEC = {
    "name": "vq-test",
    "model": "vq_vae",
    "latent_shape": [7, 7, 4],
    "data": {"type": "shapes", "size": 28, "n_train": 600, "n_test": 200, "validation_split": 0.0},
    "encoder": {"type": "conv", "filters": [8, 16]},
    "decoder": {"type": "conv", "filters": [16, 8]},
    "posterior": {"type": "vq", "codes": CODES},
    "sampler": {"type": "autoregressive_codes", "hidden": [64], "fit_epochs": 30},  # 540 Adam steps
    "train": {"epochs": 3, "batch_size": 50, "optimizer": {"type": "adam", "learning_rate": 3e-3}, "seed": 0},
}


def _apply(record) -> None:
    for variable, value in record.updates:
        variable.assign(value)


def test_one_step_of_the_moving_averages_the_commitment_loss_and_straight_through_gradients():
    vq = VectorQuantizer(2, latent_shape=(1, 2, 2), codes=2, decay=0.9, epsilon=0.0, restart_below=1e-6)
    vq.share.assign([0.5, 0.5])
    vq.total.assign([[0.0, 0.0], [0.5, 0.5]])  # codebook (0, 0) and (1, 1)
    params = tf.constant([[[[0.1, 0.0], [0.9, 1.2]]]])  # one grid of two positions, one near each code
    weights = tf.constant([[[[1.0, 2.0], [3.0, 4.0]]]])
    with recording(training=True) as record, tf.GradientTape() as tape:
        tape.watch(params)
        z = vq.distribution(params).sample(seed=[1, 2])
        weighted = tf.reduce_sum(z * weights)
    np.testing.assert_allclose(z.numpy(), [[[[0.0, 0.0], [1.0, 1.0]]]], atol=1e-6)
    np.testing.assert_allclose(tape.gradient(weighted, params).numpy(), weights.numpy())  # straight through
    terms = record.totals()
    assert float(terms["commitment"]) == pytest.approx(0.25 * (0.1**2 + 0.1**2 + 0.2**2), rel=1e-5)
    assert float(terms["perplexity"]) == pytest.approx(2.0, rel=1e-5)
    _apply(record)
    np.testing.assert_allclose(vq.share.numpy(), [0.5, 0.5], rtol=1e-6)  # 0.9 * 0.5 + 0.1 * 1/2
    # total = 0.9 * total + 0.1 * (the code's outputs summed) / positions
    np.testing.assert_allclose(vq.total.numpy(), [[0.005, 0.0], [0.495, 0.51]], rtol=1e-5)
    np.testing.assert_allclose(vq.codebook.numpy(), [[0.01, 0.0], [0.99, 1.02]], rtol=1e-5)
    with recording(training=False) as evaluation:
        vq.distribution(params)
    assert not evaluation.updates  # evaluation leaves the codebook alone


def test_a_dead_code_restarts_at_the_output_the_codebook_serves_worst():
    vq = VectorQuantizer(2, latent_shape=(3, 2), codes=3, epsilon=0.0)
    vq.share.assign([0.5, 0.5, 0.0])  # code 2 is dead
    vq.total.assign([[0.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    params = tf.constant([[[0.0, 0.0], [1.0, 1.0], [4.0, -3.0]]])  # the third output is far from every code
    with recording(training=True) as record:
        vq.distribution(params)
    _apply(record)
    np.testing.assert_allclose(vq.codebook.numpy()[2], [4.0, -3.0], rtol=1e-5)
    assert float(vq.updates.numpy()) == 1.0  # the next restart draws from a new stream


@pytest.fixture(scope="module")
def trained():
    result = train(SPEC, progress=False)
    spec = genkit.load_spec(SPEC)
    return result, load_split(spec, "train").x, load_split(spec, "test").x


def _indices(model, x: np.ndarray) -> np.ndarray:
    return nearest_codes(tf.constant(model.encode(x)), model.posterior.codebook).numpy().reshape(len(x), -1)


def test_a_short_training_uses_more_than_half_of_the_codebook(trained):
    result, _, test_x = trained
    model = result.model
    codes = model.encode(test_x)
    codebook = model.posterior.codebook.numpy()
    # encode returns codebook rows exactly
    assert all(np.any(np.all(row == codebook, axis=1)) for row in codes.reshape(-1, 4)[:200])
    used = len(np.unique(_indices(model, test_x)))
    last = result.history[-1]
    assert used > CODES // 2, (used, last["perplexity"])
    assert last["perplexity"] > 2.0 and last["commitment"] > 0.0
    assert last["reconstruction"] < 0.5 * result.history[0]["reconstruction"]


def test_the_autoregressive_prior_beats_an_independent_histogram_on_held_out_codes(trained):
    result, train_x, test_x = trained
    model = result.model
    train_indices, test_indices = _indices(model, train_x), _indices(model, test_x)
    counts = np.stack([np.bincount(column, minlength=CODES) for column in train_indices.T]) + 0.5
    log_frequency = np.log(counts / counts.sum(axis=1, keepdims=True))
    histogram = log_frequency[np.arange(test_indices.shape[1]), test_indices].sum(axis=1).mean()
    autoregressive = model.sampler.log_prob(model.encode(test_x)).mean()
    assert autoregressive > histogram + 5.0, (autoregressive, histogram)


def test_the_sampler_round_trips_its_state_and_draws_grids_of_codes(trained):
    result, _, _ = trained
    model, sampler = result.model, result.model.sampler
    again = AutoregressiveCodes(tuple(SPEC["latent_shape"]), hidden=[64])
    again.attach(model)
    again.load_state(sampler.state())
    seed = tf.constant([5, 6])
    drawn = sampler.sample(6, seed).numpy()
    np.testing.assert_array_equal(again.sample(6, seed).numpy(), drawn)
    np.testing.assert_array_equal(tf.function(lambda s: sampler.sample(6, s))(seed).numpy(), drawn)  # TF ops only
    codebook = model.posterior.codebook.numpy()
    assert drawn.shape == (6, 7, 7, 4) and all(np.any(np.all(row == codebook, axis=1)) for row in drawn.reshape(-1, 4))
    assert model.sample(3, seed=1).shape == (3, 28, 28, 1)


def test_the_autoregressive_sampler_needs_a_codebook(tiny_vae):
    tiny_vae["sampler"] = "autoregressive_codes"
    with pytest.raises(genkit.GenkitError, match="needs a posterior with a codebook"):
        genkit.build(tiny_vae)
