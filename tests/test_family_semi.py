"""Semi-supervised data and Kingma et al.'s M2: kept labels, the labelled and unlabelled loss
terms, where the classifier's gradient comes from, and model.classify."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf

from genkit.assembly.build import build
from genkit.assembly.data import keep_labels, prepare_data
from genkit.errors import GenkitError, SpecError
from genkit.runs.train import train
from genkit.spec.resolve import load_spec


def _m2(tiny_vae: dict, alpha: float = 1.0) -> dict:
    spec = copy.deepcopy(tiny_vae)
    spec.update({"name": "tiny-m2", "model": "m2", "objective": {"type": "m2", "alpha": alpha, "hidden": [16]}})
    spec["data"].update({"n_train": 200, "labelled": 20, "labelled_repeat": 3})
    return spec


def test_keep_labels_is_balanced_seeded_and_marks_the_rest_unlabelled():
    y = np.repeat(np.arange(4), 50)
    kept = keep_labels(y, 10, seed=0)
    assert np.sum(kept >= 0) == 10
    assert np.array_equal(np.bincount(kept[kept >= 0], minlength=4), [3, 3, 2, 2])
    assert np.all(kept[kept >= 0] == y[kept >= 0]) and set(np.unique(kept[kept < 0])) == {-1}
    np.testing.assert_array_equal(kept, keep_labels(y, 10, seed=0))
    assert not np.array_equal(kept, keep_labels(y, 10, seed=1))
    with pytest.raises(GenkitError, match="class"):
        keep_labels(y, 400, seed=0)


def test_labelled_data_option_masks_training_labels_and_repeats_the_labelled(tiny_vae):
    spec = load_spec(_m2(tiny_vae))
    data = prepare_data(spec)
    labelled = data.train.y >= 0
    assert labelled.sum() == 20 * 3 and len(data.train) == 160 + 20 * 2
    assert np.all(data.validation.y >= 0) and data.validation.y.dtype == data.train.y.dtype
    assert data.condition_dim == 4


def test_m2_needs_a_conditional_model(tiny_vae):
    spec = _m2(tiny_vae)
    assert load_spec(spec).conditional  # the preset sets it
    spec["conditional"] = False
    with pytest.raises(SpecError, match="conditional: true"):
        load_spec(spec)


def test_m2_unlabelled_loss_is_the_classifier_weighted_labelled_loss_minus_its_entropy(tiny_vae):
    """For one example: L(x, y) from labelled batches (alpha = 0) for every y; the unlabelled loss
    with the same seed is sum_y q(y|x) L(x, y) - H(q(y|x))."""
    model = build(_m2(tiny_vae, alpha=0.0))
    x = tf.random.stateless_uniform((1, 12, 12, 1), seed=[0, 3])
    seed = tf.constant([4, 5], tf.int32)
    per_class = np.array([float(model.loss_terms({"x": x, "y": tf.constant([k])}, seed)["loss"]) for k in range(4)])
    unlabelled = float(model.loss_terms({"x": x, "y": tf.constant([-1])}, seed)["loss"])
    q = tf.nn.softmax(model.objective.class_logits(model, x))[0].numpy()
    expected = np.sum(q * per_class) + np.sum(q * np.log(q))
    assert unlabelled == pytest.approx(expected, rel=1e-5)
    assert len(np.unique(per_class.round(4))) == 4  # the decoder sees the class


def test_m2_classifier_learns_from_unlabelled_data_and_from_alpha_on_labels(tiny_vae):
    model = build(_m2(tiny_vae, alpha=0.0))
    x = tf.random.stateless_uniform((6, 12, 12, 1), seed=[0, 3])
    seed = tf.constant([4, 5], tf.int32)
    classifier = model.objective.classifier.trainable_variables

    def classifier_gradient(labels: list[int]) -> float:
        with tf.GradientTape() as tape:
            loss = model.loss_terms({"x": x, "y": tf.constant(labels)}, seed)["loss"]
        return float(sum(tf.reduce_sum(tf.abs(g)) for g in tape.gradient(loss, classifier) if g is not None))

    assert classifier_gradient([-1] * 6) > 0  # the unlabelled term trains q(y|x)
    assert classifier_gradient([0, 1, 2, 3, 0, 1]) == 0  # labelled ELBO alone does not (alpha = 0)
    model.objective.alpha = 1.0
    assert classifier_gradient([0, 1, 2, 3, 0, 1]) > 0


def test_m2_trains_and_classifies(tiny_vae):
    result = train(_m2(tiny_vae, alpha=5.0), progress=False)
    history = result.history
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["classification"] < history[0]["classification"]
    predictions = result.model.classify(np.random.default_rng(0).uniform(size=(7, 12, 12, 1)))
    assert predictions.shape == (7,) and set(predictions) <= {0, 1, 2, 3}


def test_classify_needs_a_classifier(tiny_vae):
    with pytest.raises(GenkitError, match="no classifier"):
        build(tiny_vae).classify(np.zeros((2, 12, 12, 1)))
