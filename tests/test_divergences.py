"""Known-answer tests of the divergences: analytic and Monte Carlo KL against the Gaussian closed
form, the no-closed-form fallback, MMD, warm-up schedules, free bits, a mixture-prior VAE that
learns, and the adversarial divergence's two phases touching only their own variables."""

from __future__ import annotations

import copy
import warnings

import genkit_plugins.divergences as divergences
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from conftest import TINY_TOY
from genkit_plugins.divergences import (
    MMD,
    AnalyticKL,
    MonteCarloFallbackWarning,
    MonteCarloKL,
    Warmup,
    free_bits_floor,
)
from genkit_plugins.priors import GaussianMixture

from genkit.assembly.build import build
from genkit.errors import GenkitError, SpecError
from genkit.plugin.optimizers import make_optimizer
from genkit.runs.train import train
from genkit.spec.resolve import load_spec

tfd = tfp.distributions
SEED = tf.constant([3, 4], tf.int32)

Q_LOC = np.array([[0.5, -1.0, 0.0], [2.0, 0.3, -0.7]], np.float32)
Q_SCALE = np.array([[0.5, 1.5, 1.0], [0.2, 0.9, 2.0]], np.float32)
P_LOC = np.array([0.1, -0.2, 0.3], np.float32)
P_SCALE = np.array([1.0, 0.5, 2.0], np.float32)


def gaussian(loc: np.ndarray, scale: np.ndarray) -> tfd.Distribution:
    return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)


def closed_form_kl() -> np.ndarray:
    """KL(N(mq, sq^2) || N(mp, sp^2)) summed over dimensions, per example, in numpy."""
    terms = np.log(P_SCALE / Q_SCALE) + (Q_SCALE**2 + (Q_LOC - P_LOC) ** 2) / (2 * P_SCALE**2) - 0.5
    return terms.sum(axis=1)


def toy_spec(**components) -> dict:
    spec = copy.deepcopy(TINY_TOY)
    spec.update(components)
    return spec


def test_analytic_kl_of_gaussians_matches_the_closed_form():
    q, p = gaussian(Q_LOC, Q_SCALE), gaussian(P_LOC, P_SCALE)
    z = q.sample(seed=SEED)
    np.testing.assert_allclose(AnalyticKL(3).per_example(q, p, z, SEED).numpy(), closed_form_kl(), rtol=1e-5)


def test_monte_carlo_kl_is_within_tolerance_of_the_closed_form():
    q, p = gaussian(Q_LOC, Q_SCALE), gaussian(P_LOC, P_SCALE)
    estimate = MonteCarloKL(3, samples=20000).per_example(q, p, q.sample(seed=SEED), SEED).numpy()
    np.testing.assert_allclose(estimate, closed_form_kl(), rtol=0.03, atol=0.02)


def test_monte_carlo_kl_on_the_reconstructions_code_is_that_codes_log_ratio():
    q, p = gaussian(Q_LOC, Q_SCALE), gaussian(P_LOC, P_SCALE)
    z = q.sample(seed=SEED + 1)  # not the draw the fresh estimate below makes with SEED
    shared = MonteCarloKL(3, code="reconstruction").per_example(q, p, z, SEED).numpy()
    np.testing.assert_allclose(shared, (q.log_prob(z) - p.log_prob(z)).numpy(), rtol=1e-6)
    fresh = MonteCarloKL(3).per_example(q, p, z, SEED).numpy()
    assert not np.allclose(fresh, shared)  # a draw of its own
    with pytest.raises(ValueError, match="samples must be 1"):
        MonteCarloKL(3, samples=4, code="reconstruction")


