"""Denoising and contractive autoencoders: corruption plugins, where corruption is applied, the
contractive penalty, presets and spec errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from genkit_plugins.corruptions import GaussianNoise, Masking, SaltAndPepper

from genkit.assembly.build import build
from genkit.errors import SpecError
from genkit.runs.train import train
from genkit.spec.resolve import load_spec

SEED = tf.constant([3, 4], tf.int32)


def _without(spec: dict, *keys: str) -> dict:
    """The spec without ``keys``, so the model preset fills them."""
    return {k: v for k, v in spec.items() if k not in keys}


def _dae_spec(tiny_vae: dict, corruption: dict | None = None) -> dict:
    spec = {**_without(tiny_vae, "prior", "divergence"), "model": "dae", "name": "tiny-dae"}
    if corruption is not None:
        spec["corruption"] = corruption
    return spec


def test_masking_zeroes_the_requested_fraction_and_is_seeded():
    x = tf.ones((200, 10, 10, 1))
    corrupted = Masking(rate=0.3).corrupt(x, SEED).numpy()
    assert set(np.unique(corrupted)) == {0.0, 1.0}
    assert np.mean(corrupted == 0.0) == pytest.approx(0.3, abs=0.01)
    np.testing.assert_array_equal(corrupted, Masking(rate=0.3).corrupt(x, SEED).numpy())
    assert not np.array_equal(corrupted, Masking(rate=0.3).corrupt(x, SEED + 1).numpy())


def test_salt_and_pepper_replaces_the_rate_with_zeros_and_ones_evenly():
    x = tf.fill((200, 10, 10, 1), 0.5)
    corrupted = SaltAndPepper(rate=0.2).corrupt(x, SEED).numpy()
    assert np.mean(corrupted != 0.5) == pytest.approx(0.2, abs=0.01)
    assert np.mean(corrupted == 1.0) == pytest.approx(0.1, abs=0.01)
    assert np.mean(corrupted == 0.0) == pytest.approx(0.1, abs=0.01)


def test_gaussian_noise_has_the_requested_std_and_clips_to_the_unit_interval():
    x = tf.fill((100, 20, 20, 1), 0.5)
    unclipped = GaussianNoise(std=0.1, clip=False).corrupt(x, SEED).numpy()
    assert np.std(unclipped) == pytest.approx(0.1, rel=0.03)
    assert np.mean(unclipped) == pytest.approx(0.5, abs=0.005)
    clipped = GaussianNoise(std=2.0).corrupt(x, SEED).numpy()
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_dae_preset_corrupts_the_encoder_input_and_keeps_the_target_clean(tiny_vae):
    spec = load_spec(_dae_spec(tiny_vae))
    assert spec.components["corruption"] == {"type": "masking", "rate": 0.3}
    assert spec.components["prior"] is None and spec.components["divergence"]["type"] == "none"
    model = build(spec)
    x = tf.random.stateless_uniform((8, 12, 12, 1), seed=[0, 1])
    batch = model.preprocess({"x": x}, SEED)
    np.testing.assert_array_equal(batch["x"].numpy(), x.numpy())  # target: the clean input
    masked = batch["x_input"].numpy() == 0.0
    assert 0.2 < masked.mean() < 0.4
    np.testing.assert_array_equal(batch["x_input"].numpy()[~masked], x.numpy()[~masked])
    # a batch that already carries its corrupted input keeps it; preprocessing twice changes nothing
    again = model.preprocess(batch, SEED + 7)
    np.testing.assert_array_equal(again["x_input"].numpy(), batch["x_input"].numpy())


def test_dae_loss_reconstructs_the_clean_target_from_the_corrupted_input(tiny_vae):
    """The loss equals -log p(x_clean | encoder(x_corrupted)), not the reconstruction of the noisy input."""
    model = build(_dae_spec(tiny_vae, {"type": "salt_and_pepper", "rate": 0.5}))
    x = tf.random.stateless_uniform((8, 12, 12, 1), seed=[0, 1])
    seed = tf.constant([5, 6], tf.int32)
    loss = float(model.loss_terms({"x": x}, seed)["loss"])
    data_seed, _ = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    noisy = model.preprocess({"x": x}, data_seed)["x_input"]
    code = model.posterior.point(model.posterior_distribution(noisy))
    expected = -tf.reduce_mean(model.likelihood_distribution(code).log_prob(x))
    assert loss == pytest.approx(float(expected), rel=1e-5)
    clean_code = model.posterior.point(model.posterior_distribution(x))
    assert loss != pytest.approx(float(-tf.reduce_mean(model.likelihood_distribution(clean_code).log_prob(x))))


def test_dae_trains_and_model_corrupt_uses_the_spec_corruption(tiny_vae):
    result = train(_dae_spec(tiny_vae, {"type": "gaussian_noise", "std": 0.2}), progress=False)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]
    x = np.full((4, 12, 12, 1), 0.5, np.float32)
    noisy = result.model.corrupt(x, seed=1)
    assert noisy.shape == x.shape and 0.1 < np.std(noisy - x) < 0.3


def test_corruption_errors_name_the_spec_key(tiny_vae):
    with pytest.raises(SpecError) as bad_rate:
        build(_dae_spec(tiny_vae, {"type": "masking", "rate": 1.5}))
    assert "corruption" in str(bad_rate.value) and "rate" in str(bad_rate.value)
    with pytest.raises(SpecError) as unknown:
        load_spec(_dae_spec(tiny_vae, {"type": "maskin"}))
    assert "masking" in str(unknown.value)  # the suggestion and the registered names


def test_contractive_penalty_of_a_linear_encoder_is_the_squared_kernel_norm(tiny_vae):
    """For code = W x + b the Jacobian is W for every example, so ||J||_F^2 = sum(W^2)."""
    spec = {**_without(tiny_vae, "prior", "divergence"), "model": "cae",
            "encoder": {"type": "mlp", "hidden": []}, "objective": {"type": "contractive", "weight": 0.5}}
    model = build(spec)
    x = tf.random.stateless_uniform((5, 12, 12, 1), seed=[1, 2])
    norms = model.objective.jacobian_norm(model, {"x": x}).numpy()
    kernel = model.encoder.head.kernel.numpy()
    np.testing.assert_allclose(norms, np.full(5, np.sum(kernel**2)), rtol=1e-4)
    terms = model.loss_terms({"x": x}, SEED)
    assert float(terms["loss"]) == pytest.approx(float(terms["reconstruction"] + 0.5 * terms["contractive"]), rel=1e-5)


def test_contractive_training_shrinks_the_jacobian(tiny_vae):
    """A strong penalty gives a smaller encoder Jacobian than the plain autoencoder, same seed."""
    base = {**_without(tiny_vae, "prior", "divergence"), "train": {**tiny_vae["train"], "epochs": 2}}
    x = tf.constant(np.random.default_rng(0).uniform(size=(16, 12, 12, 1)), tf.float32)
    norms = {}
    for weight in (0.0, 1.0):
        model = train({**base, "model": "cae", "objective": {"type": "contractive", "weight": weight}},
                      progress=False).model
        norms[weight] = float(np.mean(model.objective.jacobian_norm(model, {"x": x}, training=False)))
    assert norms[1.0] < 0.5 * norms[0.0]
