"""The codes of a trained genkit run as a dataset: a second model trains on what the first one's
frozen encoder makes of the images (Kingma et al. 2014's M1+M2 stacks M2 on a VAE's codes)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genkit import ArrayData, Dataset, GenkitError, load, load_spec, load_split

#: The resolved spec a run directory keeps (docs/runs.md, the run directory's layout).
RUN_SPEC = "spec.yaml"


class EncodedRun(Dataset):
    """The images of a trained run's own dataset, replaced by the run's codes: the posterior mean
    of q(z|x) for each image (its point summary), with the images' labels.

    The run is only read: its encoder stays frozen, none of its weights become part of the model
    trained on the codes. The images are those the run trained on, in genkit's conventions (the
    run's ``limit``; grayscale values when it binarized dynamically, as Kingma et al. encode).
    Both splits keep the same code dimensions: those whose posterior mean varies over the
    training images with a standard deviation above ``min_std`` (Kingma et al. keep > 0.1: a
    VAE's unused dimensions sit at the prior whatever the image and carry nothing).

    Args:
        run: a trained genkit run directory whose encoder makes the codes (relative to the spec file).
        min_std: keep the code dimensions whose training-set standard deviation exceeds this; 0 keeps all.
        batch_size: images encoded at a time.
    """

    path_args: ClassVar[tuple[str, ...]] = ("run",)

    def __init__(self, run: str, min_std: float = 0.0, batch_size: int = 1000):
        if min_std < 0:
            raise ValueError(f"min_std must be 0 or more, got {min_std}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.run, self.min_std, self.batch_size = Path(run), min_std, batch_size

    @functools.cached_property
    def _model(self) -> Any:
        if not (self.run / RUN_SPEC).is_file():
            raise GenkitError(f"{self.run} is not a trained genkit run directory ({RUN_SPEC} is missing; data.run)")
        model = load(self.run)
        if model.conditional:
            raise GenkitError(f"{self.run}: the run is conditional; its codes need labels the data to encode may "
                              "not have (encode with an unconditional run)")
        return model

    @functools.cache  # noqa: B019 - one dataset object per spec, each split encoded once
    def _codes(self, split: str) -> ArrayData:
        """Every code dimension of the split's images, with their labels."""
        model = self._model
        images = load_split(load_spec(self.run / RUN_SPEC), split)
        codes = model.encode(images.x, batch_size=self.batch_size).reshape(len(images), -1)
        return ArrayData(codes.astype(np.float32), images.y, class_names=images.class_names)

    @functools.cached_property
    def kept_dimensions(self) -> np.ndarray:
        """Indices of the code dimensions this dataset keeps (from the training split's codes)."""
        spread = self._codes("train").x.std(axis=0)
        kept = np.flatnonzero(spread > self.min_std)
        if kept.size == 0:
            raise GenkitError(f"{self.run}: no code dimension varies with a standard deviation above min_std="
                              f"{self.min_std:g} (the largest is {spread.max():.3g}); lower data.min_std")
        return kept

    def load(self, split: str = "train") -> ArrayData:
        arrays = self._codes(split)
        return ArrayData(arrays.x[:, self.kept_dimensions], arrays.y, class_names=list(arrays.class_names))
