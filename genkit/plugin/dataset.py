"""The dataset contract: a source of arrays, and the arrays of one split; or, for data that do not
fit in memory, a stream of pieces read a few at a time; datasets that render factors."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf


@dataclass
class ArrayData:
    """One split of a dataset as arrays: ``x`` float32 ``[N, *shape]`` and optional extras.

    ``y`` are class labels (int, ``[N]``) or conditions: vectors (``[N, d]``) or tensors such as the
    given part of an image (``[N, H, W]``, flattened by the model); ``factors`` are known
    generative factors ``[N, F]`` with ``factor_names`` (used by disentanglement metrics).
    """

    x: np.ndarray
    y: np.ndarray | None = None
    factors: np.ndarray | None = None
    factor_names: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: np.ndarray) -> ArrayData:
        """The examples at ``index``, extras kept aligned."""
        return ArrayData(
            self.x[index],
            None if self.y is None else self.y[index],
            None if self.factors is None else self.factors[index],
            self.factor_names,
            self.class_names,
        )


#: How a stream reads a selection of its pieces.
PieceReader = Callable[[Sequence[Any]], tf.data.Dataset]


@dataclass
class Stream:
    """One split described without reading it: how many examples, of what shape, and how to read
    any selection of its pieces (files, or chunks of rows) as a ``tf.data.Dataset``.

    genkit shuffles the pieces per epoch (seeded), splits them between training and validation and,
    with several workers, between workers; ``read`` must return the examples of the pieces it is given
    in their order (``{"x": ...}``, plus ``"y"`` when the data have labels and ``"factors"``, float32
    ``[F]``, when ``factor_names`` names known generative factors), decoding in parallel where it can.
    ``sizes`` are the example counts of the pieces, so steps per epoch are known up front.

    genkit shuffles and batches a training epoch a window of examples at a time. A stream that
    reads many examples at once (rows of an array, records parsed together) also gives
    ``read_batches``: the same examples in the same order as batches of any sizes (a leading
    dimension on every key), so that no step of the pipeline handles single examples
    (:func:`one_at_a_time` makes ``read`` from it).
    """

    example_shape: tuple[int, ...]
    #: numpy dtype name of ``x`` as read: ``uint8`` (scaled to [0, 1] by genkit) or a float type.
    dtype: str
    pieces: Sequence[Any]
    sizes: Sequence[int]
    read: PieceReader
    #: ``()`` for class indices, ``(d,)`` for condition vectors (``(H, W)`` ... for condition tensors),
    #: None without labels.
    label_shape: tuple[int, ...] | None = None
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    #: Names of the generative factors ``read`` returns under ``"factors"`` (evaluation's MIG); empty: none.
    factor_names: list[str] = field(default_factory=list)
    #: The pieces' examples as batches of any sizes (see the class docstring); None: only ``read``.
    read_batches: PieceReader | None = None

    def __len__(self) -> int:
        return int(sum(self.sizes))

    def raw_example_bytes(self) -> int:
        """What one example takes as read (before scaling): shape times the size of ``dtype``."""
        return math.prod(self.example_shape) * np.dtype(self.dtype).itemsize

    def decoded_bytes(self) -> int:
        """What the split would take in memory as float32 arrays (what genkit trains on)."""
        return len(self) * math.prod(self.example_shape) * 4

    def to_arrays(self, batch_size: int = 1024) -> ArrayData:
        """Every example of the stream in memory, in piece order (for a dataset's ``load``)."""
        x = np.empty((len(self), *self.example_shape), np.dtype(self.dtype))
        extras: dict[str, list[np.ndarray]] = {"y": [], "factors": []}
        start = 0
        pieces = list(self.pieces)
        batches = (self.read(pieces).batch(batch_size) if self.read_batches is None
                   else self.read_batches(pieces).rebatch(batch_size))
        for batch in batches.prefetch(1):
            n = int(batch["x"].shape[0])
            x[start : start + n] = batch["x"].numpy()
            for key, parts in extras.items():
                if key in batch:
                    parts.append(batch[key].numpy())
            start += n
        y, factors = (np.concatenate(parts) if parts else None for parts in extras.values())
        return ArrayData(x[:start], y, factors, list(self.factor_names) if factors is not None else [],
                         list(self.class_names))

    @classmethod
    def from_arrays(cls, arrays: ArrayData, chunk: int = 1024) -> Stream:
        """Arrays already in memory as a stream of ``chunk``-row pieces (so one code path reads both)."""
        columns = {"x": arrays.x}
        if arrays.y is not None:
            columns["y"] = arrays.y.astype(np.int64 if arrays.y.ndim == 1 else np.float32)
        if arrays.factors is not None:
            columns["factors"] = arrays.factors.astype(np.float32)
        starts = list(range(0, len(arrays), chunk))

        def read_batches(pieces: Sequence[int]) -> tf.data.Dataset:
            rows = np.concatenate([np.arange(s, min(s + chunk, len(arrays))) for s in pieces]) if pieces else []
            return tf.data.Dataset.from_tensors({key: value[rows] for key, value in columns.items()})

        labels = arrays.y
        return cls(tuple(int(d) for d in arrays.x.shape[1:]), arrays.x.dtype.name, starts,
                   [min(chunk, len(arrays) - s) for s in starts], one_at_a_time(read_batches),
                   None if labels is None else tuple(int(d) for d in labels.shape[1:]),
                   int(labels.max()) + 1 if labels is not None and labels.ndim == 1 and len(labels) else 0,
                   list(arrays.class_names), list(arrays.factor_names) if arrays.factors is not None else [],
                   read_batches)


def one_at_a_time(read_batches: PieceReader) -> PieceReader:
    """A :class:`Stream`'s ``read`` made from its ``read_batches``: the same examples, one element each."""

    def read(pieces: Sequence[Any]) -> tf.data.Dataset:
        return read_batches(pieces).unbatch()

    return read


class Dataset:
    """A source of arrays. ``load(split)`` returns :class:`ArrayData` for ``"train"`` or ``"test"``.

    Generated datasets must be deterministic for a given ``seed`` argument. Values may be uint8
    (scaled to [0, 1] by genkit) or float. A dataset whose files may not fit in memory also
    implements ``stream(split)`` (a :class:`Stream`); ``data.stream`` in the spec chooses.
    """

    context_args: ClassVar[frozenset[str]] = frozenset()
    #: The splits this dataset can produce.
    splits: ClassVar[tuple[str, ...]] = ("train", "test")

    def load(self, split: str = "train") -> ArrayData:
        """Arrays of one split."""
        raise NotImplementedError

    def stream(self, split: str = "train") -> Stream:
        """One split as a :class:`Stream` (only datasets that can be read piece by piece)."""
        raise NotImplementedError(f"dataset {type(self).__name__} is loaded whole; it cannot stream")

    @classmethod
    def can_stream(cls) -> bool:
        """Whether the dataset implements :meth:`stream`."""
        return cls.stream is not Dataset.stream

    def as_stream(self, split: str = "train") -> Stream:
        """One split as a :class:`Stream` whatever the dataset: its own stream, or its loaded arrays
        (what ``genkit data convert`` reads, a piece at a time when the dataset can stream)."""
        return self.stream(split) if type(self).can_stream() else Stream.from_arrays(self.load(split))


@dataclass(frozen=True)
class FactorGrid:
    """Discrete generative factors: factor ``k`` takes the values ``0 .. sizes[k] - 1``.

    ``categorical[k]`` says that factor ``k``'s values are unordered classes (a shape), not points
    on a scale (a size, an angle, a position); metrics fit classifiers to categorical factors and
    regressions to ordered ones.
    """

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    categorical: tuple[bool, ...]

    def __post_init__(self) -> None:
        if not len(self.names) == len(self.sizes) == len(self.categorical):
            raise ValueError("a factor grid needs one name, size and categorical flag per factor")
        if any(size < 1 for size in self.sizes):
            raise ValueError(f"every factor needs at least one value, got sizes {self.sizes}")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` combinations ``[n, F]`` (int64), each factor uniform over its values and independent."""
        return np.stack([rng.integers(0, size, n) for size in self.sizes], axis=1)


class FactorDataset(Dataset):
    """A dataset generated from a grid of discrete factors, any combination of which it renders.

    Disentanglement metrics need more than a fixed sample: the beta-VAE and FactorVAE scores draw
    groups of examples that share the value of one factor, so the dataset must render the examples
    of factor combinations it is given. ``load`` returns the factor indices as ``factors``.
    """

    @property
    def grid(self) -> FactorGrid:
        """The factors, their numbers of values and which are categorical."""
        raise NotImplementedError

    def render(self, factors: np.ndarray) -> np.ndarray:
        """The examples ``[N, *shape]`` (float32 in [0, 1]) of factor index rows ``[N, F]``."""
        raise NotImplementedError
