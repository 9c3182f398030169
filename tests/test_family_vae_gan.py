"""VAE-GAN: three phases with their own variables (encoder, decoder, discriminator); the encoder and
the decoder minimise the feature-space reconstruction (not the pixel likelihood); it trains on the
built-in shapes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from family_helpers import phase_updates

import genkit
from genkit.runs.train import train


def _vae_gan(tiny_vae: dict) -> dict:
    tiny_vae["model"] = "vae_gan"
    tiny_vae["objective"] = {"type": "vae_gan", "filters": [4, 8], "feature_weight": 2.0, "adversarial_weight": 0.5}
    return tiny_vae


BATCH = {"x": np.random.default_rng(0).uniform(size=(8, 12, 12, 1)).astype(np.float32)}


def test_each_phase_trains_its_own_network(tiny_vae):
    model = genkit.build(_vae_gan(tiny_vae))
    assert [phase.name for phase in model.phases()] == ["main", "decoder", "discriminator"]
    encoder = {v.path for v in model.encoder_variables()}
    decoder = {v.path for v in model.decoder_variables()}
    discriminator = {v.path for v in model.objective.discriminator.trainable_variables}
    changed = {name: changed for name, changed, _ in phase_updates(model, BATCH)}
    assert changed == {"main": encoder, "decoder": decoder, "discriminator": discriminator}


def test_encoder_and_decoder_minimise_the_feature_reconstruction_not_the_pixel_likelihood(tiny_vae):
    spec = _vae_gan(tiny_vae)
    spec["likelihood"] = {"type": "gaussian", "variance": "global"}  # a likelihood with a weight of its own
    model = genkit.build(spec)
    objective, seed = model.objective, tf.constant([1, 2])
    x = tf.constant(BATCH["x"])
    assert float(tf.reduce_max(objective.feature_reconstruction(x, x))) == 0.0
    features = objective.discriminator(tf.concat([x, 1.0 - x], axis=0))[0].numpy()
    by_hand = 0.5 * np.sum((features[:8] - features[8:]) ** 2, axis=1)
    np.testing.assert_allclose(objective.feature_reconstruction(x, 1.0 - x).numpy(), by_hand, rtol=1e-5)
    main, decoder, _ = model.phases()
    before = {phase.name: phase.loss(BATCH, seed) for phase in (main, decoder)}
    model.likelihood.raw_scale.assign(model.likelihood.raw_scale + 1.0)  # changes -log p(x|z), not the features
    after = {phase.name: phase.loss(BATCH, seed) for phase in (main, decoder)}
    terms = before["main"]
    assert float(terms["loss"]) == pytest.approx(float(terms["divergence"] + terms["feature_reconstruction"]),
                                                 rel=1e-5)
    assert float(after["main"]["reconstruction"]) != pytest.approx(float(terms["reconstruction"]), rel=1e-3)
    for name in ("main", "decoder"):
        assert float(after[name]["loss"]) == pytest.approx(float(before[name]["loss"]), rel=1e-6), name
    decoder_terms = before["decoder"]
    expected = 2.0 * decoder_terms["feature_reconstruction"] + 0.5 * decoder_terms["fool"]
    assert float(decoder_terms["loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_vae_gan_trains_on_shapes(tiny_vae):
    result = train(_vae_gan(tiny_vae), progress=False)
    first, last = result.history[0], result.history[-1]
    # the pixel reconstruction is not trained on, yet matching discriminator features improves it
    assert last["val_reconstruction"] < first["val_reconstruction"] - 1.0
    assert last["val_feature_reconstruction"] < first["val_feature_reconstruction"]
    assert 0.0 <= last["discriminator_accuracy"] <= 1.0 and np.isfinite(last["decoder_fool"])


def test_an_mlp_discriminator_gives_its_hidden_layers_features(tiny_vae):
    spec = _vae_gan(tiny_vae)
    spec["objective"] = {"type": "vae_gan", "discriminator": "mlp", "hidden": [16, 8], "feature_layer": 0,
                         "activation": "relu"}
    discriminator = genkit.build(spec).objective.discriminator
    first, second = discriminator.hidden_layers()
    x = tf.constant(BATCH["x"])
    features, logits = discriminator(x)
    flat = x.numpy().reshape(8, -1)
    by_hand = np.maximum(flat @ first.kernel.numpy() + first.bias.numpy(), 0.0)  # the first hidden layer, ReLU
    np.testing.assert_allclose(features.numpy(), by_hand, rtol=1e-5, atol=1e-6)
    assert logits.shape == (8,) and features.shape == (8, 16)
    spec["objective"]["feature_layer"] = 2
    with pytest.raises(Exception, match="feature_layer must index one of the discriminator's 2 layers"):
        genkit.build(spec)
