"""Colour images of one shape on a shaded background, with known generative factors (no download).

The colour counterpart of ``shapes``, for the image-folder path: ``genkit data convert
colour_shapes OUT --to image_folder`` writes them as PNG files (64 x 64 RGB by default), laid out
as a CelebA or ImageNet user's folder is, with their factors in ``factors.csv``. Drawing is
vectorized over a chunk of images (about 20,000 64 x 64 images per second on one core) and each
chunk is seeded by its index, so the same arguments give the same images however they are read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from genkit import ArrayData, Dataset, Stream, one_at_a_time

SHAPE_NAMES = ["square", "disc", "triangle", "diamond"]
FACTOR_NAMES = ["shape", "hue", "background_hue", "scale", "position_x", "position_y"]
#: Images drawn per chunk: one piece of the stream, and one vectorized pass.
CHUNK = 512


def _hsv_to_rgb(hue: np.ndarray, saturation: float, value: float) -> np.ndarray:
    """RGB in [0, 1] of hues ``[N]`` (in [0, 1)) at one saturation and value: ``[N, 3]``."""
    k = (np.array([5.0, 3.0, 1.0], np.float32) + hue[:, None] * 6.0) % 6.0
    return value - value * saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


_SLOPE = 1.7 / 0.9  # the triangle's sides: v = -1 + _SLOPE * |u|


def _distance(kind: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (about; negative inside) from canonical coordinates to shape ``kind``'s
    edge, where the shape spans about [-1, 1]^2: 0 square, 1 disc, 2 triangle, 3 diamond."""
    if kind == 0:
        return np.maximum(np.abs(u), np.abs(v)) - 0.8
    if kind == 1:
        return np.sqrt(u * u + v * v) - 1.0
    if kind == 2:
        return np.maximum(v - 0.7, (_SLOPE * np.abs(u) - 1.0 - v) / np.hypot(1.0, _SLOPE))
    return (np.abs(u) + np.abs(v) - 1.0) / np.sqrt(2.0)


def draw(factors: np.ndarray, size: int, noise: np.ndarray | None = None) -> np.ndarray:
    """Render factor rows (shape, hue, background hue, scale, x, y) as uint8 ``[N, size, size, 3]``.

    ``scale`` is the shape's half-width and ``x``/``y`` its centre, as fractions of the image; the
    background is its hue, darker towards the bottom; ``noise`` (``[N, size, size, 1]``, optional)
    is added before rounding. Edges are anti-aliased from the signed distance to the shape (a pixel
    half inside is half covered), computed for each shape's images only, in float32.
    """
    factors = np.asarray(factors, np.float32)
    coverage = np.empty((len(factors), size, size), np.float32)
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    for kind in range(len(SHAPE_NAMES)):
        group = np.flatnonzero(factors[:, 0] == kind)
        scale, cx, cy = (factors[group, i, None, None] for i in (3, 4, 5))
        u = (centres[None, None, :] - cx) / scale
        v = (centres[None, :, None] - cy) / scale
        pixel = 1.0 / (size * scale)  # one pixel in canonical units
        coverage[group] = np.clip(0.5 - _distance(kind, u, v) / pixel, 0.0, 1.0)
    shade = np.linspace(1.0, 0.55, size, dtype=np.float32)[None, :, None, None]
    background = _hsv_to_rgb(factors[:, 2], 0.35, 0.8)[:, None, None, :] * shade
    colour = _hsv_to_rgb(factors[:, 1], 0.85, 0.95)[:, None, None, :]
    image = coverage[..., None] * (colour - background)  # in place from here: one [N, size, size, 3] array
    image += background
    if noise is not None:
        image += noise
    image *= 255.0
    image += 0.5  # rounds to nearest in the cast below
    return np.clip(image, 0.0, 255.0, out=image).astype(np.uint8)


class ColourShapes(Dataset):
    """Colour images of a square, disc, triangle or diamond on a shaded background, labelled by shape.

    Known factors: shape, hue, background hue, scale, position x and y (``factors``, for MIG).
    Streams chunk by chunk (``data.stream``), so arbitrarily many images need no memory; ``genkit
    data convert colour_shapes OUT --to image_folder`` writes them as a folder of PNG files.

    Args:
        size: image height and width in pixels.
        n_train: training images.
        n_test: test images.
        noise: standard deviation of the per-pixel grey noise (0: clean images).
        seed: generator seed (the same seed gives the same images).
    """

    def __init__(self, size: int = 64, n_train: int = 10_000, n_test: int = 1000, noise: float = 0.02,
                 seed: int = 0):
        if size < 4:
            raise ValueError(f"size must be >= 4, got {size}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.size, self.noise, self.seed = size, noise, seed
        self.counts = {"train": n_train, "test": n_test}

    def chunk(self, split: str, start: int) -> dict[str, np.ndarray]:
        """The examples ``start, ..., start + CHUNK - 1`` of a split (fewer at its end): x, y, factors."""
        count = min(CHUNK, self.counts[split] - start)
        rng = np.random.default_rng([self.seed, self.splits.index(split), start // CHUNK])
        factors = np.stack([
            rng.integers(0, len(SHAPE_NAMES), count).astype(np.float64),
            rng.uniform(0.0, 1.0, count),
            rng.uniform(0.0, 1.0, count),
            rng.uniform(0.15, 0.3, count),
            rng.uniform(0.3, 0.7, count),
            rng.uniform(0.3, 0.7, count),
        ], axis=1)
        noise = (rng.standard_normal((count, self.size, self.size, 1), np.float32) * np.float32(self.noise)
                 if self.noise else None)
        x = draw(factors, self.size, noise)
        return {"x": x, "y": factors[:, 0].astype(np.int64), "factors": factors.astype(np.float32)}

    def load(self, split: str = "train") -> ArrayData:
        chunks = [self.chunk(split, start) for start in range(0, self.counts[split], CHUNK)]
        x, y, factors = (np.concatenate([c[key] for c in chunks]) for key in ("x", "y", "factors"))
        return ArrayData(x, y, factors, factor_names=list(FACTOR_NAMES), class_names=list(SHAPE_NAMES))

    def stream(self, split: str = "train") -> Stream:
        starts = list(range(0, self.counts[split], CHUNK))
        signature = {"x": tf.TensorSpec((None, self.size, self.size, 3), tf.uint8),
                     "y": tf.TensorSpec((None,), tf.int64),
                     "factors": tf.TensorSpec((None, len(FACTOR_NAMES)), tf.float32)}

        def read_batches(pieces: Sequence[Any]) -> tf.data.Dataset:
            def chunks() -> Iterator[dict[str, np.ndarray]]:
                for start in pieces:
                    yield self.chunk(split, int(start))

            return tf.data.Dataset.from_generator(chunks, output_signature=signature)

        return Stream((self.size, self.size, 3), "uint8", starts, [min(CHUNK, self.counts[split] - s) for s in starts],
                      one_at_a_time(read_batches), (), len(SHAPE_NAMES), list(SHAPE_NAMES), list(FACTOR_NAMES),
                      read_batches)
