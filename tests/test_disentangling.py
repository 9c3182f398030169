"""The disentangling divergences on known answers: the KL decomposition adds up, total correlation
separates correlated from independent codes, FactorVAE's permutation keeps marginals and breaks
dependence, DIP-VAE's penalty is zero exactly at identity covariance, capacity follows its
schedule, InfoVAE is its stated combination; and each trains in a model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.disentangling import (
    DIPVAE,
    CapacityKL,
    InfoVAE,
    TotalCorrelation,
    permute_dimensions,
    stratified_log_weights,
)
from genkit_plugins.divergences import mmd_per_example
from tensorflow_probability import distributions as tfd

import genkit
from genkit.runs.train import train


def posteriors(means: np.ndarray, scale: float = 0.3) -> tfd.Distribution:
    means = tf.constant(means, tf.float32)
    return tfd.Independent(tfd.Normal(means, scale * tf.ones_like(means)), 1)


PRIOR = tfd.Independent(tfd.Normal(tf.zeros(2), 1.0), 1)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_the_three_parts_add_up_to_the_one_sample_kl(estimator):
    q = posteriors(np.random.default_rng(0).normal(size=(64, 2)))
    z = q.sample(seed=[1, 2])
    parts = TotalCorrelation(2, num_train_examples=1000, estimator=estimator).decomposition(q, PRIOR, z)
    total = parts["mi"] + parts["tc"] + parts["dimension_wise_kl"]
    np.testing.assert_allclose(total.numpy(), (q.log_prob(z) - PRIOR.log_prob(z)).numpy(), rtol=1e-4, atol=1e-4)


def test_stratified_weights_make_each_row_an_average_over_the_dataset():
    """Row i weights its own posterior 1/N, the next example's (the stratum of the N - M examples not
    in the batch) (N - M) / (N M) and the others 1/M: the weights sum to one, so q(z_i) is estimated
    as an average of posteriors (Chen et al. 2018, appendix C.2)."""
    weights = np.exp(stratified_log_weights(tf.constant(8), 100).numpy())
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.diag(weights), 1 / 100, rtol=1e-6)
    np.testing.assert_allclose(weights[0, 1], (100 - 7) / (100 * 7), rtol=1e-6)
    np.testing.assert_allclose(weights[7, 0], (100 - 7) / (100 * 7), rtol=1e-6)  # the last row wraps around


def test_total_correlation_is_larger_for_correlated_codes():
    rng = np.random.default_rng(1)
    independent = rng.normal(size=(256, 2))
    line = rng.normal(size=(256, 1))
    correlated = np.concatenate([line, line + 0.05 * rng.normal(size=(256, 1))], axis=1)
    divergence = TotalCorrelation(2, num_train_examples=256)
    tc = {}
    for name, means in (("independent", independent), ("correlated", correlated)):
        q = posteriors(means, scale=0.1)
        tc[name] = float(tf.reduce_mean(divergence.decomposition(q, PRIOR, q.sample(seed=[3, 4]))["tc"]))
    assert tc["correlated"] > tc["independent"] + 1.0 and abs(tc["independent"]) < 0.5


def test_permuting_dimensions_keeps_marginals_and_breaks_dependence():
    line = np.linspace(-1, 1, 200)[:, None]
    z = tf.constant(np.concatenate([line, 2 * line], axis=1), tf.float32)
    shuffled = permute_dimensions(z, tf.constant([5, 6])).numpy()
    for column in range(2):
        np.testing.assert_allclose(np.sort(shuffled[:, column]), np.sort(z.numpy()[:, column]))
    assert abs(np.corrcoef(shuffled.T)[0, 1]) < 0.2 < 0.99 < np.corrcoef(z.numpy().T)[0, 1]


def test_dip_vae_penalty_is_zero_at_identity_covariance_and_matches_the_formula():
    means = np.random.default_rng(2).normal(size=(500, 2))
    whitened = np.linalg.solve(np.linalg.cholesky(np.cov(means.T, bias=True)), (means - means.mean(0)).T).T
    divergence = DIPVAE(2, kind="i", lambda_od=10.0, lambda_d=100.0)
    q = posteriors(whitened)
    z = q.sample(seed=[1, 1])
    np.testing.assert_allclose(divergence.per_example(q, PRIOR, z, None).numpy(),
                               tfd.kl_divergence(q, PRIOR).numpy(), atol=1e-3)
    skewed = posteriors(means * np.array([1.0, 2.0]))
    covariance = np.cov((means * np.array([1.0, 2.0])).T, bias=True)
    expected = 10.0 * 2 * covariance[0, 1] ** 2 + 100.0 * np.sum((np.diag(covariance) - 1) ** 2)
    penalty = divergence.per_example(skewed, PRIOR, skewed.sample(seed=[1, 1]), None) - tfd.kl_divergence(skewed,
                                                                                                          PRIOR)
    np.testing.assert_allclose(penalty.numpy(), expected, rtol=1e-3)
    # type ii adds the mean posterior variance (0.3^2) to the diagonal
    second = DIPVAE(2, kind="ii").covariance(skewed).numpy()
    np.testing.assert_allclose(second, covariance + 0.09 * np.eye(2), rtol=1e-3)


def test_capacity_grows_linearly_then_holds():
    divergence = CapacityKL(2, capacity=20.0, steps=100, gamma=2.0)
    assert [float(divergence.capacity_at(tf.constant(s))) for s in (0, 50, 100, 500)] == [0.0, 10.0, 20.0, 20.0]
    q = posteriors(np.full((4, 2), 3.0))
    kl = float(tf.reduce_mean(tfd.kl_divergence(q, PRIOR)))
    np.testing.assert_allclose(divergence.per_example(q, PRIOR, q.mean(), None).numpy(), 2.0 * abs(kl - 0.0))


def test_capacity_holds_the_batch_mean_or_every_examples_kl_at_c():
    # two examples with KLs on either side of C = 5: the batch mean sits at C, the examples do not
    q = posteriors(np.array([[0.5, 0.0], [4.0, 0.0]]))
    kl = tfd.kl_divergence(q, PRIOR).numpy()
    batch, example = (CapacityKL(2, capacity=float(kl.mean()), steps=1, gamma=2.0, reduce=reduce)
                      for reduce in ("batch", "example"))
    for divergence in (batch, example):
        divergence.attach(type("Surface", (), {"step": tf.constant(1, tf.int64)})())  # C reached
    np.testing.assert_allclose(batch.per_example(q, PRIOR, q.mean(), None).numpy(), [0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(example.per_example(q, PRIOR, q.mean(), None).numpy(),
                               2.0 * np.abs(kl - kl.mean()), rtol=1e-5)
    assert kl[1] - kl[0] > 5.0  # the examples' KLs differ by more than a rounding error


def test_info_vae_is_its_weighted_kl_and_mmd():
    q = posteriors(np.random.default_rng(3).normal(size=(32, 2)))
    z = q.sample(seed=[2, 2])
    divergence = InfoVAE(2, alpha=0.25, lambda_=10.0)
    seed = tf.constant([7, 7])
    expected = 0.75 * tfd.kl_divergence(q, PRIOR) + 9.25 * mmd_per_example(
        z, PRIOR.sample(32, seed=seed), "rbf", [1.0])
    np.testing.assert_allclose(divergence.per_example(q, PRIOR, z, seed).numpy(), expected.numpy(), rtol=1e-5)


@pytest.mark.parametrize("preset, metrics", [
    ("beta_tc_vae", {"mi", "tc", "dimension_wise_kl"}), ("factor_vae", {"tc", "discriminator_accuracy"}),
    ("dip_vae", {"off_diagonal", "diagonal"}), ("capacity_vae", {"capacity_now", "kl"}), ("info_vae", {"kl", "mmd"}),
])
def test_each_preset_trains_and_reports_its_parts(tiny_vae, preset, metrics):
    tiny_vae["model"] = preset
    del tiny_vae["divergence"]
    tiny_vae["train"]["epochs"] = 2
    result = train(tiny_vae, progress=False)
    last = result.history[-1]
    assert metrics <= set(last) and all(np.isfinite(last[key]) for key in metrics)
    assert last["reconstruction"] < result.history[0]["reconstruction"]
    if preset == "capacity_vae":  # the step reaches the divergence: C has moved off 0 by the second epoch
        assert last["capacity_now"] > result.history[0]["capacity_now"] > 0.0


@pytest.mark.parametrize("size, real, fake", [(7, 3, 4), (2, 1, 1), (1, 1, 1)])
def test_factor_vae_halves_compare_one_half_of_the_batch_with_the_other(tiny_vae, size, real, fake):
    tiny_vae["model"] = "factor_vae"
    tiny_vae["divergence"] = {"type": "factor_vae", "hidden": [8], "discriminator_codes": "halves"}
    model = genkit.build(tiny_vae)
    seen = []
    logits = model.divergence._logits
    model.divergence._logits = lambda z, batch=None: seen.append(z) or logits(z, batch)
    discriminator = next(phase for phase in model.phases() if phase.name == "discriminator")
    x = tf.constant(np.random.default_rng(0).random((size, 12, 12, 1)), tf.float32)
    loss = discriminator.loss({"x": x}, tf.constant([3, 4]))["loss"]
    assert [int(z.shape[0]) for z in seen] == [real, fake] and np.isfinite(float(loss))
