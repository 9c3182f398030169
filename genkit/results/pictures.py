"""PNG pictures of what a model does: sample grids and reconstructions (images), scatters (2-D data),
labelled grids of decoded images (traversals, interpolations, manifolds), latent scatters, latent
activity and loss curves.

These functions draw arrays; ``genkit.results.report`` computes the arrays from a model. Written
with matplotlib's object API (no pyplot global state, no display needed). Image grids are drawn
pixel for pixel: small images are enlarged by a whole factor (nearest neighbour, so pixels stay
crisp) to at least :data:`CELL_PIXELS` high, on a grey background that keeps white and black
image edges visible, with text labels in margins around the grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Images of a grid are enlarged to at least this many pixels high (MNIST's 28 become 56).
CELL_PIXELS = 56
#: Pixels between the images of a grid.
GAP = 2
#: Pixels between the pairs of rows of a reconstruction picture (input row over reconstruction row).
PAIR_GAP = 12
#: Grey level of a grid's background.
BACKGROUND = 0.55
DPI = 100
#: Pixel heights of a title line and of a line of column labels; pixels per character of a row label.
TITLE_PIXELS, LABEL_PIXELS, CHARACTER_PIXELS = 22, 16, 7
#: Loss panels per row of the training-curves picture.
CURVE_COLUMNS = 3
#: A curve whose positive values span more than this ratio is drawn on a log scale.
LOG_RANGE = 30.0


def is_image(data_shape: tuple[int, ...]) -> bool:
    """Data of shape (H, W) or (H, W, C) is drawn as images; anything else as points."""
    return len(data_shape) in (2, 3)


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile ``[N, H, W(, C)]`` images into one ``[rows*H, cols*W, C]`` array in [0, 1] at native size
    (TensorBoard's image summaries)."""
    images = _channels_last(images)
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad, c), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = image
    return grid


