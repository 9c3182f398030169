"""Streams of array rows read a chunk at a time: the pieces of ``.npy`` and ``.h5`` datasets.

Both file kinds hold examples as the rows of an array. Streaming one cuts it into chunks of
``chunk`` consecutive rows (a piece each) and reads only the chunks an epoch asks for, when it
asks: the file is never loaded whole, and what was read does not stay mapped into the process
(:class:`NpyRows` reads with ``pread``; a memory map would keep every page it touched resident for
the whole epoch, so a 4 GB file would cost 4 GB of resident memory).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from genkit import Stream, one_at_a_time

#: ``open_rows()`` -> (examples, labels or None): array-likes with ``shape``, ``dtype`` and row slicing.
RowOpener = Callable[[], tuple[Any, Any | None]]


class NpyRows:
    """The rows of a C-ordered ``.npy`` file, read on demand with ``os.pread`` (nothing stays mapped)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        with open(self.path, "rb") as handle:
            major, _ = np.lib.format.read_magic(handle)
            header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = header(handle)
            self.offset = handle.tell()
        if np.dtype(dtype).hasobject:
            raise ValueError("the array holds Python objects, which genkit does not unpickle")
        if fortran:
            raise ValueError("the array is stored in Fortran order; save it in C order (np.ascontiguousarray)")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.ndim = len(self.shape)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(len(self))
        count = max(0, stop - start)
        descriptor = os.open(self.path, os.O_RDONLY)
        try:
            data = os.pread(descriptor, count * self.row_bytes, self.offset + start * self.row_bytes)
        finally:
            os.close(descriptor)
        return np.frombuffer(data, self.dtype).reshape(count, *self.shape[1:])


def label_dtype(labels: Any) -> tf.DType:
    """How genkit streams labels: class indices ``[N]`` as int64, condition vectors ``[N, d]`` as float32."""
    return tf.int64 if labels.ndim == 1 else tf.float32


def row_stream(open_rows: RowOpener, chunk: int) -> Stream:
    """A :class:`~genkit.Stream` over the rows ``open_rows`` gives, ``chunk`` rows per piece.

    ``open_rows`` is called once to describe the data and once per pass of ``read`` (a fresh file
    handle each pass, so nothing read stays in memory after it).
    """
    x, y = open_rows()
    starts = list(range(0, len(x), chunk))
    sizes = [min(chunk, len(x) - start) for start in starts]
    signature: dict[str, Any] = {"x": tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))}
    if y is not None:
        signature["y"] = tf.TensorSpec((None, *y.shape[1:]), label_dtype(y))

    def read_batches(pieces: Sequence[int]) -> tf.data.Dataset:
        def chunks() -> Iterator[dict[str, np.ndarray]]:
            images, labels = open_rows()
            for start in pieces:
                rows = {"x": np.asarray(images[start : start + chunk])}
                if labels is not None:
                    rows["y"] = np.asarray(labels[start : start + chunk]).astype(signature["y"].dtype.as_numpy_dtype)
                yield rows

        return tf.data.Dataset.from_generator(chunks, output_signature=signature)

    label_shape = None if y is None else tuple(int(d) for d in y.shape[1:])
    classes = int(np.max(y[:])) + 1 if y is not None and y.ndim == 1 and len(y) else 0
    return Stream(tuple(int(d) for d in x.shape[1:]), np.dtype(x.dtype).name, starts, sizes,
                  one_at_a_time(read_batches), label_shape, classes, read_batches=read_batches)
