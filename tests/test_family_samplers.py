"""The trained samplers (maf, two_stage_vae) on codes from a known non-Gaussian distribution (a noisy
ring): each fitted density beats the standard normal on held-out codes and its samples lie on the
ring; fitting is deterministic for a seed; the saved state gives identical samples. And a run
samples through each of them from the command line."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from genkit_plugins.samplers import MAFSampler, TwoStageVAESampler

from genkit.cli import main
from genkit.runs.train import train

#: Small settings: each fit is a few hundred Adam steps.
SAMPLERS = {
    "maf": (MAFSampler, {"layers": 3, "hidden": [32, 32], "fit_epochs": 30, "fit_batch_size": 100,
                         "learning_rate": 3e-3}),
    "two_stage_vae": (TwoStageVAESampler, {"hidden": [32, 32], "fit_epochs": 30, "fit_batch_size": 100,
                                           "learning_rate": 3e-3}),
}


def ring(n: int, seed: int) -> np.ndarray:
    """Points near the circle of radius 2 around (1, -1): the standard normal fits them badly."""
    rng = np.random.default_rng(seed)
    angle, radius = rng.uniform(0, 2 * np.pi, n), 2.0 + 0.1 * rng.standard_normal(n)
    return (np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1) + [1.0, -1.0]).astype(np.float32)


@pytest.fixture(scope="module", params=sorted(SAMPLERS))
def fitted(request):
    cls, args = SAMPLERS[request.param]
    sampler = cls((2,), **args)
    sampler.fit(ring(1500, seed=0), seed=7)
    return request.param, sampler


def test_the_fitted_density_beats_the_standard_normal_and_samples_the_ring(fitted):
    _, sampler = fitted
    held_out = ring(500, seed=1)
    standard_normal = np.mean(-0.5 * np.sum(held_out**2, axis=1) - np.log(2 * np.pi))
    fitted_density = np.mean(sampler.log_prob(held_out))  # a lower bound for the two-stage VAE
    assert fitted_density > standard_normal + 1.0, (fitted_density, standard_normal)
    drawn = sampler.sample(2000, tf.constant([1, 2])).numpy()
    radius = np.linalg.norm(drawn - [1.0, -1.0], axis=1)
    assert drawn.shape == (2000, 2) and abs(np.median(radius) - 2.0) < 0.25, np.median(radius)


def test_fitting_is_deterministic_and_the_state_round_trips(fitted):
    name, sampler = fitted
    cls, args = SAMPLERS[name]
    again = cls((2,), **args)
    again.fit(ring(1500, seed=0), seed=7)
    state = sampler.state()
    assert sorted(again.state()) == sorted(state)
    for key, value in again.state().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)
    restored = cls((2,), **args)
    restored.load_state({key: np.array(value) for key, value in state.items()})
    seed = tf.constant([3, 4])
    drawn = sampler.sample(50, seed).numpy()
    np.testing.assert_array_equal(restored.sample(50, seed).numpy(), drawn)
    # TensorFlow ops only: the same draws inside tf.function (as in an exported SavedModel)
    np.testing.assert_allclose(tf.function(lambda s: sampler.sample(50, s))(seed).numpy(), drawn, atol=1e-5)
    assert not np.array_equal(sampler.sample(50, tf.constant([3, 5])).numpy(), drawn)


def test_a_run_samples_through_each_trained_sampler_from_the_command_line(tiny_vae, tmp_path):
    tiny_vae["train"]["epochs"] = 1
    run = tmp_path / "vae"
    train(tiny_vae, run, progress=False)
    for name in SAMPLERS:
        out = tmp_path / f"{name}.npy"
        done = CliRunner().invoke(main, ["sample", str(run), "-n", "3", "--sampler", name, "--out", str(out)])
        assert done.exit_code == 0, done.output
        assert np.load(out).shape == (3, 12, 12, 1) and (run / "samplers" / f"{name}.npz").is_file()
