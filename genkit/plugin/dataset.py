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

    ``y`` are class labels (int, ``[N]``) or condition vectors (``[N, d]``); ``factors`` are known
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


@dataclass
class Stream:
    """One split described without reading it: how many examples, of what shape, and how to read
    any selection of its pieces (files, or chunks of rows) as a ``tf.data.Dataset``.

    genkit shuffles the pieces per epoch (seeded), splits them between training and validation and,
    with several workers, between workers; ``read`` must return the examples of the pieces it is given
    in their order (``{"x": ...}``, plus ``"y"`` when the data have labels), decoding in parallel where
    it can. ``sizes`` are the example counts of the pieces, so steps per epoch are known up front.
    """

    example_shape: tuple[int, ...]
    #: numpy dtype name of ``x`` as read: ``uint8`` (scaled to [0, 1] by genkit) or a float type.
    dtype: str
    pieces: Sequence[Any]
    sizes: Sequence[int]
    read: Callable[[Sequence[Any]], tf.data.Dataset]
    #: ``()`` for class indices, ``(d,)`` for condition vectors, None without labels.
    label_shape: tuple[int, ...] | None = None
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(sum(self.sizes))

    def decoded_bytes(self) -> int:
        """What the split would take in memory as float32 arrays (what genkit trains on)."""
        return len(self) * math.prod(self.example_shape) * 4


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
