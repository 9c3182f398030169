"""Known-answer tests for genkit's evaluation.

The central check is a linear Gaussian model (probabilistic PCA): z ~ N(0, I), x|z ~ N(Wz + b,
s^2 I), whose marginal log p(x) = log N(x; b, WW^T + s^2 I) is known in closed form. Built from
genkit's own posterior, likelihood, prior and divergence plugins with fixed linear networks, it
lets us check the importance-weighted estimator against the truth: exact with the true posterior,
approaching the truth from below as k grows with an imperfect one. The latent metrics are checked
on synthetic codes whose answers are known by construction.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.divergences import AnalyticKL
from genkit_plugins.likelihoods import Gaussian
from genkit_plugins.posteriors import DiagonalGaussian
from genkit_plugins.priors import StandardNormal

import genkit
from genkit.plugin.dataset import ArrayData
from genkit.plugin.networks import Decoder, Encoder
from genkit.results import metrics
from genkit.results.evaluation import importance_weighted_log_likelihood

DATA_DIM, LATENT_DIM, NOISE = 6, 2, 0.4
MIN_SCALE = 1e-5


class FixedLinearEncoder(Encoder):
    """Outputs [x A + c, raw scale]: the parameters of a diagonal Gaussian q(z|x) with given weights
    (trainable variables when ``trainable``, for gradient tests)."""

    def __init__(self, data_shape, output_size, matrix, offset, scale, condition_dim=0, trainable=False):
        super().__init__(data_shape, output_size, condition_dim)
        raw = np.log(np.expm1(np.asarray(scale) - MIN_SCALE))  # softplus(raw) + min_scale = scale
        for name, value in (("matrix", matrix), ("offset", offset), ("raw_scale", raw)):
            value = np.asarray(value, np.float32)
            setattr(self, name, self.add_weight(name=name, shape=value.shape, trainable=trainable,
                                                initializer=keras.initializers.Constant(value)))

    def call(self, x, condition=None, training=False):
        loc = x @ self.matrix + self.offset
        return tf.concat([loc, tf.broadcast_to(self.raw_scale, tf.shape(loc))], axis=-1)


class FixedLinearDecoder(Decoder):
    """x mean = z W^T + b with fixed weights."""

    def __init__(self, latent_dim, output_shape, weights, bias, condition_dim=0):
        super().__init__(latent_dim, output_shape, condition_dim)
        self.weights_t = tf.constant(np.asarray(weights).T, tf.float32)
        self.bias = tf.constant(bias, tf.float32)

    def call(self, z, condition=None, training=False):
        return z @ self.weights_t + self.bias


def ppca_parameters() -> dict[str, np.ndarray]:
    """W with orthogonal columns (norms 2 and 1), so the exact posterior is diagonal."""
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((DATA_DIM, LATENT_DIM)))
    weights = q * np.array([2.0, 1.0])
    bias = np.linspace(-1.0, 1.0, DATA_DIM)
    m = weights.T @ weights + NOISE**2 * np.eye(LATENT_DIM)
    posterior_matrix = (np.linalg.inv(m) @ weights.T).T  # mean = (x - b) @ posterior_matrix
    posterior_std = np.sqrt(np.diag(NOISE**2 * np.linalg.inv(m)))
    return {"weights": weights, "bias": bias, "posterior_matrix": posterior_matrix, "posterior_std": posterior_std}


def ppca_model(matrix: np.ndarray, offset: np.ndarray, scale: np.ndarray,
               trainable: bool = False) -> genkit.GenerativeAutoencoder:
    """A genkit model of probabilistic PCA whose encoder is the given linear Gaussian q(z|x)."""
    params = ppca_parameters()
    keras.utils.set_random_seed(0)
    model = genkit.GenerativeAutoencoder(
        encoder=FixedLinearEncoder((DATA_DIM,), 2 * LATENT_DIM, matrix, offset, scale, trainable=trainable),
        posterior=DiagonalGaussian(LATENT_DIM, min_scale=MIN_SCALE),
        decoder=FixedLinearDecoder(LATENT_DIM, (DATA_DIM,), params["weights"], params["bias"]),
        likelihood=Gaussian((DATA_DIM,), scale=NOISE),
        prior=StandardNormal(LATENT_DIM),
        divergence=AnalyticKL(LATENT_DIM),
        context=genkit.Context((LATENT_DIM,), (DATA_DIM,)),
    )
    model.build_variables({"x": np.zeros((2, DATA_DIM), np.float32)})
    return model


def exact_model(trainable: bool = False) -> genkit.GenerativeAutoencoder:
    """PPCA with the exact posterior N(M^-1 W^T (x - b), s^2 M^-1) as encoder."""
    p = ppca_parameters()
    return ppca_model(p["posterior_matrix"], -p["bias"] @ p["posterior_matrix"], p["posterior_std"], trainable)


def imperfect_model(trainable: bool = False) -> genkit.GenerativeAutoencoder:
    """PPCA with a deliberately wrong encoder: shrunk, shifted means and too wide a posterior."""
    p = ppca_parameters()
    return ppca_model(0.7 * p["posterior_matrix"], -0.7 * p["bias"] @ p["posterior_matrix"] + 0.3,
                      1.8 * p["posterior_std"], trainable)


def ppca_draws(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws from the PPCA model and their exact log p(x) = log N(x; b, W W^T + s^2 I)."""
    p = ppca_parameters()
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, LATENT_DIM))
    x = (z @ p["weights"].T + p["bias"] + NOISE * rng.standard_normal((n, DATA_DIM))).astype(np.float32)
    cov = p["weights"] @ p["weights"].T + NOISE**2 * np.eye(DATA_DIM)
    centred = x - p["bias"]
    _, logdet = np.linalg.slogdet(cov)
    maha = np.einsum("ni,ij,nj->n", centred, np.linalg.inv(cov), centred)
    log_px = -0.5 * (DATA_DIM * np.log(2 * np.pi) + logdet + maha)
    return x, log_px


