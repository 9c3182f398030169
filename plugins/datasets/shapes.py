"""Procedurally drawn shapes in the spirit of dSprites, with known generative factors."""

from __future__ import annotations

import numpy as np

from genkit import ArrayData, Dataset

SHAPE_NAMES = ["square", "ellipse", "triangle", "heart"]
FACTOR_NAMES = ["shape", "scale", "rotation", "position_x", "position_y"]


def _inside(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether canonical coordinates (u, v) in [-1, 1]^2 lie inside each example's shape."""
    square = (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    ellipse = (u / 1.0) ** 2 + (v / 0.6) ** 2 <= 1.0
    # upward triangle with vertices (0, -1), (-0.9, 0.7), (0.9, 0.7) in image coordinates (v down)
    triangle = (v <= 0.7) & (v >= -1.0 + (1.7 / 0.9) * np.abs(u))
    hu, hv = u * 1.2, -v * 1.2 + 0.15
    heart = (hu**2 + hv**2 - 1.0) ** 3 - hu**2 * hv**3 <= 0.0
    masks = np.stack([square, ellipse, triangle, heart])  # [4, N, H, W]
    return np.take_along_axis(masks, shape[None, :, None, None], axis=0)[0]


def draw_shapes(factors: np.ndarray, size: int, supersample: int = 3) -> np.ndarray:
    """Render ``factors`` rows (shape, scale, rotation, x, y) as ``[N, size, size, 1]`` images in [0, 1].

    ``scale`` is the half-width as a fraction of the image, ``rotation`` in radians, ``x``/``y`` the
    centre as a fraction of the image. Each pixel is the fraction of its sub-pixels inside.
    """
    n = factors.shape[0]
    grid = (np.arange(size * supersample) + 0.5) / (size * supersample)
    gx, gy = np.meshgrid(grid, grid)  # [S, S]
    shape = factors[:, 0].astype(np.int64)
    scale, angle = factors[:, 1, None, None], factors[:, 2, None, None]
    dx, dy = gx[None] - factors[:, 3, None, None], gy[None] - factors[:, 4, None, None]
    cos, sin = np.cos(angle), np.sin(angle)
    u = (cos * dx + sin * dy) / scale
    v = (-sin * dx + cos * dy) / scale
    fine = _inside(shape, u, v).astype(np.float32)
    images = fine.reshape(n, size, supersample, size, supersample).mean(axis=(2, 4))
    return images[..., None]


def sample_factors(n: int, rng: np.random.Generator, rotate: bool = True, centred: bool = False) -> np.ndarray:
    """Independent uniform factors: shape class, scale, rotation, centre x, centre y.

    ``rotate=False`` keeps every shape upright and ``centred=True`` puts it in the middle; the
    random stream is the same either way, so the other factors do not change.
    """
    shape = rng.integers(0, len(SHAPE_NAMES), n)
    scale = rng.uniform(0.12, 0.25, n)
    rotation = rng.uniform(0.0, 2 * np.pi, n)
    margin = scale * 1.1
    x = rng.uniform(margin, 1 - margin)
    y = rng.uniform(margin, 1 - margin)
    if not rotate:
        rotation = np.zeros(n)
    if centred:
        x = y = np.full(n, 0.5)
    return np.stack([shape, scale, rotation, x, y], axis=1)


class Shapes(Dataset):
    """Procedural shapes (square, ellipse, triangle, heart) with random scale, rotation, position.

    Grayscale ``size x size x 1`` images in [0, 1]; labels are the shape class; all five factors
    are exposed for disentanglement metrics. Generated from ``seed`` (the test split from a
    different stream), no download. By default position and rotation, not the shape, dominate
    the pixels (k-means on them is near chance at finding the shape); ``rotate: false, centred:
    true`` leaves shape and scale, so that the classes are what a clustering should find.

    Args:
        size: image height and width in pixels.
        n_train: number of training images.
        n_test: number of test images.
        seed: generator seed.
        rotate: rotate each shape by a random angle (else upright).
        centred: put each shape in the middle of the image (else at a random position).
    """

    def __init__(self, size: int = 28, n_train: int = 10000, n_test: int = 2000, seed: int = 0,
                 rotate: bool = True, centred: bool = False):
        if size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {size}")
        self.size, self.n_train, self.n_test, self.seed = size, n_train, n_test, seed
        self.rotate, self.centred = rotate, centred

    def load(self, split: str = "train") -> ArrayData:
        n = self.n_train if split == "train" else self.n_test
        rng = np.random.default_rng([self.seed, 0 if split == "train" else 1])
        factors = sample_factors(n, rng, self.rotate, self.centred)
        return ArrayData(
            x=draw_shapes(factors, self.size),
            y=factors[:, 0].astype(np.int64),
            factors=factors.astype(np.float32),
            factor_names=list(FACTOR_NAMES),
            class_names=list(SHAPE_NAMES),
        )
