"""The dataset contract: a source of arrays, and the arrays of one split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np


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


class Dataset:
    """A source of arrays. ``load(split)`` returns :class:`ArrayData` for ``"train"`` or ``"test"``.

    Generated datasets must be deterministic for a given ``seed`` argument. Values may be uint8
    (scaled to [0, 1] by genkit) or float.
    """

    context_args: ClassVar[frozenset[str]] = frozenset()
    #: The splits this dataset can produce.
    splits: ClassVar[tuple[str, ...]] = ("train", "test")

    def load(self, split: str = "train") -> ArrayData:
        """Arrays of one split."""
        raise NotImplementedError
