"""Arrays from ``.npz`` and ``.h5`` files, named by key; ``.h5`` files also stream in chunks."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from genkit_plugins.datasets.rows import row_stream

from genkit import ArrayData, Dataset, GenkitError, Stream, path_problem


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

    def _arrays(self, split: str, arrays: Any) -> tuple[Any, Any | None]:
        """The split's image and label arrays of an open file (checked), not yet read."""
        images_key, labels_key = self.keys[split]
        available = sorted(arrays.keys())
        for key in (images_key, labels_key):
            if key is not None and key not in available:
                raise GenkitError(f"{self.path} has no array '{key}'; arrays in the file: {', '.join(available)}")
        x = arrays[images_key]
        y = None if labels_key is None else arrays[labels_key]
        if y is not None and len(y) != len(x):
            raise GenkitError(f"{self.path}: '{labels_key}' has {len(y)} entries but '{images_key}' has {len(x)}")
        return x, y

    def _read(self, split: str, use: Any) -> Any:
        """``use(x, y)`` on the split's arrays of the open file; a missing or unreadable file named."""
        if self.keys[split][0] is None:
            raise GenkitError(f"{self.path}: no {split} split is configured (set data.test_images)")
        problem = path_problem(self.path)
        if problem == "not found":
            raise GenkitError(f"data file not found: {self.path} (data.path)")
        if problem:
            raise GenkitError(f"data file {self.path} (data.path) cannot be read as a {self.suffix} file: {problem}")
        try:
            with self._open() as arrays:
                return use(*self._arrays(split, arrays))
        except GenkitError:
            raise
        except Exception as err:  # corrupt or foreign file: name it, no traceback
            raise GenkitError(f"cannot read {self.path} as a {self.suffix} file: {err}") from None

    def load(self, split: str = "train") -> ArrayData:
        return self._read(split, lambda x, y: ArrayData(x=np.asarray(x), y=None if y is None else np.asarray(y)))


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

    Loaded whole when they fit in memory; else (``data.stream: auto``) streamed: every ``chunk``
    consecutive rows form one piece, read from the file only when training needs it. uint8
    images are scaled to [0, 1]. A relative ``path`` is relative to the spec file.

    Args:
        path: the .h5 file.
        images: name of the training image dataset.
        labels: name of the training label dataset (optional).
        test_images: name of the test image dataset (optional).
        test_labels: name of the test label dataset (optional).
        chunk: examples per piece when streaming.
    """

    suffix = ".h5"

    def __init__(self, path: str, images: str = "x_train", labels: str | None = None,
                 test_images: str | None = "x_test", test_labels: str | None = None, chunk: int = 256):
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        super().__init__(path, images, labels, test_images, test_labels)
        self.chunk = chunk

    def _open(self):
        import h5py

        return h5py.File(self.path, "r")

    def _rows(self, split: str) -> tuple[Any, Any | None]:
        """The split's h5 datasets of a fresh handle (kept open by them), checked, not yet read."""
        self._read(split, lambda x, y: None)  # the checks, with the file named on failure
        return self._arrays(split, self._open())

    def stream(self, split: str = "train") -> Stream:
        x, _ = self._rows(split)
        if x.ndim < 2:
            raise GenkitError(f"{self.path}: expected an array of examples [N, ...], got shape {x.shape}")
        return row_stream(functools.partial(self._rows, split), self.chunk)
