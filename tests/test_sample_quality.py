"""Sample quality: the Fréchet distance and k-NN precision/recall, and genkit's cached feature network.

The distances are checked on Gaussians with known answers; the feature network on small shapes
images (it trains in a second or two), where FID and precision/recall must see the data as
themselves and noise as something else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import yaml
from conftest import TINY_VAE
from genkit_plugins.datasets.shapes import Shapes

import genkit
from genkit.results import features, metrics
from genkit.results.evaluation import DESCRIPTIONS, sample_quality
from genkit.results.report import render_report


def test_frechet_distance_matches_the_closed_form():
    """Diagonal Gaussians: |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2; any covariances: the textbook
    formula with scipy's matrix square root on the same sample moments."""
    rng = np.random.default_rng(0)
    a = rng.normal([0, 0, 0], [1, 2, 0.5], (20000, 3))
    b = rng.normal([1, 0, -1], [1, 1, 1.5], (20000, 3))
    assert metrics.frechet_distance(a, b) == pytest.approx(2 + 1 + 1, rel=0.03)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    mixing = rng.standard_normal((3, 3))
    c, d = a @ mixing, b @ mixing.T
    cov_c, cov_d = np.cov(c, rowvar=False), np.cov(d, rowvar=False)
    textbook = (np.sum((c.mean(0) - d.mean(0)) ** 2)
                + np.trace(cov_c + cov_d - 2 * scipy.linalg.sqrtm(cov_c @ cov_d).real))
    assert metrics.frechet_distance(c, d) == pytest.approx(textbook, rel=1e-6)


def test_precision_and_recall_measure_realism_and_coverage_separately():
    rng = np.random.default_rng(0)
    modes = np.array([[-6.0, 0.0], [6.0, 0.0]])
    real = modes[rng.integers(0, 2, 1000)] + rng.standard_normal((1000, 2))
    same = modes[rng.integers(0, 2, 1000)] + rng.standard_normal((1000, 2))
    one_mode = modes[0] + rng.standard_normal((1000, 2))
    assert metrics.precision_recall(real, real) == (1.0, 1.0)
    precision, recall = metrics.precision_recall(real, same)
    assert precision > 0.9 and recall > 0.9
    precision, recall = metrics.precision_recall(real, one_mode)  # realistic, but covers half of the data
    assert precision > 0.9 and recall == pytest.approx(0.5, abs=0.05)
    assert metrics.precision_recall(real, real + 100.0) == (0.0, 0.0)


@pytest.fixture(scope="module")
def shapes() -> tuple[genkit.ArrayData, genkit.ArrayData]:
    dataset = Shapes(size=12, n_train=300, n_test=300, rotate=False, centred=True)
    return dataset.load("train"), dataset.load("test")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def network(shapes, cache) -> features.FeatureNetwork:
    train, _ = shapes
    return features.feature_network(train.x, train.y, cache=cache)


def test_the_feature_network_is_trained_once_and_then_read_from_the_cache(shapes, network, cache, monkeypatch):
    """Its weights are kept under the key of the data; the same data load them, other data get another key."""
    train, test = shapes
    assert (cache / "features" / f"{network.key}.weights.h5").is_file()
    monkeypatch.setattr(features, "_train", lambda *args: pytest.fail("trained again"))
    again = features.feature_network(train.x, train.y, cache=cache)
    assert again.key == network.key
    np.testing.assert_array_equal(again.features(test.x), network.features(test.x))
    monkeypatch.undo()
    assert features.feature_network(train.x[::-1], train.y[::-1], epochs=0, cache=cache).key != network.key
    monkeypatch.setenv("GENKIT_CACHE_DIR", "/somewhere/else")
    assert features.cache_dir() == Path("/somewhere/else")


def test_fid_and_precision_recall_in_the_feature_space_see_data_as_data_and_noise_as_noise(shapes, network):
    """FID(data, data) is 0 and small for another sample of the data; it grows with every step of
    added noise. Precision and recall are 1 for the data themselves, high for another sample, and 0
    for uniform noise images."""
    train, test = shapes
    real, other = network.features(train.x), network.features(test.x)
    assert metrics.frechet_distance(real, real) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(0)
    noisy = [metrics.frechet_distance(real, network.features(np.clip(test.x + level * rng.standard_normal(
        test.x.shape), 0, 1))) for level in (0.0, 0.1, 0.2, 0.4, 0.8)]
    assert np.all(np.diff(noisy) > 0), noisy
    assert noisy[0] < 0.1 * noisy[-1]
    assert metrics.precision_recall(real, real) == (1.0, 1.0)
    assert min(metrics.precision_recall(real, other)) > 0.85
    noise = network.features(rng.uniform(size=test.x.shape))
    assert metrics.precision_recall(real, noise) == (0.0, 0.0)


class Replay:
    """Stands in for a model: its samples are given images (the data, or noise)."""

    conditional = False

    def __init__(self, images: np.ndarray):
        self.images = images

    def sample(self, n: int, labels=None, seed=None) -> np.ndarray:
        return self.images[:n]


def test_sample_quality_scores_samples_against_test_images(shapes, network, cache):
    """A "model" replaying training images scores near-perfectly, one drawing noise scores badly
    (in the module's feature network, read from the cache)."""
    train, test = shapes
    data = sample_quality(Replay(train.x), test, train, samples=200, cache=cache)
    noise = sample_quality(Replay(np.random.default_rng(0).uniform(size=train.x.shape)), test, train, samples=200,
                           cache=cache)
    assert data["quality_samples"] == 200 and set(data) == {"fid", "precision", "recall", "feature_accuracy",
                                                            "quality_samples"}
    assert data["fid"] < 0.1 * noise["fid"]
    assert min(data["precision"], data["recall"]) > 0.8 and noise["precision"] == noise["recall"] == 0.0
    assert data["feature_accuracy"] == noise["feature_accuracy"]  # a property of the network, not the samples


def test_evaluate_reports_sample_quality_for_labelled_images(tmp_path):
    """Any model that samples: here an autoencoder with a prior (no ELBO to compute), untrained."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({**{k: v for k, v in TINY_VAE.items() if k != "divergence"}, "model": "ae"}))
    result = genkit.evaluate(genkit.build(spec), spec, progress=False, quality_samples=50)
    assert result["quality_samples"] == 50 and result["fid"] >= 0 and 0 <= result["precision"] <= 1
    assert all(DESCRIPTIONS[name] for name in ("fid", "precision", "recall", "feature_accuracy"))


def test_the_report_shows_the_new_numbers_with_their_meaning():
    """genkit report lists metrics_eval.json through the evaluation table: the new keys come with
    their descriptions (the report's look is not this test's business)."""
    import html

    page = render_report("run", "", {"fid": 12.5, "beta_vae_score": 0.75}, [], [], "spec")
    assert html.escape(DESCRIPTIONS["fid"]) in page and html.escape(DESCRIPTIONS["beta_vae_score"]) in page
