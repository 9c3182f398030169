"""Shared test fixtures: quiet TensorFlow, tiny specs on built-in data, a temporary run dir."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# The suite runs in two pytest-xdist workers on CI's two cores, and each TensorFlow process (the
# workers and the genkit commands they start) would size its intra-op thread pool to every core:
# four busy threads on two cores. The tests' tiny ops gain nothing from splitting, so one thread
# each (measured: test_examples + test_presets 221 s -> 179 s wall).
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

import numpy as np
import pytest

from genkit.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

#: Tests sharing a module-scoped fixture run in one worker (tests/worker_groups.py).
pytest_plugins = ["worker_groups"]


#: A VAE small enough to train in a few seconds on 2 CPU cores.
TINY_VAE = {
    "name": "tiny",
    "model": "vae",
    "latent_dim": 2,
    "data": {"type": "shapes", "size": 12, "n_train": 300, "n_test": 100, "validation_split": 0.2},
    "encoder": {"type": "mlp", "hidden": [32]},
    "decoder": {"type": "mlp", "hidden": [32]},
    "likelihood": "bernoulli",
    "prior": "standard_normal",
    "divergence": "kl",
    "train": {"epochs": 3, "batch_size": 40, "optimizer": {"type": "adam", "learning_rate": 3e-3}, "seed": 0},
}

#: The same on 2-D toy points with a Gaussian likelihood.
TINY_TOY = {
    **TINY_VAE,
    "name": "tiny-toy",
    "data": {"type": "toy2d", "shape": "rings", "n_train": 400, "n_test": 100},
    "likelihood": {"type": "gaussian", "scale": 0.3},
}


@pytest.fixture
def tiny_vae() -> dict:
    """A fresh copy of the tiny shapes VAE spec (edit freely)."""
    return copy.deepcopy(TINY_VAE)


@pytest.fixture
def tiny_toy() -> dict:
    """A fresh copy of the tiny 2-D toy spec."""
    return copy.deepcopy(TINY_TOY)


@pytest.fixture(autouse=True, scope="session")
def feature_cache(tmp_path_factory) -> Iterator[None]:
    """Feature networks trained by evaluations (FID) go to a session folder, never to ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENKIT_CACHE_DIR", str(tmp_path_factory.mktemp("genkit-cache")))
        yield


def write_shapes_npy(folder: Path, n_train: int, n_test: int) -> Path:
    """The training split of 12x12 shapes (``n_train``, ``n_test``), images as uint8, written as
    ``folder/x.npy`` and its labels as ``folder/y.npy``."""
    import genkit

    arrays = genkit.registry("dataset").get("shapes").obj(size=12, n_train=n_train, n_test=n_test).load("train")
    np.save(folder / "x.npy", np.round(arrays.x * 255).astype(np.uint8))
    np.save(folder / "y.npy", arrays.y)
    return folder
