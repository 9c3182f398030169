"""Known-answer tests of the disentanglement scores, and ``genkit evaluate`` on sprites.

Three "encoders" of a small factor grid (a categorical factor and four ordered ones, the layout
of sprites): the true factors in shuffled, rescaled columns plus two noise dimensions (every score
about 1); pure noise (about 0, or chance for the two classification scores); and the true factors
with x and y replaced by x + y and x - y. That last code holds every factor, but x and y each in
two dimensions that also hold the other, so each score loses exactly what its definition says:
the two classification scores cannot tell x from y (3/5 + 2/5 * 1/2 = 0.8), SAP and MIG get no
gap for them (3/5), and DCI's disentanglement and completeness lose log 2 / log(size) on them.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from genkit_plugins.datasets.sprites import Sprites

import genkit
from genkit.results import metrics
from genkit.results.evaluation import DESCRIPTIONS, describe, disentanglement_scores

SIZES = (3, 6, 10, 8, 8)
CATEGORICAL = (True, False, False, False, False)
NOISE_DIMS = 2
COLUMNS = np.array([3, 0, 6, 2, 5, 1, 4])  # where each of the 7 code dimensions comes from
SCALES = np.array([2.0, 0.5, 1.0, 3.0, 1.0, 0.1, 1.0])


def true_code(factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The factors and two noise dimensions, shuffled and rescaled."""
    full = np.concatenate([factors, rng.standard_normal((len(factors), NOISE_DIMS))], axis=1)
    return full[:, COLUMNS] * SCALES


