"""Known-answer tests of the built-in priors: densities against numpy, layouts, sample-only
behaviour, the VampPrior's hook into the encoder, the flow's construction and masks, and the
generic tfd prior with its spec-time name check."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_TOY
from genkit_plugins.made import MaskedMLP, shift_and_log_scale
from genkit_plugins.priors import (
    FlowPrior,
    GaussianMixture,
    LearnableGaussian,
    StandardNormal,
    SwissRoll,
    TfdPrior,
    UniformBox,
)

from genkit.assembly.build import build
from genkit.errors import GenkitError, SpecError
from genkit.spec.resolve import load_spec

SEED = tf.constant([1, 2], tf.int32)


def normal_logpdf(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mean) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)


def toy_spec(**components) -> dict:
    spec = copy.deepcopy(TINY_TOY)
    spec.update(components)
    return spec


def test_mixture_log_prob_matches_numpy_on_the_circle_layout():
    prior = GaussianMixture(2, components=4, layout="circle", radius=2.0, scale=0.5)
    angles = 2 * np.pi * np.arange(4) / 4
    means = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    np.testing.assert_allclose(prior.means.numpy(), means, atol=1e-6)
    z = np.array([[0.3, -1.2], [2.0, 0.0], [-1.0, 1.5]], np.float32)
    per_component = normal_logpdf(z[:, None, :], means[None], 0.5).sum(-1)  # [n, k]
    expected = np.log(np.mean(np.exp(per_component), axis=1))
    np.testing.assert_allclose(prior.distribution().log_prob(z).numpy(), expected, rtol=1e-5)


def test_mixture_fixed_layout_has_no_trainable_variables_and_learnable_has_three():
    assert GaussianMixture(3, components=5, layout="sphere").trainable_variables == []
    learnable = GaussianMixture(3, components=5, layout="sphere", radius=1.5, learnable=True)
    assert {v.name for v in learnable.trainable_variables} == {"means", "raw_scales", "logits"}
    np.testing.assert_allclose(np.linalg.norm(learnable.means.numpy(), axis=1), 1.5, rtol=1e-5)


def test_mixture_circle_layout_refuses_one_dimension():
    with pytest.raises(ValueError, match="latent_dim >= 2"):
        GaussianMixture(1, layout="circle")


def test_mixture_samples_for_labels_come_from_the_labels_component():
    prior = GaussianMixture(2, components=4, radius=3.0, scale=0.1)
    labels = np.repeat(np.arange(6), 500)  # labels 4, 5 wrap onto components 0, 1
    z = prior.sample_for_labels(labels, SEED).numpy()
    assert prior.num_classes == 4
    for label in range(6):
        np.testing.assert_allclose(z[labels == label].mean(0), prior.means.numpy()[label % 4], atol=0.02)


def test_swiss_roll_is_sample_only_and_its_arms_follow_the_labels():
    prior = SwissRoll(2, arms=4, radius=3.0, noise=0.0)
    dist = prior.distribution()
    assert SwissRoll.sample_only and dist.sample(7, seed=SEED).shape == (7, 2)
    with pytest.raises(NotImplementedError):
        dist.log_prob(np.zeros((1, 2), np.float32))
    labels = np.repeat(np.arange(4), 50)
    radius = np.linalg.norm(prior.sample_for_labels(labels, SEED).numpy(), axis=1)
    # noise 0: a point at position t lies at radius 3 * (1 + 2t) / 3, t in [arm / 4, (arm + 1) / 4)
    t = (radius - 1.0) / 2.0
    assert np.all(np.floor(t * 4).astype(int) == labels)


def test_swiss_roll_needs_two_dimensions():
    with pytest.raises(ValueError, match="latent_dim: 2"):
        SwissRoll(3)


def test_swiss_roll_with_kl_is_refused_by_validation_with_a_clear_message():
    with pytest.raises(SpecError) as caught:
        load_spec(toy_spec(prior="swiss_roll", divergence="kl"))
    message = str(caught.value)
    assert "key 'prior'" in message and "can only be sampled" in message and "adversarial or MMD" in message
    for divergence in ("mmd", "adversarial"):
        spec = load_spec(toy_spec(prior="swiss_roll", divergence=divergence))
        assert spec.components["prior"]["type"] == "swiss_roll"


def test_uniform_box_density_and_support():
    dist = UniformBox(3, low=-1.0, high=2.0).distribution()
    np.testing.assert_allclose(dist.log_prob(np.zeros((1, 3), np.float32)).numpy(), [-3 * np.log(3.0)], rtol=1e-6)
    z = dist.sample(1000, seed=SEED).numpy()
    assert z.min() >= -1.0 and z.max() <= 2.0


def test_learnable_gaussian_starts_at_the_given_scale_and_trains():
    prior = LearnableGaussian(4, init_scale=2.0)
    dist = prior.distribution()
    np.testing.assert_allclose(dist.stddev().numpy(), 2.0, rtol=1e-5)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(prior.distribution().log_prob(tf.ones((5, 4))))
    assert all(g is not None for g in tape.gradient(loss, prior.trainable_variables))


@pytest.mark.parametrize("flow", ["maf", "real_nvp"])
def test_flow_prior_has_variables_at_construction_and_starts_as_standard_normal(flow):
    prior = FlowPrior(4, flow=flow, layers=2, hidden=[8])
    assert len(prior.trainable_variables) == 2 * 2 * 2  # layers x (kernel, bias) x (hidden, output)
    z = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    expected = StandardNormal(4).distribution().log_prob(z).numpy()
    np.testing.assert_allclose(prior.distribution().log_prob(z).numpy(), expected, rtol=1e-5)
    for variable in prior.trainable_variables:  # away from the identity: still finite, still a density
        variable.assign(0.3 * tf.random.stateless_normal(variable.shape, seed=SEED))
    samples = prior.distribution().sample(5, seed=SEED)
    assert samples.shape == (5, 4) and np.all(np.isfinite(prior.distribution().log_prob(samples).numpy()))


def test_maf_conditioner_is_autoregressive():
    conditioner = MaskedMLP(4, 4, [16, 16])
    for variable in conditioner.trainable_variables:
        variable.assign(tf.random.stateless_normal(variable.shape, seed=SEED))
    x = tf.constant(np.random.default_rng(1).standard_normal((1, 4)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        shift, log_scale = shift_and_log_scale(conditioner)(x)
    for output in (shift, log_scale):
        jacobian = tape.batch_jacobian(output, x)[0].numpy()  # [out, in]
        assert np.all(np.triu(jacobian) == 0.0)  # output i depends only on inputs before i
        assert np.any(np.tril(jacobian, -1) != 0.0)


def test_vamp_prior_is_the_mean_of_the_posteriors_of_its_pseudo_inputs():
    model = build(toy_spec(prior={"type": "vamp", "pseudo_inputs": 5}), data_shape=(2,))
    prior = model.prior
    assert prior.pseudo_inputs.shape == (5, 2)
    assert any(v is prior.pseudo_inputs for v in model.trainable_variables)
    q = model.posterior_distribution(prior.pseudo_inputs)
    loc, scale = q.distribution.loc.numpy(), q.distribution.scale.numpy()  # [5, 2] each
    z = np.array([[0.1, 0.2], [-1.0, 0.5]], np.float32)
    per_component = normal_logpdf(z[:, None, :], loc[None], scale[None]).sum(-1)
    expected = np.log(np.mean(np.exp(per_component), axis=1))
    np.testing.assert_allclose(model.prior_distribution().log_prob(z).numpy(), expected, rtol=1e-5)
    with tf.GradientTape() as tape:  # the prior moves with the encoder and its pseudo-inputs
        loss = -tf.reduce_sum(model.prior_distribution().log_prob(z))
    variables = [prior.pseudo_inputs, *model.encoder.trainable_variables]
    assert all(g is not None for g in tape.gradient(loss, variables))


def test_vamp_prior_refuses_a_deterministic_posterior():
    with pytest.raises(GenkitError, match="stochastic posterior"):
        build(toy_spec(prior="vamp", posterior="deterministic", divergence="mmd"), data_shape=(2,))


def test_tfd_prior_student_t_matches_the_closed_form():
    prior = TfdPrior(3, distribution="StudentT", parameters={"df": 3.0, "loc": 0.0, "scale": 2.0})
    z = np.array([[0.5, -1.0, 4.0]], np.float32)
    df, scale = 3.0, 2.0
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi) - math.log(scale)
    expected = np.sum(log_norm - (df + 1) / 2 * np.log1p((z / scale) ** 2 / df))
    assert prior.distribution().event_shape == [3]
    np.testing.assert_allclose(prior.distribution().log_prob(z).numpy(), [expected], rtol=1e-5)


def test_tfd_prior_from_a_spec_and_a_vector_event_distribution():
    spec = load_spec(toy_spec(prior={"type": "tfd", "distribution": "StudentT", "parameters": {"df": 3, "loc": 0}}))
    assert spec.components["prior"]["distribution"] == "StudentT"
    mvn = TfdPrior(2, distribution="MultivariateNormalDiag", parameters={"loc": [1.0, -1.0], "scale_diag": [1.0, 2.0]})
    np.testing.assert_allclose(mvn.distribution().mean().numpy(), [1.0, -1.0])
    with pytest.raises(ValueError, match="event shape"):
        TfdPrior(3, distribution="MultivariateNormalDiag", parameters={"loc": [1.0, -1.0]})


def test_tfd_prior_unknown_distribution_fails_validation_listing_close_matches():
    with pytest.raises(SpecError) as caught:
        load_spec(toy_spec(prior={"type": "tfd", "distribution": "StudentTT"}))
    message = str(caught.value)
    assert "prior.distribution" in message and "no distribution 'StudentTT'" in message and "StudentT" in message


def test_priors_without_a_label_layout_say_so():
    with pytest.raises(GenkitError, match="no label layout"):
        StandardNormal(2).sample_for_labels(np.zeros(3, np.int64), SEED)
