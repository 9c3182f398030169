"""A discriminator on data space is as easy as one on latent space: the same adversarial game,
other samples, other generator variables (the adversarial part of a VAE-GAN)."""

from __future__ import annotations

import numpy as np
import pytest

import genkit
from genkit.runs.train import train


def test_the_data_discriminator_sees_images_and_trains_the_decoder(tiny_vae):
    tiny_vae["objective"] = {"type": "data_adversarial", "hidden": [16], "weight": 0.5}
    tiny_vae["train"]["epochs"] = 2
    result = train(tiny_vae, progress=False)
    model = result.model
    main, discriminator, generator = model.phases()
    assert [phase.name for phase in model.phases()] == ["main", "discriminator", "generator"]
    # the discriminator reads whole images; only its own phase trains it
    assert model.objective.discriminator.layers[0].kernel.shape == (12 * 12, 16)
    own = {id(v) for v in model.objective.discriminator.trainable_variables}
    assert {id(v) for v in discriminator.variables()} == own
    assert not own & {id(v) for v in main.variables()}
    # the generator phase trains exactly the decoder side
    assert {id(v) for v in generator.variables()} == {id(v) for v in model.decoder_variables()}
    last = result.history[-1]
    assert 0.0 <= last["discriminator_accuracy"] <= 1.0
    assert np.isfinite(last["generator_raw"]) and last["generator_loss"] == pytest.approx(0.5 * last["generator_raw"])
    assert last["reconstruction"] < result.history[0]["reconstruction"]


def test_a_data_discriminator_needs_a_prior_to_decode_samples(tiny_vae):
    tiny_vae.update(model="ae", prior=None, divergence="none", objective="data_adversarial")
    with pytest.raises(genkit.GenkitError, match="no prior"):
        genkit.build(tiny_vae)
