"""dSprites-like sprites: shape, scale, rotation and position on discrete grids, any combination rendered."""

from __future__ import annotations

from typing import Literal

import numpy as np
from genkit_plugins.datasets.shapes import _REACH, SHAPE_NAMES, draw_shapes

from genkit import ArrayData, FactorDataset, FactorGrid

ShapeName = Literal["square", "ellipse", "triangle", "heart"]

#: The largest sprite's scale (its half-width as a fraction of the image); the smallest is half of it,
#: as in dSprites (scales 0.5 to 1).
MAX_SCALE = 0.16
MIN_RELATIVE_SCALE = 0.5
#: Positions keep every sprite, at any scale and rotation, inside the image.
MARGIN = _REACH * MAX_SCALE


def _grid(low: float, high: float, n: int) -> np.ndarray:
    """``n`` evenly spaced values from ``low`` to ``high``; the middle one alone when ``n`` is 1."""
    return np.linspace(low, high, n) if n > 1 else np.array([(low + high) / 2])


class Sprites(FactorDataset):
    """dSprites-like images: every combination of shape, scale, rotation and x and y position.

    The factors lie on discrete grids (dSprites has 3 shapes, 6 scales, 40 rotations and 32 x 32
    positions, the defaults here), and ``render`` draws the images of any factor combinations, so
    that disentanglement metrics can sample examples that share one factor (``genkit evaluate``
    reports the beta-VAE, FactorVAE, SAP and DCI scores on it). The splits are independent uniform
    draws from the grid, generated from ``seed`` (no download); ``factors`` holds the grid indices
    and the labels ``y`` are the shapes. Grayscale ``size x size x 1`` images in [0, 1]; scales run
    from half of the largest (a half-width of 16% of the image) to it, rotations over a full turn
    (symmetric shapes repeat, as in dSprites), positions so that every sprite stays inside.

    Args:
        size: image height and width in pixels.
        shapes: which shapes, in label order (square, ellipse, triangle, heart).
        scales: number of scales.
        rotations: number of rotations, evenly spaced over a full turn.
        positions: number of positions along each of x and y.
        n_train: number of training images.
        n_test: number of test images.
        seed: generator seed.
    """

    def __init__(self, size: int = 64,
                 shapes: list[ShapeName] = ["square", "ellipse", "heart"],  # noqa: B006 - read-only default
                 scales: int = 6, rotations: int = 40, positions: int = 32,
                 n_train: int = 10000, n_test: int = 2000, seed: int = 0):
        if size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {size}")
        if not shapes or len(set(shapes)) != len(shapes):
            raise ValueError(f"shapes must name at least one shape, each once, got {shapes}")
        if min(scales, rotations, positions) < 1:
            raise ValueError("scales, rotations and positions must each be at least 1")
        self.size, self.n_train, self.n_test, self.seed = size, n_train, n_test, seed
        self.shapes = list(shapes)
        self._values = [
            np.array([SHAPE_NAMES.index(name) for name in shapes], np.float64),
            _grid(MIN_RELATIVE_SCALE * MAX_SCALE, MAX_SCALE, scales),
            2 * np.pi * np.arange(rotations) / rotations,
            _grid(MARGIN, 1 - MARGIN, positions),
            _grid(MARGIN, 1 - MARGIN, positions),
        ]
        self._grid = FactorGrid(("shape", "scale", "rotation", "position_x", "position_y"),
                                (len(shapes), scales, rotations, positions, positions),
                                (True, False, False, False, False))

    @property
    def grid(self) -> FactorGrid:
        """Shape (categorical), scale, rotation, x and y position (ordered)."""
        return self._grid

    def render(self, factors: np.ndarray) -> np.ndarray:
        """The images ``[N, size, size, 1]`` of factor index rows ``[N, 5]``; out-of-grid indices raise ValueError."""
        factors = np.asarray(factors)
        sizes = np.array(self._grid.sizes)
        if factors.ndim != 2 or factors.shape[1] != len(sizes):
            raise ValueError(f"factors must be rows of {len(sizes)} indices, got shape {factors.shape}")
        if np.any((factors < 0) | (factors >= sizes)):
            raise ValueError(f"factor indices must lie below {self._grid.sizes} per factor")
        values = np.stack([grid[factors[:, k]] for k, grid in enumerate(self._values)], axis=1)
        return draw_shapes(values, self.size)

    def load(self, split: str = "train") -> ArrayData:
        n = self.n_train if split == "train" else self.n_test
        factors = self._grid.sample(n, np.random.default_rng([self.seed, 0 if split == "train" else 1]))
        return ArrayData(x=self.render(factors), y=factors[:, 0].copy(), factors=factors,
                         factor_names=list(self._grid.names), class_names=list(self.shapes))
