"""PNG pictures of what a model does: sample grids and reconstructions (images), scatters (2-D data).

Written with matplotlib's object API (no pyplot global state, no display needed).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def is_image(data_shape: tuple[int, ...]) -> bool:
    """Data of shape (H, W) or (H, W, C) is drawn as images; anything else as points."""
    return len(data_shape) in (2, 3)


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile ``[N, H, W(, C)]`` images into one ``[rows*H, cols*W, C]`` array in [0, 1]."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad, c), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = image
    return grid


def save_image(path: str | Path, array: np.ndarray) -> None:
    """Write an ``[H, W, C]`` array in [0, 1] as a PNG (grayscale when C is 1)."""
    from matplotlib.image import imsave

    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        imsave(path, array[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        imsave(path, array)


def save_scatter(path: str | Path, groups: dict[str, np.ndarray], title: str) -> None:
    """Scatter the first two coordinates of each named point set in one picture."""
    figure = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, points in groups.items():
        points = np.asarray(points)
        axes.scatter(points[:, 0], points[:, 1] if points.shape[1] > 1 else np.zeros(len(points)), s=3,
                     alpha=0.5, label=label)
    axes.set_title(title)
    axes.legend(loc="upper right", markerscale=4)
    figure.savefig(path)


def save_samples(path: str | Path, samples: np.ndarray, data: np.ndarray | None = None) -> None:
    """Sample grid for images; samples against data for points."""
    if is_image(samples.shape[1:]):
        save_image(path, image_grid(samples))
    else:
        groups = {"data": data} if data is not None else {}
        save_scatter(path, {**groups, "samples": samples}, "samples from the prior")


def save_reconstructions(path: str | Path, inputs: np.ndarray, reconstructions: np.ndarray) -> None:
    """Images: input rows interleaved with their reconstruction rows. Points: both sets scattered."""
    if is_image(inputs.shape[1:]):
        columns = 8
        n = (len(inputs) // columns) * columns or len(inputs)
        pairs = []
        for start in range(0, n, columns):
            pairs.append(inputs[start : start + columns])
            pairs.append(reconstructions[start : start + columns])
        save_image(path, image_grid(np.concatenate(pairs), columns=min(columns, n)))
    else:
        save_scatter(path, {"inputs": inputs, "reconstructions": reconstructions}, "reconstructions")
