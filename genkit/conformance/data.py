"""Datasets: splits that load, line up, repeat, and go through genkit's own loader."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from genkit.assembly.data import load_split
from genkit.conformance.base import Failure, Subject, attempt, registered
from genkit.plugin.dataset import ArrayData
from genkit.spec.resolve import resolve


class DatasetSubject(Subject):
    """Check a dataset: every split in ``splits`` loads as :class:`genkit.ArrayData` whose labels and
    factors line up with the examples; loading twice gives the same arrays (generated data is
    deterministic for its seed); genkit's own loader accepts every split (numeric, finite,
    non-empty ``[N, ...]`` arrays) and they share one example shape; and its spec arguments are
    validated. (A dataset has no variables, so gradients, tf.function and weights do not apply.)
    """

    kind = "dataset"
    properties = ("splits_named", "splits_load", "deterministic", "genkit_loader", "same_example_shape")

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None):
        super().__init__(cls, args)

    @property
    def spec_key(self) -> str:
        return "data"

    def spec_with(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {"latent_dim": 2, "data": entry}

    def splits_named(self) -> None:
        """``splits`` is a non-empty tuple of names."""
        splits = self.cls.splits
        if not splits or not isinstance(splits, tuple) or not all(isinstance(s, str) for s in splits):
            raise Failure(f"splits should be a non-empty tuple of names, got {splits!r}")

    @cached_property
    def instance(self) -> Any:
        return self.make()

    def load(self, split: str) -> Any:
        return attempt(f"load('{split}')", lambda: self.instance.load(split))

    @cached_property
    def loaded(self) -> dict[str, Any]:
        return {split: self.load(split) for split in self.cls.splits}

    def splits_load(self) -> None:
        """Each split is ArrayData; labels and factors have one row per example; labels stay in the
        range of ``class_names``."""
        for split, arrays in self.loaded.items():
            _assert_split(split, arrays)

    def deterministic(self) -> None:
        """Two loads of a split give the same arrays."""
        for split, arrays in self.loaded.items():
            again = self.load(split)
            for key in ("x", "y", "factors"):
                if not np.array_equal(getattr(arrays, key), getattr(again, key)):
                    raise Failure(f"two loads of the '{split}' split gave different '{key}' (not deterministic)")

    @cached_property
    def through_genkit(self) -> dict[str, Any]:
        """Every split as genkit's loader gives it to training."""
        with registered(self.kind, self.cls) as name:
            spec = resolve(self.spec_with({"type": name, **self.args}))
            return {split: attempt(f"genkit's loader on the '{split}' split",
                                   functools.partial(load_split, spec, split)) for split in self.cls.splits}

    def genkit_loader(self) -> None:
        """genkit's loader (the one training uses) accepts every split, and each has examples."""
        for split, arrays in self.through_genkit.items():
            if not len(arrays):
                raise Failure(f"genkit's loader gives no examples for the '{split}' split")

    def same_example_shape(self) -> None:
        """Every split has the same example shape."""
        shapes = {arrays.x.shape[1:] for arrays in self.through_genkit.values()}
        if len(shapes) != 1:
            raise Failure(f"its splits have different example shapes: {sorted(shapes)}")


def _assert_split(split: str, arrays: Any) -> None:
    if not isinstance(arrays, ArrayData):
        raise Failure(f"load('{split}') should return genkit.ArrayData, got {type(arrays).__name__}")
    n = len(arrays)
    if arrays.y is not None and len(arrays.y) != n:
        raise Failure(f"the '{split}' split has {n} examples but {len(arrays.y)} labels")
    if arrays.factors is not None:
        factors = np.asarray(arrays.factors)
        if factors.ndim != 2 or len(factors) != n:
            raise Failure(f"factors of the '{split}' split should have shape [{n}, F], got {factors.shape}")
        if arrays.factor_names and len(arrays.factor_names) != factors.shape[1]:
            raise Failure(f"{len(arrays.factor_names)} factor_names for {factors.shape[1]} factors")
    if arrays.class_names and arrays.y is not None and np.asarray(arrays.y).ndim == 1:
        if np.max(arrays.y) >= len(arrays.class_names) or np.min(arrays.y) < 0:
            raise Failure(f"labels of the '{split}' split leave the range of its {len(arrays.class_names)} "
                          "class_names")
