"""Adversarial autoencoders: phases in order with their own optimizers, the supervised variant's
label-aware discriminator, any registered prior, and the categorical (semi-supervised and
clustering) AAE."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf
from family_helpers import phase_order, phase_updates

from genkit.assembly.build import build
from genkit.errors import GenkitError
from genkit.runs.train import train
from genkit.spec.resolve import load_spec

SEED = tf.constant([1, 2], tf.int32)
FAST_ADAM = {"type": "adam", "learning_rate": 1e-3}


def _aae(tiny_vae: dict, **changes) -> dict:
    spec = copy.deepcopy(tiny_vae)
    for key in ("prior", "posterior", "divergence"):  # the model preset fills them
        spec.pop(key, None)
    spec.update({"name": "tiny-aae", "model": "aae"})
    spec["data"]["n_train"] = 200
    spec.update(changes)
    return spec


def _supervised(tiny_vae: dict, **changes) -> dict:
    parts = {
        "prior": {"type": "mixture", "components": 4, "radius": 3.0, "scale": 0.2},
        "divergence": {"type": "supervised_adversarial", "classes": 4, "hidden": [16],
                       "discriminator_optimizer": {"type": "sgd", "learning_rate": 0.01},
                       "generator_optimizer": FAST_ADAM},
    }
    return _aae(tiny_vae, model="supervised_aae", **{**parts, **changes})


def _categorical(tiny_vae: dict, **objective) -> dict:
    spec = _aae(tiny_vae, model="categorical_aae", latent_dim=6,
                posterior={"type": "categorical_aae", "classes": 4},
                prior={"type": "categorical_aae", "classes": 4},
                objective={"type": "categorical_aae", "classes": 4, "hidden": [16], **objective})
    spec["data"]["labelled"] = 20
    return spec


def test_aae_runs_reconstruction_then_discriminator_then_generator_each_with_its_optimizer(tiny_vae):
    spec = _supervised(tiny_vae)
    resolved = load_spec(spec)
    assert resolved.components["posterior"]["type"] == "deterministic"
    order, outputs = phase_order(spec)
    assert order == ["main", "discriminator", "generator"]
    assert {"loss", "discriminator_loss", "generator_loss"} <= set(outputs)
    model = build(spec)
    assert [p.optimizer for p in model.phases()] == [None, {"type": "sgd", "learning_rate": 0.01}, FAST_ADAM]
    batch = {"x": np.random.default_rng(0).uniform(size=(8, 12, 12, 1)).astype(np.float32),
             "y": np.arange(8) % 4}
    updates = {}
    for name, changed, declared in phase_updates(model, batch):
        assert changed and changed <= declared, name
        updates[name] = changed
    discriminator = {v.path for v in model.divergence.trainable_variables}
    assert updates["discriminator"] == discriminator
    assert not updates["main"] & discriminator and not updates["generator"] & discriminator
    assert not {v.path for v in model.decoder.trainable_variables} & updates["generator"]


def test_aae_with_the_fooling_loss_in_the_main_phase_has_no_generator_phase(tiny_vae):
    spec = _aae(tiny_vae, divergence={"type": "adversarial", "hidden": [16], "generator": "main", "beta": 0.5})
    model = build(spec)
    assert [p.name for p in model.phases()] == ["main", "discriminator"]
    z = tf.constant(np.random.default_rng(1).normal(size=(8, model.latent_dim)), tf.float32)
    logits = model.divergence.discriminator(z)[:, 0]
    expected = np.log1p(np.exp(-logits.numpy()))  # -log sigmoid(logit): each code labelled real
    np.testing.assert_allclose(model.divergence.per_example(None, None, z, SEED).numpy(), expected, rtol=1e-5)
    batch = {"x": np.random.default_rng(0).uniform(size=(8, 12, 12, 1)).astype(np.float32)}
    updates = dict((name, changed) for name, changed, _ in phase_updates(model, batch))
    discriminator = {v.path for v in model.divergence.trainable_variables}
    assert updates["discriminator"] == discriminator and not updates["main"] & discriminator
    encoder = {v.path for v in model.encoder_variables()}
    assert encoder <= updates["main"]  # the fooling loss and the reconstruction train the encoder together
    history = train(spec, progress=False).history
    assert history[-1]["divergence"] > 0 and history[-1]["loss"] < history[0]["loss"]


def test_supervised_discriminator_sees_the_label_and_real_draws_come_from_its_component(tiny_vae):
    model = build(_supervised(tiny_vae))
    divergence, prior = model.divergence, model.prior
    labels = tf.constant([0, 1, 2, 3, -1, -1] * 200)
    z = tf.zeros((len(labels), 2))
    inputs = divergence.discriminator_input(z, {"y": labels}).numpy()
    np.testing.assert_array_equal(inputs[:4, 2:], np.eye(4))
    np.testing.assert_array_equal(inputs[4:6, 2:], 0.0)  # unlabelled: no label input
    real = divergence.real_codes(model, {"y": labels}, len(labels), tf.constant([0, 1])).numpy()
    nearest = np.argmin(((real[:, None] - prior.means.numpy()[None]) ** 2).sum(-1), axis=1)
    labelled = labels.numpy() >= 0
    np.testing.assert_array_equal(nearest[labelled], labels.numpy()[labelled])
    assert len(np.unique(nearest[~labelled])) == 4  # unlabelled: the whole mixture


def test_supervised_aae_needs_labels_and_a_prior_with_a_label_layout(tiny_vae):
    with pytest.raises(GenkitError, match="label layout"):
        build(_supervised(tiny_vae, prior="standard_normal"))


@pytest.mark.parametrize("prior", [
    {"type": "mixture", "components": 10},
    {"type": "swiss_roll"},
    {"type": "uniform"},
    "standard_normal",
])
def test_adversarial_autoencoder_works_with_registered_priors(tiny_vae, prior):
    """Every phase of the (supervised, when the prior has a label layout) AAE takes a step with
    any registered prior, including the 10-Gaussian mixture and the sample-only swiss roll."""
    layout = isinstance(prior, dict) and prior["type"] in ("mixture", "swiss_roll")
    divergence = {"type": "supervised_adversarial" if layout else "adversarial", "hidden": [16]}
    model = build(_aae(tiny_vae, prior=prior, divergence=divergence))
    batch = {"x": np.random.default_rng(0).uniform(size=(8, 12, 12, 1)).astype(np.float32), "y": np.arange(8) % 4}
    for name, changed, declared in phase_updates(model, batch):
        assert changed and changed <= declared, name


def test_supervised_aae_trains_and_the_discriminator_learns(tiny_vae):
    spec = _supervised(tiny_vae)
    spec["train"]["epochs"] = 2
    history = train(spec, progress=False).history
    assert history[-1]["reconstruction"] < history[0]["reconstruction"]
    assert all(np.isfinite(h["discriminator_loss"]) and np.isfinite(h["generator_loss"]) for h in history)


def test_categorical_aae_phases_codes_and_classify(tiny_vae):
    spec = _categorical(tiny_vae)
    order, outputs = phase_order(spec)
    assert order == ["main", "style_discriminator", "style_generator", "category_discriminator",
                     "category_generator", "classification"]
    assert {"style_discriminator_loss", "category_generator_loss", "classification_cross_entropy"} <= set(outputs)
    model = build(spec)
    x = np.random.default_rng(0).uniform(size=(8, 12, 12, 1)).astype(np.float32)
    codes = model.encode(x)
    np.testing.assert_allclose(codes[:, 2:].sum(axis=1), 1.0, rtol=1e-5)  # the category is a softmax
    np.testing.assert_array_equal(model.classify(x), np.argmax(codes[:, 2:], axis=1))
    draws = model.sample_latent(50)
    assert set(np.unique(draws[:, 2:])) == {0.0, 1.0} and np.all(draws[:, 2:].sum(axis=1) == 1)
    batch = {"x": x, "y": np.array([0, 1, -1, -1, 2, -1, 3, -1])}
    updates = {name: (changed, declared) for name, changed, declared in phase_updates(model, batch)}
    style = {v.path for v in model.objective.style_adversary.trainable_variables}
    category = {v.path for v in model.objective.category_adversary.trainable_variables}
    assert updates["style_discriminator"][0] == style and updates["category_discriminator"][0] == category
    encoder = {v.path for v in model.encoder.trainable_variables}
    assert updates["classification"][0] and updates["classification"][0] <= encoder
    assert not (style | category) & updates["main"][0]


def test_categorical_aae_classification_phase_learns_the_labelled_examples(tiny_vae):
    """Only labelled examples (label >= 0) enter the classification loss, and it falls."""
    spec = _categorical(tiny_vae, supervised_weight=1.0, classifier_optimizer={"type": "adam", "learning_rate": 1e-2})
    spec["data"].update({"n_train": 120, "labelled_repeat": 4})
    spec["train"]["epochs"] = 2
    history = train(spec, progress=False).history
    assert history[-1]["classification_cross_entropy"] < 0.75 * history[0]["classification_cross_entropy"]


def test_categorical_aae_checks_that_its_parts_agree(tiny_vae):
    spec = _categorical(tiny_vae)
    spec["posterior"] = {"type": "categorical_aae", "classes": 3}
    with pytest.raises(GenkitError, match="categorical_aae"):
        build(spec)