def test_kl_without_closed_form_falls_back_to_monte_carlo_and_says_so_once(monkeypatch):
    monkeypatch.setattr(divergences, "_ANNOUNCED_FALLBACKS", set())
    q, mixture = gaussian(Q_LOC, Q_SCALE), GaussianMixture(3, components=4, layout="sphere").distribution()
    z = q.sample(seed=SEED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = AnalyticKL(3).per_example(q, mixture, z, SEED)
        AnalyticKL(3).per_example(q, mixture, z, SEED)
    assert [w.category for w in caught] == [MonteCarloFallbackWarning]
    assert "no closed form for KL(Independent || MixtureSameFamily)" in str(caught[0].message)
    np.testing.assert_allclose(first.numpy(), (q.log_prob(z) - mixture.log_prob(z)).numpy(), rtol=1e-6)


def test_kl_fallback_error_refuses_when_the_model_is_built():
    spec = toy_spec(prior={"type": "mixture", "components": 4}, divergence={"type": "kl", "fallback": "error"})
    with pytest.raises(GenkitError, match="no closed-form KL.*fallback is 'error'"):
        build(spec, data_shape=(2,))


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_mmd_is_near_zero_for_the_same_distribution_and_larger_for_a_shifted_one(kernel):
    rng = np.random.default_rng(0)
    prior = gaussian(np.zeros(2, np.float32), np.ones(2, np.float32))
    same = tf.constant(rng.standard_normal((400, 2)), tf.float32)
    shifted = same + 1.0
    mmd = MMD(2, kernel=kernel, scales=[0.5, 1.0, 2.0])
    near_zero = float(tf.reduce_mean(mmd.per_example(None, prior, same, SEED)))
    far = float(tf.reduce_mean(mmd.per_example(None, prior, shifted, SEED)))
    assert abs(near_zero) < 0.02
    assert far > 0.2 and far > 10 * abs(near_zero)


def test_linear_and_cyclical_warmup_weights_at_given_steps():
    linear = AnalyticKL(2, beta=2.0, warmup={"type": "linear", "steps": 100})
    assert [float(linear.weight(s)) for s in (0, 50, 100, 250)] == [0.0, 1.0, 2.0, 2.0]
    cyclical = AnalyticKL(2, beta=2.0, warmup={"type": "cyclical", "steps": 50, "cycle": 100})
    assert [float(cyclical.weight(s)) for s in (0, 25, 50, 99, 100, 125, 260)] == [0.0, 1.0, 2.0, 2.0, 0.0, 1.0, 2.0]
    assert float(MMD(2, beta=3.0).weight(tf.constant(7, tf.int64))) == 3.0


def test_warmup_spec_is_validated():
    spec = load_spec(toy_spec(divergence={"type": "mc_kl", "warmup": {"type": "cyclical", "steps": 5, "cycle": 20}}))
    assert spec.to_dict()["divergence"]["warmup"] == {"type": "cyclical", "steps": 5, "cycle": 20}
    with pytest.raises(SpecError, match="divergence.warmup.*cycle"):
        load_spec(toy_spec(divergence={"type": "kl", "warmup": {"type": "cyclical", "steps": 5}}))
    with pytest.raises(ValueError, match="cycle"):
        Warmup(type="cyclical", steps=10, cycle=5)


def test_free_bits_floor_each_dimension_and_stop_its_gradient():
    kl = tf.Variable([[0.1, 2.0, 0.6], [0.3, 1.0, 0.2]])  # batch means per dimension: 0.2, 1.5, 0.4
    with tf.GradientTape() as tape:
        floored = free_bits_floor(kl, 0.5)
        total = tf.reduce_mean(floored)
    np.testing.assert_allclose(total.numpy(), 0.5 + 1.5 + 0.5, rtol=1e-6)
    np.testing.assert_allclose(floored.numpy(), [0.5 + 2.0 + 0.5, 0.5 + 1.0 + 0.5], rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(total, kl).numpy(), [[0, 0.5, 0], [0, 0.5, 0]])


def test_kl_divergences_apply_free_bits_per_latent_dimension():
    q, p = gaussian(Q_LOC, Q_SCALE), gaussian(P_LOC, P_SCALE)
    per_dim = np.log(P_SCALE / Q_SCALE) + (Q_SCALE**2 + (Q_LOC - P_LOC) ** 2) / (2 * P_SCALE**2) - 0.5
    floor = 1.0
    expected = np.maximum(floor, per_dim.mean(axis=0)).sum()
    result = AnalyticKL(3, free_bits=floor).per_example(q, p, q.sample(seed=SEED), SEED)
    np.testing.assert_allclose(float(tf.reduce_mean(result)), expected, rtol=1e-5)


def test_vae_with_mixture_prior_and_monte_carlo_kl_learns_on_toy_data():
    spec = toy_spec(
        prior={"type": "mixture", "components": 8, "radius": 2.0, "scale": 0.5},
        divergence={"type": "mc_kl", "samples": 4},
    )
    spec["train"]["epochs"] = 4
    history = train(spec, progress=False).history
    losses = [row["loss"] for row in history]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0] - 1.0
    assert history[-1]["val_loss"] < history[0]["val_loss"]