@pytest.fixture(scope="module")
def ppca_data() -> tuple[np.ndarray, np.ndarray]:
    return ppca_draws()


def test_iwae_with_the_exact_posterior_is_exact_per_example(ppca_data):
    """Every importance weight equals p(x) when q is the true posterior, so the estimate is exact
    for every example, whatever k and however examples and samples are chunked (uneven here)."""
    x, log_px = ppca_data
    estimate = importance_weighted_log_likelihood(exact_model(), x, k=1000, batch_size=64, samples_per_pass=300)
    np.testing.assert_allclose(estimate, log_px, atol=2e-3)


def test_elbo_with_the_exact_posterior_equals_log_px_on_average(ppca_data):
    x, log_px = ppca_data
    elbo = exact_model().elbo(x)
    assert abs(np.mean(elbo) - np.mean(log_px)) < 0.15  # one-sample noise: std of the mean ~0.05


def test_iwae_approaches_log_px_from_below_as_k_grows(ppca_data):
    """Imperfect encoder: the gap E[log p(x)] - IWAE_k is positive, shrinks with k, and the ELBO is below."""
    x, log_px = ppca_data
    model = imperfect_model()
    exact = float(np.mean(log_px))
    gaps, errors = {}, {}
    for k in (1, 10, 100, 1000):
        estimate = importance_weighted_log_likelihood(model, x, k=k, seed=k)
        gaps[k] = exact - float(np.mean(estimate))
        errors[k] = float(np.std(estimate - log_px) / np.sqrt(len(x)))  # Monte Carlo std of the mean gap
    assert gaps[1] > 1.0  # the encoder is far enough off to matter
    assert gaps[1] > gaps[10] > gaps[100] > gaps[1000]
    assert gaps[1000] < 0.05 * gaps[1]
    assert all(gaps[k] > -3 * errors[k] for k in gaps)  # never above log p(x) beyond Monte Carlo error
    elbo = model.elbo_terms(x)
    assert np.mean(elbo["elbo"]) < exact - 1.0
    np.testing.assert_allclose(elbo["elbo"], -(elbo["reconstruction"] + elbo["kl"]), rtol=1e-6)


def test_compiled_passes_fall_back_when_xla_cannot_compile():
    """An op XLA cannot compile (a numpy callback) still runs, through the plain tf.function."""
    from genkit.results.evaluation import _compiled

    assert float(_compiled(lambda t: tf.numpy_function(np.sin, [t], tf.float32))(tf.constant(1.0))) == \
        pytest.approx(np.sin(1.0))


def test_small_evaluations_run_without_xla_and_agree_with_it(ppca_data):
    """Under :data:`XLA_MIN_PAIRS` pairs the passes are plain graphs (XLA's compilation would cost
    more than it saves). The two draw different samples (XLA's stateless random streams are not
    the graph's), so the check uses the exact posterior, under which every sample's weight is p(x)."""
    from genkit.results.evaluation import XLA_MIN_PAIRS, _iwae_plan, _log_px_batch

    x, _ = ppca_data
    model = exact_model()
    (small, passes), (large, _) = (_iwae_plan(model, 10, 100, None, n) for n in (len(x), XLA_MIN_PAIRS))
    assert isinstance(small, tf.types.experimental.PolymorphicFunction)
    assert not isinstance(large, tf.types.experimental.PolymorphicFunction)  # the XLA pass, with its fallback
    plain, xla = (_log_px_batch(fn, x[:100], None, passes, 3, 0, lambda: None) for fn in (small, large))
    np.testing.assert_allclose(plain, xla, rtol=1e-5)


