"""Latent samplers: the Gaussian mixture recovers a known mixture, and a regularized autoencoder is
sampled through one, fitted after training, from the spec or from the command line."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from genkit_plugins.samplers import GaussianMixtureSampler

import genkit
from genkit.assembly.data import load_split
from genkit.cli import main
from genkit.runs.train import train


def two_clusters(n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(0)
    first = rng.normal([-3.0, 0.0], [0.5, 1.0], size=(n // 4, 2))
    second = rng.normal([2.0, 1.0], [1.0, 0.3], size=(3 * n // 4, 2))
    return np.concatenate([first, second]).astype(np.float32)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_the_mixture_recovers_a_known_mixture(covariance):
    sampler = GaussianMixtureSampler((2,), components=2, covariance=covariance)
    sampler.fit(two_clusters(), seed=0)
    order = np.argsort(sampler.means[:, 0])
    np.testing.assert_allclose(sampler.weights[order], [0.25, 0.75], atol=0.02)
    np.testing.assert_allclose(sampler.means[order], [[-3.0, 0.0], [2.0, 1.0]], atol=0.1)
    stds = np.sqrt(np.diagonal(sampler.scale_tril @ np.swapaxes(sampler.scale_tril, 1, 2), axis1=1, axis2=2))
    np.testing.assert_allclose(stds[order], [[0.5, 1.0], [1.0, 0.3]], rtol=0.1)
    drawn = sampler.sample(4000, tf.constant([1, 2])).numpy()
    assert drawn.shape == (4000, 2) and abs(np.mean(drawn[:, 0] < -0.5) - 0.25) < 0.03
    again = GaussianMixtureSampler((2,), components=2, covariance=covariance)
    again.load_state(sampler.state())
    seed = tf.constant([1, 2])
    np.testing.assert_array_equal(again.sample(5, seed).numpy(), sampler.sample(5, seed).numpy())


def test_a_rae_fits_its_mixture_after_training_and_samples_from_it(tiny_vae, tmp_path):
    tiny_vae.update(model="rae", prior=None, divergence="none")
    tiny_vae["sampler"] = {"type": "gmm", "components": 4}
    tiny_vae["train"]["epochs"] = 2
    result = train(tiny_vae, tmp_path / "rae", progress=False)
    model = result.model
    last = result.history[-1]
    assert {"code_penalty", "decoder_penalty"} <= set(last)
    assert last["reconstruction"] < result.history[0]["reconstruction"]
    assert model.sampler.fitted and (tmp_path / "rae" / "samplers" / "gmm.npz").is_file()
    # the mixture fits the training codes better than the standard normal a VAE would sample
    train_codes = model.encode(load_split(genkit.load_spec(tiny_vae), "train").x)
    fitted = float(np.mean(model.sampler.distribution().log_prob(train_codes)))
    standard = float(np.mean(-0.5 * np.sum(train_codes**2, axis=1) - np.log(2 * np.pi)))
    assert fitted > standard
    assert genkit.load(tmp_path / "rae").sample(3, seed=1).shape == (3, 12, 12, 1)


def test_cli_sample_fits_a_named_sampler_once_and_reuses_it(tiny_vae, tmp_path):
    tiny_vae.update(model="ae", prior=None, divergence="none")
    tiny_vae["train"]["epochs"] = 1
    run = tmp_path / "ae"
    train(tiny_vae, run, progress=False)
    refused = CliRunner().invoke(main, ["sample", str(run), "-n", "4"])
    assert refused.exit_code == 2 and "no prior" in refused.output
    command = ["sample", str(run), "-n", "4", "--sampler", "gmm", "--out"]
    first = CliRunner().invoke(main, [*command, str(tmp_path / "a.npy")])
    assert first.exit_code == 0, first.output
    saved = run / "samplers" / "gmm.npz"
    stamp = saved.stat().st_mtime_ns
    second = CliRunner().invoke(main, [*command, str(tmp_path / "b.npy")])
    assert second.exit_code == 0 and saved.stat().st_mtime_ns == stamp  # reused, not refitted
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert np.load(tmp_path / "a.npy").shape == (4, 12, 12, 1)