def _channels_last(images: np.ndarray) -> np.ndarray:
    """``[N, H, W(, C)]`` as float32 ``[N, H, W, C]`` clipped to [0, 1]."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    return images[..., None] if images.ndim == 3 else images


def _figure(width: float = 5.0, height: float = 5.0) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def save_grid(path: str | Path, cells: np.ndarray, title: str = "", row_labels: Sequence[str] = (),
              column_labels: Sequence[str] = (), pair_rows: bool = False) -> None:
    """Draw ``[rows, columns, H, W(, C)]`` images as a labelled grid, pixel for pixel.

    ``row_labels`` go left of the rows, ``column_labels`` above the columns, ``title`` above
    everything. ``pair_rows`` leaves a wider gap after every second row (input over
    reconstruction pairs).
    """
    rows, columns = cells.shape[:2]
    images = _channels_last(cells.reshape(rows * columns, *cells.shape[2:]))
    factor = max(1, math.ceil(CELL_PIXELS / images.shape[1]))
    images = images.repeat(factor, axis=1).repeat(factor, axis=2)
    _, h, w, c = images.shape
    tops = [GAP + r * (h + GAP) + (PAIR_GAP - GAP) * (r // 2 if pair_rows else 0) for r in range(rows)]
    lefts = [GAP + col * (w + GAP) for col in range(columns)]
    grid = np.full((tops[-1] + h + GAP, lefts[-1] + w + GAP, c), BACKGROUND, np.float32)
    for index, image in enumerate(images):
        r, col = divmod(index, columns)
        grid[tops[r] : tops[r] + h, lefts[col] : lefts[col] + w] = image
    left = 6 + CHARACTER_PIXELS * max((len(label) for label in row_labels), default=0)
    top = (TITLE_PIXELS if title else 4) + (LABEL_PIXELS if column_labels else 0)
    width, height = left + grid.shape[1] + 4, top + grid.shape[0] + 4
    figure = _figure(width / DPI, height / DPI)
    if c == 1:
        figure.figimage(grid[..., 0], xo=left, yo=4, cmap="gray", vmin=0.0, vmax=1.0, origin="upper")
    else:
        figure.figimage(grid, xo=left, yo=4, origin="upper")

    def text(x: float, y: float, label: str, ha: str, va: str, size: int = 9) -> None:  # pixels from the top left
        figure.text(x / width, 1.0 - y / height, label, fontsize=size, ha=ha, va=va)

    if title:
        text(4, 4, title, "left", "top", size=11)
    for col, label in zip(range(columns), column_labels, strict=False):
        text(left + lefts[col] + w / 2, top - 3, label, "center", "bottom")
    for r, label in zip(range(rows), row_labels, strict=False):
        text(left - 4, top + tops[r] + h / 2, label, "right", "center")
    figure.savefig(path, dpi=DPI)


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
    """Sample grid for images (square, as many rows as columns); samples against data for points."""
    if is_image(samples.shape[1:]):
        columns = math.ceil(math.sqrt(len(samples)))
        rows = math.ceil(len(samples) / columns)
        padded = np.concatenate([samples, np.ones((rows * columns - len(samples), *samples.shape[1:]))])
        save_grid(path, padded.reshape(rows, columns, *samples.shape[1:]), f"{len(samples)} samples")
    else:
        groups = {"data": data} if data is not None else {}
        save_scatter(path, {**groups, "samples": samples}, "samples from the prior")


def save_reconstructions(path: str | Path, inputs: np.ndarray, reconstructions: np.ndarray) -> None:
    """Images: pairs of rows, inputs over their reconstructions, a wider gap between pairs.
    Points: both sets scattered."""
    if not is_image(inputs.shape[1:]):
        save_scatter(path, {"inputs": inputs, "reconstructions": reconstructions}, "reconstructions")
        return
    columns = min(8, len(inputs))
    n = (len(inputs) // columns) * columns
    pairs = [part for start in range(0, n, columns)
             for part in (inputs[start : start + columns], reconstructions[start : start + columns])]
    save_grid(path, np.stack(pairs), "inputs and their reconstructions",
              row_labels=["input", "recon."] * (len(pairs) // 2), pair_rows=True)


def save_rows(path: str | Path, rows: list[np.ndarray], title: str, data: np.ndarray | None = None,
              row_labels: Sequence[str] = (), column_labels: Sequence[str] = ()) -> None:
    """Equal-length rows of decoded examples: a labelled image grid (one row each), or for points a path each.

    Used for latent traversals (a row per latent dimension), interpolations (a row per pair) and
    decoded manifolds (a row per grid line). For point data the paths are drawn over ``data``.
    """
    stacked = np.stack(rows)  # [rows, columns, *data_shape]
    if is_image(stacked.shape[2:]):
        save_grid(path, stacked, title, row_labels, column_labels)
        return
    figure = _figure()
    axes = figure.add_subplot()
    if data is not None:
        axes.scatter(data[:, 0], data[:, 1] if data.shape[1] > 1 else np.zeros(len(data)), s=2, alpha=0.2,
                     color="0.6", label="data")
    names = list(row_labels) or [f"row {index}" for index in range(len(stacked))]
    for index, row in enumerate(stacked):
        y = row[:, 1] if row.shape[1] > 1 else np.zeros(len(row))
        axes.plot(row[:, 0], y, marker="o", markersize=3, label=names[index] if len(stacked) <= 10 else None)
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize="small")
    figure.savefig(path)


def save_latent_scatter(path: str | Path, points: np.ndarray, labels: np.ndarray | None = None,
                        class_names: list[str] | None = None, title: str = "latent codes") -> None:
    """2-D latent points, coloured by label when labels are given (one legend entry per class)."""
    figure = _figure(7, 5.6)
    axes = figure.add_subplot()
    y = points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))
    if labels is None:
        axes.scatter(points[:, 0], y, s=4, alpha=0.5)
    else:
        classes = np.unique(labels)
        # up to 10 classes: distinct tab10 colours; more: evenly spaced along viridis
        colormap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "viridis"]
        palette = colormap(np.arange(len(classes)) if len(classes) <= 10 else np.linspace(0.0, 1.0, len(classes)))
        for label, colour in zip(classes, palette, strict=False):
            chosen = labels == label
            axes.scatter(points[chosen, 0], y[chosen], s=4, alpha=0.6, label=class_name(label, class_names or []),
                         color=colour)
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=4, fontsize="small")
        figure.subplots_adjust(right=0.8)
    axes.set_title(title)
    figure.savefig(path)


def class_name(label: int, class_names: Sequence[str]) -> str:
    """The name of class ``label`` when the data name their classes, else the number."""
    return class_names[int(label)] if 0 <= int(label) < len(class_names) else str(label)


def save_latent_activity(path: str | Path, variances: np.ndarray, threshold: float,
                         kl: np.ndarray | None = None) -> None:
    """Per latent dimension: the variance over examples of E[z_d|x] (activity, log scale, with the
    active-unit threshold drawn) and, when given, the mean KL(q(z_d|x) || p(z_d)) in nats."""
    dims = np.arange(len(variances))
    panels = 1 if kl is None else 2
    figure = _figure(max(6.0, 0.22 * len(dims) + 2), 2.6 * panels + 0.6)
    active = int(np.sum(variances > threshold))
    figure.suptitle(f"{active} of {len(dims)} latent dimensions active (variance of E[z|x] above {threshold:g})",
                    fontsize=11)
    axes = figure.add_subplot(panels, 1, 1)
    axes.bar(dims, np.maximum(variances, 1e-12), color=np.where(variances > threshold, "tab:blue", "0.7"))
    axes.axhline(threshold, color="tab:red", linewidth=1, linestyle="--", label=f"threshold {threshold:g}")
    axes.set_yscale("log")
    axes.set_ylabel("Var_x E[z_d|x]")
    axes.legend(fontsize="small")
    if kl is not None:
        below = figure.add_subplot(panels, 1, 2, sharex=axes)
        below.bar(dims, kl, color="tab:orange")
        below.set_ylabel("KL per dim (nats)")
        below.set_xlabel("latent dimension")
    else:
        axes.set_xlabel("latent dimension")
    if len(dims) <= 32:
        axes.set_xticks(dims)
    figure.tight_layout()
    figure.savefig(path)


def wants_log_scale(values: Sequence[float]) -> bool:
    """Whether a curve reads better on a log scale: all values positive, spanning more than :data:`LOG_RANGE`."""
    finite = np.asarray([v for v in values if math.isfinite(v)], np.float64)
    return bool(finite.size and finite.min() > 0 and finite.max() / finite.min() > LOG_RANGE)


def save_loss_curves(path: str | Path, runs: dict[str, list[dict[str, float]]]) -> None:
    """One panel per training metric (loss and its terms), :data:`CURVE_COLUMNS` panels a row; in each,
    every run's training curve (solid) and validation curve (dashed) in that run's colour.

    ``runs`` maps a run's name to its per-epoch history (one run under the name ``""`` for a
    single run's picture). A panel whose values span a wide positive range is log-scaled.
    """
    skip = {"epoch", "step", "seconds", "examples_per_second", "skipped_steps"}
    names = list(dict.fromkeys(k for history in runs.values() for row in history for k in row
                               if k not in skip and not k.startswith("val_")))
    columns = min(CURVE_COLUMNS, len(names))
    rows = math.ceil(len(names) / columns)
    figure = _figure(4.2 * columns, 3.1 * rows)
    for index, name in enumerate(names, start=1):
        axes = figure.add_subplot(rows, columns, index)
        plotted: list[float] = []
        for number, (run, history) in enumerate(runs.items()):
            epochs = [row["epoch"] for row in history]
            for key, style, part in ((name, "-", "train"), (f"val_{name}", "--", "validation")):
                values = [row.get(key, math.nan) for row in history]
                if all(math.isnan(v) for v in values):
                    continue
                axes.plot(epochs, values, style, color=f"C{number % 10}", label=f"{run} {part}".strip(),
                          marker="." if len(epochs) < 30 else None)
                plotted += values
        logarithmic = wants_log_scale(plotted)
        if logarithmic:
            axes.set_yscale("log")
        axes.set_title(name + (" (log scale)" if logarithmic else ""))
        axes.set_xlabel("epoch")
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
