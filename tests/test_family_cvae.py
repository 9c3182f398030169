"""Conditional VAE: labels enter the encoder and decoder, the optional conditional prior p(z|y),
and `genkit sample RUN --label`."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from click.testing import CliRunner

from genkit.assembly.build import build
from genkit.cli import main
from genkit.errors import SpecError
from genkit.runs.train import train
from genkit.spec.resolve import load_spec

tfd = tfp.distributions


def _cvae(tiny_vae: dict, **changes) -> dict:
    spec = copy.deepcopy(tiny_vae)
    spec.update({"name": "tiny-cvae", "model": "cvae", **changes})
    return spec


def test_cvae_preset_is_conditional_and_labels_enter_encoder_and_decoder(tiny_vae):
    spec = load_spec(_cvae(tiny_vae))
    assert spec.conditional and spec.to_dict()["conditional"] is True
    assert not load_spec(_cvae(tiny_vae, conditional=False)).conditional  # the spec overrides the preset
    model = build(spec)
    assert model.encoder.hidden_layers[0].kernel.shape == (12 * 12 + 4, 32)
    assert model.decoder.hidden_layers[0].kernel.shape == (2 + 4, 32)
    z = np.zeros((4, 2), np.float32)
    images = model.decode(z, labels=np.arange(4))
    assert all(not np.allclose(images[0], images[k]) for k in (1, 2, 3))


def test_conditional_prior_needs_a_conditional_spec(tiny_vae):
    with pytest.raises(SpecError, match="conditional: true"):
        load_spec({**tiny_vae, "prior": "conditional_gaussian"})


def test_conditional_prior_is_sampled_and_regularises_per_class(tiny_vae):
    model = build(_cvae(tiny_vae, prior="conditional_gaussian"))
    prior = model.prior
    locations = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, -3.0], [5.0, 5.0]], np.float32)
    prior.loc_kernel.assign(locations)
    for label in range(4):
        draws = model.sample_latent(4000, seed=label, labels=label)
        np.testing.assert_allclose(draws.mean(axis=0), locations[label], atol=0.06)
        np.testing.assert_allclose(draws.std(axis=0), 1.0, atol=0.05)
    # the divergence of the loss is KL(q(z|x, y) || p(z|y)) for each example's own class
    x = tf.random.stateless_uniform((4, 12, 12, 1), seed=[1, 1])
    condition = model.condition_of(np.arange(4))
    terms = model.per_example_terms({"x": x}, condition, tf.constant([2, 3]))
    q = model.posterior_distribution(x, condition)
    expected = tfd.kl_divergence(q, tfd.Independent(tfd.Normal(locations, 1.0 + 1e-3), 1))
    np.testing.assert_allclose(terms.divergence.numpy(), expected.numpy(), rtol=1e-4)


def test_cli_sample_generates_the_requested_label(tiny_vae, tmp_path):
    spec = _cvae(tiny_vae, prior="conditional_gaussian")
    spec["train"]["epochs"] = 1
    train(spec, tmp_path / "cvae", progress=False)
    runner = CliRunner()
    out = tmp_path / "threes.png"
    result = runner.invoke(main, ["sample", str(tmp_path / "cvae"), "--label", "3", "--n", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"written: {out}" in result.output and out.stat().st_size > 0
    bad = runner.invoke(main, ["sample", str(tmp_path / "cvae"), "--label", "7"])
    assert bad.exit_code == 2 and "[0, 3]" in bad.output
    missing = runner.invoke(main, ["sample", str(tmp_path / "cvae")])
    assert missing.exit_code == 2 and "pass --label CLASS (0 to 3)" in missing.output
