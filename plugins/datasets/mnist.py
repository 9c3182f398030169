"""MNIST from the file Keras caches (``keras.datasets.mnist.load_data()``), or from a given path.

genkit never downloads: a missing file is a :class:`GenkitError` that says where the file was
looked for and the one command that fetches it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from genkit_plugins.datasets.files import NpzFile

from genkit import ArrayData, Dataset, GenkitError

#: The arrays of Keras' mnist.npz: uint8 images [N, 28, 28] and uint8 labels [N] per split.
KERAS_KEYS = {"images": "x_train", "labels": "y_train", "test_images": "x_test", "test_labels": "y_test"}


def keras_cache_file() -> Path:
    """Where ``keras.datasets.mnist.load_data()`` keeps the file: ``$KERAS_HOME/datasets/mnist.npz``
    (``KERAS_HOME`` defaults to ``~/.keras``)."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "datasets" / "mnist.npz"


class Mnist(Dataset):
    """MNIST digits: 28x28 grayscale images in [0, 1], labels 0-9, train and test splits.

    Reads Keras' mnist.npz (arrays x_train, y_train, x_test, y_test). Without ``path`` it reads
    the Keras cache (``$KERAS_HOME/datasets/mnist.npz``, by default ``~/.keras/datasets/``),
    where ``python -c "import keras; keras.datasets.mnist.load_data()"`` puts it (11 MB); genkit
    itself never downloads. A relative ``path`` is relative to the spec file.

    Args:
        path: an mnist.npz in Keras' format (default: the Keras cache file).
    """

    path_args: ClassVar[tuple[str, ...]] = ("path",)

    def __init__(self, path: str | None = None):
        self.path = Path(path) if path else keras_cache_file()

    def load(self, split: str = "train") -> ArrayData:
        if not self.path.is_file():
            raise GenkitError(
                f"MNIST is not at {self.path}. Fetch it once into Keras' cache with: "
                'python -c "import keras; keras.datasets.mnist.load_data()" '
                "(downloads mnist.npz, 11 MB, to $KERAS_HOME/datasets/, by default ~/.keras/datasets/), "
                "or set data.path to an mnist.npz with arrays x_train, y_train, x_test, y_test"
            )
        arrays = NpzFile(str(self.path), **KERAS_KEYS).load(split)
        arrays.class_names = [str(digit) for digit in range(10)]
        return arrays
