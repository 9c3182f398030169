"""Arrays from ``.npz`` and ``.h5`` files, named by key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genkit import ArrayData, Dataset, GenkitError, path_problem


class _KeyedFile(Dataset):
    """Shared logic: pick the image and label arrays of a split by their keys."""

    path_args: ClassVar[tuple[str, ...]] = ("path",)
    suffix: ClassVar[str] = ""

    def __init__(
        self,
        path: str,
        images: str = "x_train",
        labels: str | None = None,
        test_images: str | None = "x_test",
        test_labels: str | None = None,
    ):
        self.path = Path(path)
        self.keys = {"train": (images, labels), "test": (test_images, test_labels)}

    def _open(self) -> Any:
        raise NotImplementedError

    def load(self, split: str = "train") -> ArrayData:
        images_key, labels_key = self.keys[split]
        if images_key is None:
            raise GenkitError(f"{self.path}: no {split} split is configured (set data.test_images)")
        problem = path_problem(self.path)
        if problem == "not found":
            raise GenkitError(f"data file not found: {self.path} (data.path)")
        if problem:
            raise GenkitError(f"data file {self.path} (data.path) cannot be read as a {self.suffix} file: {problem}")
        try:
            with self._open() as arrays:
                available = sorted(arrays.keys())
                for key in (images_key, labels_key):
                    if key is not None and key not in available:
                        raise GenkitError(
                            f"{self.path} has no array '{key}'; arrays in the file: {', '.join(available)}"
                        )
                x = np.asarray(arrays[images_key])
                y = None if labels_key is None else np.asarray(arrays[labels_key])
        except GenkitError:
            raise
        except Exception as err:  # corrupt or foreign file: name it, no traceback
            raise GenkitError(f"cannot read {self.path} as a {self.suffix} file: {err}") from None
        if y is not None and len(y) != len(x):
            raise GenkitError(f"{self.path}: '{labels_key}' has {len(y)} entries but '{images_key}' has {len(x)}")
        return ArrayData(x=x, y=y)


class NpzFile(_KeyedFile):
    """Arrays from a NumPy ``.npz`` file (e.g. MNIST as x_train / y_train / x_test / y_test).

    uint8 images are scaled to [0, 1]. A relative ``path`` is relative to the spec file.

    Args:
        path: the .npz file.
        images: key of the training images.
        labels: key of the training labels (optional).
        test_images: key of the test images (optional).
        test_labels: key of the test labels (optional).
    """

    suffix = ".npz"

    def _open(self):
        return np.load(self.path, allow_pickle=False)


class H5File(_KeyedFile):
    """Arrays from an HDF5 file, datasets named by key at the file's root.

    uint8 images are scaled to [0, 1]. A relative ``path`` is relative to the spec file.

    Args:
        path: the .h5 file.
        images: name of the training image dataset.
        labels: name of the training label dataset (optional).
        test_images: name of the test image dataset (optional).
        test_labels: name of the test label dataset (optional).
    """

    suffix = ".h5"

    def _open(self):
        import h5py

        return h5py.File(self.path, "r")
