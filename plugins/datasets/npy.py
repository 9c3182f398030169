"""Arrays in ``.npy`` files, memory-mapped: loaded whole when they fit, streamed in chunks when not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from genkit import ArrayData, Dataset, GenkitError, Stream


class NpyFiles(Dataset):
    """Examples (and optional labels) in ``.npy`` files, opened memory-mapped.

    Small files are loaded whole; large ones stream (``data.stream: auto``): every ``chunk``
    consecutive examples form one piece, read from the memory map when training needs it, so a
    file larger than memory trains in a few hundred MB. uint8 examples are scaled to [0, 1]. Relative
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

    def _open(self, split: str) -> tuple[np.ndarray, np.ndarray | None]:
        images, labels = self.files[split]
        if images is None:
            raise GenkitError(f"no {split} split is configured (set data.test_images)")
        arrays: list[np.ndarray | None] = []
        for path in (images, labels):
            if path is None:
                arrays.append(None)
                continue
            if not Path(path).is_file():
                raise GenkitError(f"data file not found: {path}")
            try:
                arrays.append(np.load(path, mmap_mode="r", allow_pickle=False))
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
        return ArrayData(np.asarray(x), None if y is None else np.asarray(y))

    def stream(self, split: str = "train") -> Stream:
        x, y = self._open(split)
        starts = list(range(0, len(x), self.chunk))
        sizes = [min(self.chunk, len(x) - start) for start in starts]
        label_shape = None if y is None else tuple(y.shape[1:])
        label_dtype = tf.int64 if label_shape == () else tf.float32
        signature: dict[str, Any] = {"x": tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))}
        if y is not None:
            signature["y"] = tf.TensorSpec((None, *y.shape[1:]), label_dtype)

        def read(pieces: Sequence[int]) -> tf.data.Dataset:
            def chunks() -> Any:  # a fresh memory map per pass: nothing of it stays resident
                images, labels = self._open(split)
                for start in pieces:
                    rows = {"x": np.asarray(images[start : start + self.chunk])}
                    if labels is not None:
                        rows["y"] = np.asarray(labels[start : start + self.chunk]).astype(label_dtype.as_numpy_dtype)
                    yield rows

            return tf.data.Dataset.from_generator(chunks, output_signature=signature).unbatch()

        classes = int(np.max(y)) + 1 if y is not None and y.ndim == 1 and len(y) else 0
        return Stream(tuple(x.shape[1:]), x.dtype.name, starts, sizes, read, label_shape, classes)
