"""M1+M2 as a composition: the ``encoded`` dataset turns a trained run (M1) into the codes of its
images, and an M2 with a Gaussian likelihood trains on them (examples/m1_m2_mnist.yaml, shrunk to
shapes)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from genkit_plugins.datasets.encoded import EncodedRun

import genkit


@pytest.fixture(scope="module")
def m1_run(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """A small VAE (latent 6) trained on shapes, and its spec."""
    spec = {"name": "m1", "model": "vae", "latent_dim": 6,
            "data": {"type": "shapes", "size": 12, "n_train": 300, "n_test": 100, "validation_split": 0.0},
            "encoder": {"type": "mlp", "hidden": [32]}, "decoder": {"type": "mlp", "hidden": [32]},
            "train": {"epochs": 3, "batch_size": 50, "seed": 0}}
    run = tmp_path_factory.mktemp("m1") / "run"
    genkit.train(spec, run, progress=False)
    return run, spec


def test_codes_are_the_runs_posterior_means_of_its_images(m1_run):
    run, spec = m1_run
    model = genkit.load(run)
    for split in ("train", "test"):
        images = genkit.load_split(genkit.load_spec(spec), split)
        codes = EncodedRun(str(run)).load(split)
        np.testing.assert_allclose(codes.x, model.encode(images.x), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(codes.y, images.y)
        assert codes.class_names == images.class_names


def test_encoded_passes_the_dataset_conformance_suite(m1_run):
    from genkit.testing import check_dataset

    check_dataset(EncodedRun, {"run": str(m1_run[0])})


def test_min_std_keeps_the_same_varying_dimensions_in_both_splits(m1_run):
    run, _ = m1_run
    every = EncodedRun(str(run))
    spread = every.load("train").x.std(axis=0)
    threshold = float(np.median(spread))
    kept = EncodedRun(str(run), min_std=threshold)
    chosen = np.flatnonzero(spread > threshold)
    assert 0 < len(chosen) < 6
    np.testing.assert_array_equal(kept.load("train").x, every.load("train").x[:, chosen])
    np.testing.assert_array_equal(kept.load("test").x, every.load("test").x[:, chosen])
    with pytest.raises(genkit.GenkitError, match="min_std"):
        EncodedRun(str(run), min_std=float(spread.max()) + 1).load("train")


def test_m2_trains_on_the_codes_and_classifies_test_codes(m1_run):
    run, _ = m1_run
    spec = {"name": "m1-m2", "model": "m2", "latent_dim": 4,
            "data": {"type": "encoded", "run": str(run), "validation_split": 0.0, "labelled": 20,
                     "labelled_repeat": 3},
            "encoder": {"type": "mlp", "hidden": [16]}, "decoder": {"type": "mlp", "hidden": [16]},
            "likelihood": {"type": "gaussian", "variance": "per_dimension"},
            "objective": {"type": "m2", "hidden": [16]},
            "train": {"epochs": 3, "batch_size": 40, "optimizer": {"type": "adam", "learning_rate": 3e-3}}}
    result = genkit.train(copy.deepcopy(spec), progress=False)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.model.data_shape == (6,)
    test = genkit.load_split(genkit.load_spec(spec), "test")
    assert set(result.model.classify(test.x)) <= {0, 1, 2, 3}


def test_a_missing_or_conditional_run_is_refused(tmp_path, tiny_vae):
    with pytest.raises(genkit.GenkitError, match="not a trained genkit run"):
        EncodedRun(str(tmp_path)).load("train")
    tiny_vae.update({"model": "cvae", "conditional": True})
    tiny_vae["train"]["epochs"] = 1
    genkit.train(tiny_vae, tmp_path / "cvae", progress=False)
    with pytest.raises(genkit.GenkitError, match="conditional"):
        EncodedRun(str(tmp_path / "cvae")).load("train")
