"""Two-dimensional toy data: swiss roll, rings of Gaussians, two moons."""

from __future__ import annotations

from typing import Literal

import numpy as np
from genkit_plugins.datasets import check_generated

from genkit import ArrayData, Dataset


def swiss_roll(n: int, noise: float, rng: np.random.Generator, arms: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Points on a 2-D spiral; the label is which of ``arms`` equal-length segments a point is on."""
    t = rng.uniform(0.0, 1.0, n)
    angle = 1.5 * np.pi * (1 + 2 * t)
    points = np.stack([angle * np.cos(angle), angle * np.sin(angle)], axis=1) / 5.0
    return points + noise * rng.standard_normal((n, 2)), np.minimum((t * arms).astype(np.int64), arms - 1)


def rings(n: int, noise: float, rng: np.random.Generator, components: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A mixture of ``components`` Gaussians evenly spaced on a circle of radius 2."""
    label = rng.integers(0, components, n)
    angle = 2 * np.pi * label / components
    centres = 2.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + noise * rng.standard_normal((n, 2)), label


def moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles."""
    label = rng.integers(0, 2, n)
    angle = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    points = np.where(label[:, None] == 0, upper, lower)
    return points + noise * rng.standard_normal((n, 2)), label


_GENERATORS = {"swiss_roll": swiss_roll, "rings": rings, "moons": moons}


class Toy2D(Dataset):
    """Generated 2-D points (swiss roll, rings of Gaussians or two moons) with a class label each.

    Args:
        shape: swiss_roll, rings or moons.
        n_train: number of training points.
        n_test: number of test points.
        noise: standard deviation of the added Gaussian noise.
        seed: generator seed.
    """

    def __init__(
        self,
        shape: Literal["swiss_roll", "rings", "moons"] = "rings",
        n_train: int = 5000,
        n_test: int = 1000,
        noise: float = 0.1,
        seed: int = 0,
    ):
        check_generated("toy2d", n_train, n_test, seed, 2)
        if noise < 0:
            raise ValueError(f"noise must be 0 or more, got {noise}")
        self.shape, self.n_train, self.n_test, self.noise, self.seed = shape, n_train, n_test, noise, seed

    def load(self, split: str = "train") -> ArrayData:
        n = self.n_train if split == "train" else self.n_test
        rng = np.random.default_rng([self.seed, 0 if split == "train" else 1])
        x, y = _GENERATORS[self.shape](n, self.noise, rng)
        return ArrayData(x=x.astype(np.float32), y=y)
