"""PNG pictures of what a model does: sample grids and reconstructions (images), scatters (2-D data),
rows of decoded images (traversals, interpolations, manifolds), latent scatters and loss curves.

These functions draw arrays; ``genkit.report`` computes the arrays from a model. Written with
matplotlib's object API (no pyplot global state, no display needed).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
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


def _figure(width: float = 5.0, height: float = 5.0) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_scatter(path: str | Path, groups: dict[str, np.ndarray], title: str) -> None:
    """Scatter the first two coordinates of each named point set in one picture."""
    figure = _figure()
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


def save_rows(path: str | Path, rows: list[np.ndarray], title: str, data: np.ndarray | None = None) -> None:
    """Equal-length rows of decoded examples: an image grid (one row each), or for points a path each.

    Used for latent traversals (a row per latent dimension), interpolations (a row per pair) and
    decoded manifolds (a row per grid line). For point data the paths are drawn over ``data``.
    """
    stacked = np.stack(rows)  # [rows, columns, *data_shape]
    if is_image(stacked.shape[2:]):
        save_image(path, image_grid(stacked.reshape(-1, *stacked.shape[2:]), columns=stacked.shape[1]))
        return
    figure = _figure()
    axes = figure.add_subplot()
    if data is not None:
        axes.scatter(data[:, 0], data[:, 1] if data.shape[1] > 1 else np.zeros(len(data)), s=2, alpha=0.2,
                     color="0.6", label="data")
    for index, row in enumerate(stacked):
        y = row[:, 1] if row.shape[1] > 1 else np.zeros(len(row))
        axes.plot(row[:, 0], y, marker="o", markersize=3, label=f"row {index}" if len(stacked) <= 10 else None)
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize="small")
    figure.savefig(path)


def save_latent_scatter(path: str | Path, points: np.ndarray, labels: np.ndarray | None = None,
                        class_names: list[str] | None = None, title: str = "latent codes") -> None:
    """2-D latent points, coloured by label when labels are given (one legend entry per class)."""
    figure = _figure(6, 5)
    axes = figure.add_subplot()
    y = points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))
    if labels is None:
        axes.scatter(points[:, 0], y, s=3, alpha=0.5)
    else:
        classes = np.unique(labels)
        # up to 10 classes: distinct tab10 colours; more: evenly spaced along viridis
        colormap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "viridis"]
        palette = colormap(np.arange(len(classes)) if len(classes) <= 10 else np.linspace(0.0, 1.0, len(classes)))
        for label, colour in zip(classes, palette, strict=False):
            chosen = labels == label
            name = class_names[int(label)] if class_names and 0 <= int(label) < len(class_names) else str(label)
            axes.scatter(points[chosen, 0], y[chosen], s=3, alpha=0.6, label=name, color=colour)
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=4, fontsize="small")
        figure.subplots_adjust(right=0.78)
    axes.set_title(title)
    figure.savefig(path)


def save_loss_curves(path: str | Path, history: list[dict[str, float]]) -> None:
    """One panel per training metric (loss and its terms), training and validation curves together."""
    skip = {"epoch", "step", "seconds", "examples_per_second"}
    names = [k for k in history[0] if k not in skip and not k.startswith("val_")]
    figure = _figure(4 * len(names), 3.2)
    epochs = [row["epoch"] for row in history]
    for index, name in enumerate(names, start=1):
        axes = figure.add_subplot(1, len(names), index)
        axes.plot(epochs, [row[name] for row in history], label="train")
        if f"val_{name}" in history[0]:
            axes.plot(epochs, [row[f"val_{name}"] for row in history], label="validation")
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