def random_code(factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((len(factors), 7))


def mixed_code(factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shape, scale, rotation, x + y, x - y and a noise dimension."""
    x, y = factors[:, 3], factors[:, 4]
    return np.stack([*factors[:, :3].T, x + y, x - y, rng.standard_normal(len(factors))], axis=1).astype(float)


ENCODERS = {"true": true_code, "random": random_code, "mixed": mixed_code}


def encoder(name: str):
    noise = np.random.default_rng(7)
    return lambda factors: ENCODERS[name](factors, noise)


def uniform_factors(n: int, seed: int = 0) -> np.ndarray:
    return genkit.FactorGrid(("a", "b", "c", "d", "e"), SIZES, CATEGORICAL).sample(n, np.random.default_rng(seed))


@pytest.mark.parametrize(("name", "low", "high"), [("true", 0.99, 1.0), ("random", 0.13, 0.27),
                                                    ("mixed", 0.72, 0.88)])
def test_beta_vae_score(name, low, high):
    """1 for the true factors, chance (1/5) for noise, 0.8 when x and y are mixed."""
    score = metrics.beta_vae_score(encoder(name), SIZES, np.random.default_rng(0), groups=600)
    assert low <= score <= high


@pytest.mark.parametrize(("name", "low", "high"), [("true", 0.99, 1.0), ("random", 0.12, 0.28),
                                                    ("mixed", 0.74, 0.86)])
def test_factor_vae_score(name, low, high):
    """The same known answers; x + y and x - y freeze together when x or y is fixed, so one of the
    two wins both dimensions' votes and the other's groups are all wrong."""
    score = metrics.factor_vae_score(encoder(name), SIZES, np.random.default_rng(0), groups=1500,
                                     variance_points=2000)
    assert low <= score <= high


def test_factor_vae_score_is_zero_when_every_dimension_collapsed():
    """Dimensions below the prune threshold cannot vote (a posterior collapsed to the prior)."""
    collapsed = metrics.factor_vae_score(lambda f: 0.01 * np.random.default_rng(0).standard_normal((len(f), 4)),
                                         SIZES, np.random.default_rng(0), groups=10, variance_points=100)
    assert collapsed == 0.0


@pytest.mark.parametrize(("name", "expected", "tolerance"), [("true", 1.0, 0.03), ("random", 0.0, 0.04),
                                                              ("mixed", 0.6, 0.04)])
def test_sap_score(name, expected, tolerance):
    factors = uniform_factors(3000)
    score, gaps = metrics.sap_score(encoder(name)(factors), factors, CATEGORICAL)
    assert score == pytest.approx(expected, abs=tolerance)
    if name == "mixed":  # x and y each have two equally good dimensions: no gap
        np.testing.assert_allclose(gaps, [1, 1, 1, 0, 0], atol=0.06)


def test_dci_on_the_true_factors_finds_one_dimension_per_factor_and_ignores_the_noise():
    factors = uniform_factors(3000)
    scores, importance = metrics.dci(encoder("true")(factors), factors, CATEGORICAL)
    assert scores == pytest.approx({"disentanglement": 1.0, "completeness": 1.0, "informativeness": 1.0}, abs=0.01)
    expected = np.zeros((7, 5))
    for dimension, source in enumerate(COLUMNS):
        if source < 5:
            expected[dimension, source] = 1.0
    np.testing.assert_allclose(importance, expected, atol=0.01)


def test_dci_of_noise_is_zero_and_of_a_mixed_code_loses_what_the_mixing_shares():
    factors = uniform_factors(3000)
    random, _ = metrics.dci(encoder("random")(factors), factors, CATEGORICAL)
    assert random == {"disentanglement": 0.0, "completeness": 0.0, "informativeness": pytest.approx(0, abs=0.05)}
    mixed, importance = metrics.dci(encoder("mixed")(factors), factors, CATEGORICAL)
    # dimensions 3 and 4 hold x and y half and half: each of those rows and columns has entropy log 2
    assert mixed["disentanglement"] == pytest.approx(1 - 2 / 5 * np.log(2) / np.log(5), abs=0.02)
    assert mixed["completeness"] == pytest.approx(1 - 2 / 5 * np.log(2) / np.log(6), abs=0.02)
    assert mixed["informativeness"] == pytest.approx(1.0, abs=0.01)  # a linear map still recovers x and y
    np.testing.assert_allclose(importance[3:5, 3:5], 0.5, atol=0.03)


def test_mig_agrees_on_the_same_codes():
    """The existing MIG sees the same three codes the same way (its gaps are per factor)."""
    factors = uniform_factors(3000)
    scores = {name: metrics.mutual_information_gap(encoder(name)(factors), factors)[0] for name in ENCODERS}
    assert scores["true"] > 0.95 and scores["random"] < 0.03 and scores["mixed"] == pytest.approx(0.6, abs=0.05)


def test_the_scores_refuse_grids_with_fewer_than_two_varying_factors():
    with pytest.raises(ValueError, match="two factors"):
        metrics.beta_vae_score(encoder("true"), (3, 1, 1, 1, 1), np.random.default_rng(0), groups=10)
    with pytest.raises(ValueError, match="two factors"):
        metrics.dci(np.zeros((30, 3)), np.stack([np.arange(30) % 3, np.zeros(30)], 1), (True, False))


# --- genkit evaluate on sprites ----------------------------------------------------------------

#: A deterministic autoencoder (no ELBO or log p(x) to compute) on small sprites.
SPRITES_AE = {
    "name": "sprites",
    "model": "ae",
    "latent_dim": 4,
    "data": {"type": "sprites", "size": 16, "scales": 3, "rotations": 4, "positions": 4, "n_train": 200,
             "n_test": 100},
    "encoder": {"type": "mlp", "hidden": [16]},
    "decoder": {"type": "mlp", "hidden": [16]},
    "likelihood": "bernoulli",
    "train": {"epochs": 1, "batch_size": 50, "seed": 0},
}


def test_evaluate_reports_the_disentanglement_scores_for_a_dataset_that_renders_factors(tmp_path):
    """A model (untrained: the wiring is what is tested) evaluated on sprites gets every score, each
    described; budgets of 0 turn them off."""
    spec = tmp_path / "sprites.yaml"
    spec.write_text(yaml.safe_dump(SPRITES_AE))
    model = genkit.build(spec)
    scores = ["beta_vae_score", "factor_vae_score", "sap", "dci_disentanglement", "dci_completeness",
              "dci_informativeness"]
    result = genkit.evaluate(model, spec, k=2, progress=False, factor_points=600, factor_groups=60,
                             quality_samples=0)
    assert all(0.0 <= result[name] <= 1.0 for name in scores)
    assert all(describe(name) == DESCRIPTIONS[name] != "" for name in scores)
    assert "mig" in result and "fid" not in result
    sprites = Sprites(**{key: value for key, value in SPRITES_AE["data"].items() if key != "type"})
    assert disentanglement_scores(model, sprites, points=0, groups=0) == {}
