"""Image completion data: the missing quadrants of each image are the data, the given ones the condition.

The layout of Sohn et al. (2015)'s MNIST task as Pyro's CVAE example lays it out: with one given
quadrant it is the bottom-left one; with two, the left half; with three, the left half and the
top-right, so that only the bottom-right quadrant is missing. A conditional model then learns
p(missing | given): ``x`` holds the missing pixels (row-major, flat), and the condition ``y`` is
the image ``[H, W]`` with its missing pixels marked :data:`MASKED` (-1, a value no pixel takes),
so a network reads the given pixels where they are in the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from genkit_plugins.datasets.files import NpzFile
from genkit_plugins.datasets.mnist import keras_cache_file

from genkit import ArrayData, Dataset, GenkitError

#: The value of the condition's missing pixels.
MASKED = -1.0


def given_mask(height: int, width: int, given: int) -> np.ndarray:
    """Where the ``given`` quadrants (1, 2 or 3) of an ``height x width`` image lie: bool ``[H, W]``."""
    if given not in (1, 2, 3):
        raise ValueError(f"given must be 1, 2 or 3 quadrants, got {given}")
    mask = np.zeros((height, width), bool)
    mask[height // 2 :, : width // 2] = True  # bottom-left
    if given == 2:
        mask[:, : width // 2] = True  # and top-left: the left half
    if given == 3:
        mask[: height // 2, :] = True  # and the top half: all but the bottom-right
    return mask


def split_quadrants(images: np.ndarray, given: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, H, W]`` in [0, 1] -> (missing pixels ``[N, m]``, condition ``[N, H, W]``: the
    given pixels, :data:`MASKED` elsewhere)."""
    mask = given_mask(images.shape[1], images.shape[2], given)
    missing = images[:, ~mask].astype(np.float32)
    condition = np.where(mask, images, MASKED).astype(np.float32)
    return missing, condition


def _unit_images(x: np.ndarray, where: str) -> np.ndarray:
    """Grayscale images ``[N, H, W]`` (a channel axis of 1 dropped) as float32 in [0, 1]."""
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise GenkitError(f"{where}: quadrants needs grayscale images [N, H, W], got shape {x.shape}")
    images = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if images.size and (not np.all(np.isfinite(images)) or images.min() < 0.0 or images.max() > 1.0):
        raise GenkitError(f"{where}: quadrants needs pixel values in [0, 1] (or uint8 images)")
    return images


class Quadrants(Dataset):
    """Complete an image from a part of it: the missing quadrants as data, the given ones as the condition.

    Reads grayscale images from an ``.npz`` file (default: Keras' MNIST cache, see ``mnist``) and
    splits each into ``x``, its missing quadrants as a flat vector, and ``y``, the image with the
    missing pixels set to -1 (Pyro's CVAE example layout: 1 given quadrant is the bottom-left one,
    2 the left half, 3 all but the bottom-right). Use it with ``conditional: true``: the condition
    enters the encoder q(z|x, y), the decoder p(x|z, y) and a conditional prior p(z|y), and a
    Bernoulli likelihood then scores the missing pixels only. A relative ``path`` is relative to
    the spec file.

    Args:
        given: how many quadrants are given: 1, 2 or 3.
        path: an .npz file of uint8 (or [0, 1] float) images [N, H, W] (default: Keras' mnist.npz).
        images: key of the training images.
        test_images: key of the test images.
    """

    path_args: ClassVar[tuple[str, ...]] = ("path",)

    def __init__(self, given: int = 1, path: str | None = None, images: str = "x_train",
                 test_images: str = "x_test"):
        given_mask(2, 2, given)  # refuses a count other than 1, 2 or 3
        self.given = given
        self.path = Path(path) if path else keras_cache_file()
        self.file = NpzFile(str(self.path), images=images, test_images=test_images)

    def load(self, split: str = "train") -> ArrayData:
        images = _unit_images(self.file.load(split).x, f"{self.path} ({split} split)")
        missing, condition = split_quadrants(images, self.given)
        return ArrayData(x=missing, y=condition)
