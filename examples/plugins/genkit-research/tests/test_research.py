"""genkit-research's plugins pass genkit's conformance suite, one pytest result per property, and
each has the property it exists for, checked at toy scale.

Run with `pytest` after `pip install -e .` (genkit installed first).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from genkit_research import IWAE, BetaTC, CodeHistogram, VectorQuantized

import genkit
from genkit.testing import parametrize_checks

#: Three code vectors of width 3, as a vector-quantized posterior outputs them.
CODEBOOK = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, -1.0], [2.0, 2.0, 2.0]], np.float32)


def codebook_codes(n: int, probabilities: list[float], shape: tuple[int, ...] = (2, 2, 3)) -> np.ndarray:
    """``n`` grids of ``shape`` whose positions hold CODEBOOK vectors drawn with ``probabilities``."""
    positions = int(np.prod(shape[:-1]))
    chosen = np.random.default_rng(0).choice(len(CODEBOOK), size=(n, positions), p=probabilities)
    return CODEBOOK[chosen].reshape(n, *shape)


@parametrize_checks("objective", IWAE, {"samples": 3})
def test_iwae_conformance(check):
    check()


@parametrize_checks("divergence", BetaTC, {"beta": 6.0})
def test_beta_tc_conformance(check):
    check()


@parametrize_checks("posterior", VectorQuantized, {"codes": 8}, latent_shape=(3, 3, 4))
def test_vector_quantized_conformance(check):
    check()


@parametrize_checks("sampler", CodeHistogram, {"smoothing": 0.1}, latent_shape=(2, 2, 3),
                    codes=codebook_codes(64, [0.5, 0.3, 0.2]))
def test_code_histogram_conformance(check):
    check()


#: A small VAE on 2-D points (untrained: its posterior is far from the true one, so bounds differ clearly).
TOY = {"latent_dim": 2, "data": {"type": "toy2d", "n_train": 200, "n_test": 50},
       "encoder": {"type": "mlp", "hidden": [16]}, "decoder": {"type": "mlp", "hidden": [16]},
       "likelihood": {"type": "gaussian", "scale": 0.3}, "train": {"batch_size": 50, "epochs": 1, "seed": 0}}


def points(n: int = 200) -> tf.Tensor:
    return tf.constant(np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32))


def test_the_five_sample_iwae_bound_is_above_the_elbo_of_the_same_model():
    model = genkit.build({**TOY, "objective": {"type": "iwae", "samples": 5}})
    batch, seed = {"x": points()}, tf.constant([0, 1])

    def bound(samples: int) -> float:
        return float(IWAE(samples=samples).loss_terms(model, batch, seed, training=False)["iwae_bound"])

    elbo = -float(model.autoencoder_loss_terms(batch, seed, training=False)["loss"])  # analytic KL
    trained_with = float(model.objective.loss_terms(model, batch, seed, training=False)["iwae_bound"])
    assert trained_with == pytest.approx(bound(5), rel=1e-6)
    assert bound(5) > elbo + 0.5  # tighter than the ELBO by far more than the Monte Carlo noise
    assert abs(bound(1) - elbo) < 0.5  # one sample: the ELBO itself, up to noise
    assert bound(1) < bound(5) < bound(50)  # and tighter as k grows


def test_beta_tc_reports_its_three_terms_and_weighs_them_per_example():
    model = genkit.build({**TOY, "latent_dim": 3, "divergence": {"type": "beta_tc_mws", "alpha": 1.0, "beta": 6.0,
                                                                    "gamma": 2.0}})
    x = points()
    assert model.divergence.size == model.context.num_train_examples == 180  # N from the context (10% validation)
    model.compile(run_eagerly=True)
    logs = model.evaluate(x, batch_size=len(x), return_dict=True, verbose=0)
    assert {"mi", "tc", "dimension_wise_kl"} <= set(logs)
    assert logs["divergence"] == pytest.approx(logs["mi"] + 6.0 * logs["tc"] + 2.0 * logs["dimension_wise_kl"],
                                               rel=1e-4)
    # per example: each term alone (unit weight on it), their weighted sum, and with unit weights the
    # decomposed KL adds up to the one-sample KL estimate log q(z|x) - log p(z)
    q, prior = model.posterior_distribution(x), model.prior_distribution()
    z, seed = q.sample(seed=tf.constant([3, 4])), tf.constant([5, 6])

    def per_example(alpha: float, beta: float, gamma: float) -> np.ndarray:
        divergence = BetaTC(3, model.divergence.size, alpha=alpha, beta=beta, gamma=gamma)
        return divergence.per_example(q, prior, z, seed).numpy()

    mi, tc, dimension_wise = per_example(1, 0, 0), per_example(0, 1, 0), per_example(0, 0, 1)
    np.testing.assert_allclose(model.divergence.per_example(q, prior, z, seed).numpy(),
                               mi + 6.0 * tc + 2.0 * dimension_wise, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(per_example(1, 1, 1), (q.log_prob(z) - prior.log_prob(z)).numpy(), rtol=1e-5,
                               atol=1e-4)


#: A VQ-VAE on 12x12 images: a 3x3 grid of 4-dimensional codes from an 8-code EMA codebook.
VQ = {"model": "ae", "latent_shape": [3, 3, 4], "data": {"type": "shapes", "size": 12, "n_train": 40, "n_test": 8},
      "encoder": {"type": "conv", "filters": [8, 8]}, "decoder": {"type": "conv", "filters": [8, 8]},
      "posterior": {"type": "vector_quantized", "codes": 8}, "train": {"batch_size": 32, "epochs": 1, "seed": 0}}


def test_vector_quantized_gradients_commitment_and_ema_codebook():
    model = genkit.build(VQ)
    x = (np.random.default_rng(1).uniform(size=(32, 12, 12, 1)) > 0.5).astype(np.float32)
    # straight-through: the reconstruction term alone (no commitment) trains the encoder
    with tf.GradientTape() as tape:
        reconstruction = tf.reduce_mean(model.per_example_terms({"x": tf.constant(x)}, None, tf.constant([0, 1])).
                                        reconstruction)
    gradients = tape.gradient(reconstruction, model.encoder.trainable_variables)
    assert gradients and all(g is not None and np.any(g.numpy() != 0) for g in gradients)
    # the commitment loss is reported, with the value it is defined as; evaluation leaves the codebook alone
    model.compile(run_eagerly=True)  # one step each: tracing would cost more than it saves
    codebook = model.posterior.codebook.numpy()
    logs = model.evaluate(x, batch_size=32, return_dict=True, verbose=0)
    z_e = model.encoder(x).numpy()
    z_q = model.posterior.point(model.posterior.distribution(tf.constant(z_e))).numpy()
    expected = 0.25 * np.mean(np.sum((z_e - z_q).reshape(32, -1) ** 2, axis=1))
    assert logs["commitment"] == pytest.approx(expected, rel=1e-4) and logs["commitment"] > 0
    assert 1.0 <= logs["perplexity"] <= 8.0
    np.testing.assert_array_equal(model.posterior.codebook.numpy(), codebook)
    # one training step moves the EMA statistics (every code starts unused, so all restart at outputs)
    model.fit(x, batch_size=32, epochs=1, verbose=0)
    assert not np.allclose(model.posterior.codebook.numpy(), codebook)
    assert np.all(model.posterior.counts.numpy() > 0)


def test_code_histogram_samples_the_fitted_frequencies_and_its_state_round_trips(tmp_path):
    codes = codebook_codes(400, [0.7, 0.2, 0.1])
    sampler = CodeHistogram((2, 2, 3), smoothing=0.0)
    sampler.fit(codes, seed=0)
    seed = tf.constant([7, 8])
    samples = sampler.sample(3000, seed).numpy().reshape(-1, 3)
    matches = np.all(samples[:, None, :] == CODEBOOK[None], axis=-1)
    assert np.all(matches.sum(axis=1) == 1)  # every sampled vector is one of the codes it was fitted on
    fitted = np.all(codes.reshape(-1, 3)[:, None, :] == CODEBOOK[None], axis=-1).mean(axis=0)
    np.testing.assert_allclose(matches.mean(axis=0), fitted, atol=0.02)
    np.savez(tmp_path / "code_histogram.npz", **sampler.state())
    restored = CodeHistogram((2, 2, 3), smoothing=0.0)
    with np.load(tmp_path / "code_histogram.npz", allow_pickle=False) as stored:
        restored.load_state({key: stored[key] for key in stored.files})
    np.testing.assert_array_equal(restored.sample(50, seed).numpy(), sampler.sample(50, seed).numpy())
