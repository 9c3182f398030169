"""Procedurally drawn shapes in the spirit of dSprites, with known generative factors."""

from __future__ import annotations

import numpy as np
from genkit_plugins.datasets import check_generated

from genkit import ArrayData, Dataset

SHAPE_NAMES = ["square", "ellipse", "triangle", "heart"]
FACTOR_NAMES = ["shape", "scale", "rotation", "position_x", "position_y"]


# Every shape lies within this distance of its centre, in units of its scale: the farthest points
# are the triangle's base corners (1.14) and the square's corners (0.8 * sqrt(2) = 1.13). Pixels
# farther away are blank, so draw_shapes evaluates only a box of this half-width around each shape.
_REACH = 1.25
# Sub-pixels drawn per chunk of examples, over all sub-pixel offsets: the float64 arrays of one
# offset's pass (a ninth of this at the default supersampling, about 460 KB) stay in the L2 cache.
_CHUNK = 1 << 19


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside the square of half-width 0.8."""
    return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside the ellipse with semi-axes 1 (across) and 0.6 (down)."""
    return u**2 + (v / 0.6) ** 2 <= 1.0


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside the upward triangle with vertices (0, -1), (-0.9, 0.7), (0.9, 0.7) (v points down)."""
    return (v <= 0.7) & (v >= -1.0 + (1.7 / 0.9) * np.abs(u))


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The heart curve's inside, ``(hu^2 + hv^2 - 1)^3 - hu^2 hv^3 <= 0``.

    ``x ** 3`` calls ``pow``, which made hearts several times slower to draw than the other
    shapes, so the cubes are products. Those round differently from ``pow`` (by a few units in the
    last place), which can flip the comparison only where the two terms agree to about that
    precision; the few points where they agree to 1e-9 are decided with ``pow`` as written, so the
    mask is exactly the one the formula with ``** 3`` gives.
    """
    hu, hv = u * 1.2, -v * 1.2 + 0.15
    hu2 = hu**2
    r = hu2 + hv**2 - 1.0
    cube, tail = r * r * r, hu2 * (hv * hv * hv)
    inside = cube <= tail
    unsure = np.abs(cube - tail) <= 1e-9 * (np.abs(cube) + np.abs(tail))
    inside[unsure] = r[unsure] ** 3 - hu2[unsure] * hv[unsure] ** 3 <= 0.0
    return inside


# Whether canonical coordinates (u, v), the shape spanning about [-1, 1]^2, lie inside the shape;
# indexed by the shape class, in the order of SHAPE_NAMES.
_INSIDE = [_square, _ellipse, _triangle, _heart]


def draw_shapes(factors: np.ndarray, size: int, supersample: int = 3) -> np.ndarray:
    """Render ``factors`` rows (shape, scale, rotation, x, y) as ``[N, size, size, 1]`` images in [0, 1].

    ``scale`` is the half-width as a fraction of the image, ``rotation`` in radians, ``x``/``y`` the
    centre as a fraction of the image. Each pixel is the fraction of its ``supersample`` x
    ``supersample`` sub-pixels inside. Raises ``ValueError`` for a shape class that is not an
    index into ``SHAPE_NAMES``.

    Each example is tested against its own shape only, inside a box around it (everything else is
    blank): examples are grouped by class, sorted by box width so that a chunk's boxes have about
    the same size, and evaluated a chunk at a time, one sub-pixel offset per pass. The rotated
    coordinates are sums of a per-column and a per-row term, so those are computed per box edge.
    Each sub-pixel's coordinates come from the same operations, in the same order and precision,
    as in a direct evaluation over the whole image, so a sub-pixel is inside exactly when it is
    there: the images do not depend on the grouping or the chunks.
    """
    n = factors.shape[0]
    fine = size * supersample
    grid = (np.arange(fine) + 0.5) / fine  # sub-pixel centres as fractions of the image
    shape = factors[:, 0].astype(np.int64)
    if np.any((shape < 0) | (shape >= len(SHAPE_NAMES))):
        raise ValueError(f"shape classes must be in 0..{len(SHAPE_NAMES) - 1}, got {np.unique(shape).tolist()}")
    scale, x, y = factors[:, 1], factors[:, 3], factors[:, 4]
    cos, sin = np.cos(factors[:, 2]), np.sin(factors[:, 2])
    # each example's box: its first pixel row and column, and its width (blank pixels outside)
    reach = _REACH * np.abs(scale)
    first_col, first_row = np.floor((x - reach) * size), np.floor((y - reach) * size)
    width = np.maximum(np.floor((x + reach) * size) - first_col, np.floor((y + reach) * size) - first_row) + 1
    width = np.minimum(width, size).astype(np.int64)
    first_col, first_row = first_col.astype(np.int64), first_row.astype(np.int64)
    per_chunk = max(1, _CHUNK // (supersample * int(width.max(initial=1))) ** 2)  # even for the widest box
    # pixel value for each count of covered sub-pixels
    fraction = (np.arange(supersample**2 + 1) / supersample**2).astype(np.float32)
    counter = np.min_scalar_type(supersample**2)
    images = np.zeros((n, size, size), np.float32)
    for k, inside in enumerate(_INSIDE):
        members = np.flatnonzero(shape == k)
        members = members[np.argsort(width[members], kind="stable")]
        for start in range(0, members.size, per_chunk):
            chunk = members[start:start + per_chunk]
            box = int(width[chunk[-1]])  # the widest in the chunk, as they are sorted
            # [box, m] pixel rows and columns; the example is the last axis throughout, so that
            # numpy's loops run over many examples rather than over one short box edge
            offsets = np.arange(box)[:, None]
            rows = offsets + np.clip(first_row[chunk], 0, size - box)
            cols = offsets + np.clip(first_col[chunk], 0, size - box)
            c, s, sc = cos[chunk], sin[chunk], scale[chunk]
            count = np.zeros((box, box, chunk.size), counter)
            for i in range(supersample):
                dy = grid[rows * supersample + i] - y[chunk]
                s_dy, c_dy = (s * dy)[:, None], (c * dy)[:, None]
                for j in range(supersample):
                    dx = grid[cols * supersample + j] - x[chunk]
                    c_dx, s_dx = c * dx, -s * dx
                    count += inside((c_dx + s_dy) / sc, (s_dx + c_dy) / sc)
            images[chunk, rows[:, None], cols] = fraction[count]
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
        check_generated("shapes", n_train, n_test, seed, size * size)
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
