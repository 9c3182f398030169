"""Arrays in ``.npy`` files: loaded whole when they fit, streamed in chunks when not."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import ClassVar

from genkit_plugins.datasets.rows import NpyRows, row_stream

from genkit import ArrayData, Dataset, GenkitError, Stream


class NpyFiles(Dataset):
    """Examples (and optional labels) in ``.npy`` files.

    Small files are loaded whole; large ones stream (``data.stream: auto``): every ``chunk``
    consecutive examples form one piece, read from the file when training needs it, so a file
    larger than memory trains in a few hundred MB. uint8 examples are scaled to [0, 1]. Relative
    paths are relative to the spec file.

    Args:
        images: the .npy file of the training examples ``[N, ...]``.
        labels: the .npy file of their labels ``[N]`` (class indices) or ``[N, d]`` (optional).
        test_images: the .npy file of the test examples (optional).
        test_labels: the .npy file of the test labels (optional).
        chunk: examples per piece when streaming.
    """

    path_args: ClassVar[tuple[str, ...]] = ("images", "labels", "test_images", "test_labels")

    def __init__(self, images: str, labels: str | None = None, test_images: str | None = None,
                 test_labels: str | None = None, chunk: int = 256):
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.files = {"train": (images, labels), "test": (test_images, test_labels)}
        self.chunk = chunk

    def _open(self, split: str) -> tuple[NpyRows, NpyRows | None]:
        """The split's files, checked, as rows read on demand."""
        images, labels = self.files[split]
        if images is None:
            raise GenkitError(f"no {split} split is configured (set data.test_images)")
        arrays: list[NpyRows | None] = []
        for path in (images, labels):
            if path is None:
                arrays.append(None)
                continue
            if not Path(path).is_file():
                raise GenkitError(f"data file not found: {path}")
            try:
                arrays.append(NpyRows(path))
            except (OSError, ValueError) as err:
                raise GenkitError(f"cannot read {path} as a .npy file: {err}") from None
        x, y = arrays
        if x is None or x.ndim < 2:
            raise GenkitError(f"{images}: expected an array of examples [N, ...], got shape {getattr(x, 'shape', ())}")
        if y is not None and len(y) != len(x):
            raise GenkitError(f"{labels}: {len(y)} labels for {len(x)} examples in {images}")
        return x, y

    def load(self, split: str = "train") -> ArrayData:
        x, y = self._open(split)
        return ArrayData(x[:], None if y is None else y[:])

    def stream(self, split: str = "train") -> Stream:
        return row_stream(functools.partial(self._open, split), self.chunk)