def _values(variables) -> dict[int, np.ndarray]:
    return {id(v): np.array(v.numpy()) for v in variables}


def test_adversarial_phases_update_only_their_own_variables():
    spec = toy_spec(
        model="ae",
        prior="swiss_roll",
        divergence={
            "type": "adversarial",
            "hidden": [8],
            "discriminator_optimizer": {"type": "adam", "learning_rate": 0.01},
        },
    )
    model = build(spec, data_shape=(2,))
    main, discriminator_phase, generator_phase = model.phases()
    assert [p.name for p in (discriminator_phase, generator_phase)] == ["discriminator", "generator"]
    assert discriminator_phase.optimizer == {"type": "adam", "learning_rate": 0.01}
    discriminator_ids = {id(v) for v in model.divergence.trainable_variables}
    encoder_ids = {id(v) for v in [*model.encoder.trainable_variables, *model.posterior.trainable_variables]}
    assert discriminator_ids and not discriminator_ids & {id(v) for v in main.variables()}
    batch = {"x": tf.constant(np.random.default_rng(0).standard_normal((16, 2)), tf.float32)}
    assert float(tf.reduce_max(tf.abs(model.divergence.per_example(None, None, batch["x"], SEED)))) == 0.0
    for phase, expected in ((discriminator_phase, discriminator_ids), (generator_phase, encoder_ids)):
        before = _values(model.variables)
        variables = phase.variables()
        with tf.GradientTape() as tape:
            loss = phase.loss(batch, SEED)["loss"]
        make_optimizer(phase.optimizer or {"type": "adam"}).apply_gradients(
            zip(tape.gradient(loss, variables), variables, strict=True)
        )
        after = _values(model.variables)
        changed = {key for key in before if not np.array_equal(before[key], after[key])}
        assert {id(v) for v in variables} == expected
        assert changed == expected  # every variable of the phase moved, and nothing else


def _discriminator_inputs(input_noise: float, batch: dict[str, tf.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """The real (prior) and fake (code) inputs the discriminator phase of an AE with the
    adversarial divergence sees for one batch, with the given instance noise."""
    spec = toy_spec(model="ae", divergence={"type": "adversarial", "hidden": [8], "input_noise": input_noise})
    model = build(spec, data_shape=(2,))
    seen: list[np.ndarray] = []
    logits = model.divergence._logits
    model.divergence._logits = lambda z, b: (seen.append(z.numpy()), logits(z, b))[1]
    model.encoder.set_weights([np.full_like(w, 0.1) for w in model.encoder.get_weights()])  # same encoder in both
    next(phase for phase in model.phases() if phase.name == "discriminator").loss(batch, SEED)
    real, fake = seen
    return real, fake


def test_adversarial_input_noise_blurs_prior_draws_and_codes_alike():
    batch = {"x": tf.constant(np.random.default_rng(0).standard_normal((4096, 2)), tf.float32)}
    clean_real, clean_fake = _discriminator_inputs(0.0, batch)
    noisy_real, noisy_fake = _discriminator_inputs(0.5, batch)
    # the AE's deterministic codes are the same in both: the difference is the noise alone
    noise = noisy_fake - clean_fake
    assert abs(noise.mean()) < 0.03 and noise.std() == pytest.approx(0.5, rel=0.05)
    # N(0, I) prior draws plus N(0, 0.25) noise: standard deviation sqrt(1.25)
    assert clean_real.std() == pytest.approx(1.0, rel=0.05)
    assert noisy_real.std() == pytest.approx(np.sqrt(1.25), rel=0.05)
    np.testing.assert_array_equal(_discriminator_inputs(0.5, batch)[1], noisy_fake)  # seeded
    for bad in (-0.1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="input_noise"):
            divergences.Adversarial(2, input_noise=bad)
