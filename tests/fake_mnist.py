"""A tiny stand-in for Keras' mnist.npz (same arrays, dtypes and image shape), so that the mnist
dataset and the example specs that use it are tested without the real file or a download."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_fake_mnist(keras_home: Path, n_train: int = 300, n_test: int = 100) -> Path:
    """Write ``KERAS_HOME/datasets/mnist.npz``: uint8 28x28 images and uint8 labels 0-9 (every digit
    equally often), each image a bright bar whose row is its label; return the file's path."""
    path = keras_home / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.random.default_rng(n).integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for index, label in enumerate(labels):
            images[index, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    np.savez(path, **arrays)
    return path