def test_evaluate_reports_every_applicable_metric_for_given_arrays(ppca_data):
    """``genkit.evaluate`` on a model object and arrays: the ELBO terms, log p(x) close to the truth,
    and no label or factor metrics when the data have none."""
    x, log_px = ppca_data
    result = genkit.evaluate(exact_model(), ArrayData(x), k=50, progress=False)
    assert result["examples"] == 300 and result["k"] == 50
    assert result["log_likelihood"] == pytest.approx(float(np.mean(log_px)), abs=2e-3)
    assert result["elbo"] == pytest.approx(-(result["elbo_reconstruction"] + result["elbo_kl"]), abs=1e-4)
    assert result["active_units"] == 2  # both latent dims carry signal (posterior means vary with x)
    assert abs(result["mmd"]) < 0.02  # exact posterior: the aggregate posterior is the prior
    assert "reconstruction_bce" not in result and "linear_probe_accuracy" not in result and "mig" not in result


# --- latent metrics on synthetic codes --------------------------------------------------------


def test_active_units_counts_dimensions_with_varying_means():
    rng = np.random.default_rng(0)
    means = np.concatenate([rng.normal(0, 1.0, (1000, 3)), rng.normal(0, 0.01, (1000, 4))], axis=1)
    count, variances = metrics.active_units(means)
    assert count == 3
    assert np.all(variances[:3] > 0.5) and np.all(variances[3:] < 1e-3)


def test_mig_is_high_for_a_copy_of_the_factors_and_near_zero_for_random_codes():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 4, 5000), rng.uniform(0, 1, 5000), rng.uniform(0, 6, 5000)], 1)
    copy = np.concatenate([factors, rng.standard_normal((5000, 2))], axis=1)[:, [3, 0, 1, 4, 2]]
    copy_score, gaps = metrics.mutual_information_gap(copy, factors)
    random_score, _ = metrics.mutual_information_gap(rng.standard_normal((5000, 5)), factors)
    assert copy_score > 0.95 and np.all(gaps > 0.95)
    assert random_score < 0.03
    # a code mixing two factors into every dimension scores low even though it is informative
    mixed = np.stack([factors[:, 1] + factors[:, 2] / 6, factors[:, 1] - factors[:, 2] / 6], 1)
    assert metrics.mutual_information_gap(mixed, factors[:, 1:])[0] < 0.3


def test_cluster_accuracy_sees_through_a_permuted_labelling():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 1000)
    permutation = np.array([3, 0, 4, 1, 2])
    assert metrics.cluster_accuracy(labels, permutation[labels]) == 1.0
    clusters = permutation[labels].copy()
    clusters[:100] = (clusters[:100] + 1) % 5  # 100 of 1000 moved to a wrong cluster
    assert metrics.cluster_accuracy(labels, clusters) == pytest.approx(0.9, abs=0.005)
    assert metrics.cluster_accuracy(labels, np.zeros(1000)) == pytest.approx(np.mean(labels == np.bincount(labels)
                                                                                     .argmax()))


def test_majority_cluster_accuracy_maps_each_cluster_to_its_training_majority():
    # clusters 0, 1 hold class 0 (cluster 1 with one class-1 stray), 2 holds class 1, 3 class 2;
    # cluster 4 has only an unlabelled training example, so its test example is wrong
    train_labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, -1])
    train_clusters = np.array([0, 0, 1, 1, 1, 2, 2, 3, 4])
    test_labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    test_clusters = np.array([0, 1, 1, 2, 3, 2, 4, 5])
    # right: (0 -> 0), (1 -> 0), (2 -> 1), (3 -> 2); wrong: 1 in cluster 1, 2 in cluster 2, clusters 4, 5
    accuracy = metrics.majority_cluster_accuracy(train_labels, train_clusters, test_labels, test_clusters)
    assert accuracy == 4 / 8
    labels = np.random.default_rng(0).integers(0, 3, 300)
    split = np.repeat([0, 1], 150)  # two clusters per class: many-to-one is exact, one-to-one is not
    assert metrics.majority_cluster_accuracy(labels, 2 * labels + split, labels, 2 * labels + split[::-1]) == 1.0
    assert metrics.cluster_accuracy(labels, 2 * labels + split) < 0.6


def test_linear_probe_separates_separable_codes_and_guesses_on_noise():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (4, 8))

    def codes(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 4, n)
        return centres[labels] + rng.normal(0, 0.5, (n, 8)), labels

    (train_x, train_y), (test_x, test_y) = codes(400), codes(400)
    assert metrics.linear_probe_accuracy(train_x, train_y, test_x, test_y) == 1.0
    noise = metrics.linear_probe_accuracy(rng.normal(size=(400, 8)), train_y, rng.normal(size=(400, 8)), test_y)
    assert noise < 0.4  # chance is 0.25


def test_mmd_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1000, 4)), rng.standard_normal((1000, 4))
    assert abs(metrics.mmd_squared(a, b)) < 0.005
    assert metrics.mmd_squared(a, b + 1.0) > 0.05
