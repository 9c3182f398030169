"""Pictures of what a trained model learned, and a self-contained HTML report of a run.

``make_pictures`` writes PNGs into ``RUN_DIR/pictures``: samples, reconstructions, a latent
traversal per dimension, interpolations between inputs, the decoded manifold (2-D latents), the
latent codes coloured by label, loss curves from ``metrics.csv`` and, for conditional models, a
class-by-style grid. ``write_report`` puts the spec, the metrics and every picture (as base64 data
URIs) into one ``report.html`` that opens offline.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from genkit.assembly.model import GenerativeAutoencoder
from genkit.errors import GenkitError
from genkit.plugin.dataset import ArrayData
from genkit.results import pictures
from genkit.results.evaluation import describe, evaluation_inputs, format_value
from genkit.results.metrics import pca_2d

#: At most this many latent dimensions get a traversal row (the most active ones).
TRAVERSAL_DIMS = 10
STEPS = 9
#: Latent values run between these quantiles of the data's codes (works for any prior).
QUANTILES = (0.02, 0.98)

CAPTIONS: dict[str, str] = {
    "samples": "Samples: the mean of p(x|z) for z drawn from the prior.",
    "reconstructions": "Inputs (odd rows) and their reconstructions (even rows).",
    "traversal": "Latent traversal: one row per latent dimension (the most active first), that dimension "
                 "swept from the 2% to the 98% quantile of the codes while the others keep an input's code.",
    "interpolation": "Interpolations: each row goes linearly in latent space from one input's code to another's.",
    "manifold": "Decoded manifold: a grid over the 2-D latent space (2% to 98% quantiles of the codes).",
    "latent": "Posterior means of the data, coloured by label (first two principal components when wider than 2).",
    "loss": "Training curves from metrics.csv.",
    "class_grid": "Class-by-style grid: one row per class, one column per style (latent draw), shared down columns.",
}


def is_conditional(model: Any) -> bool:
    """Whether the model generates a requested class: ``model.sample(n, labels=...)`` (a CVAE)."""
    return bool(getattr(model, "conditional", False))


def sample_images(
    model: GenerativeAutoencoder, n: int, label: int | None = None, seed: int | None = None
) -> np.ndarray:
    """``n`` samples, of class ``label`` for a conditional model; a clear error if it cannot condition."""
    if label is None:
        return model.sample(n, seed=seed)
    if not is_conditional(model):
        raise GenkitError("this model is unconditional: a label needs a model trained with labels as its "
                          "condition (e.g. a CVAE); leave out --label to sample")
    return model.sample(n, labels=np.full(n, label), seed=seed)


def _sweep(low: np.ndarray, high: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points from ``low`` to ``high`` (linear), shape ``[steps, *low.shape]``."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return low[None] * (1 - t) + high[None] * t


def _pairs(arrays: ArrayData, n: int) -> list[tuple[int, int]]:
    """Up to ``n`` pairs of example indices, of different labels when there are labels."""
    pairs: list[tuple[int, int]] = []
    for a in range(min(len(arrays) - 1, 4 * n)):
        b = next((j for j in range(a + 1, len(arrays))
                  if arrays.y is None or arrays.y.ndim != 1 or arrays.y[j] != arrays.y[a]), None)
        if b is not None and all(a not in pair for pair in pairs):
            pairs.append((a, b))
        if len(pairs) == n:
            break
    return pairs


def make_pictures(model: GenerativeAutoencoder, arrays: ArrayData, out_dir: str | Path,
                  history: list[dict[str, float]] | None = None, seed: int = 0) -> dict[str, Path]:
    """Write every picture that applies to ``model`` and ``arrays`` into ``out_dir``; name -> file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x = evaluation_inputs(model, arrays.x[:2000], seed)
    shown = x[:32] if pictures.is_image(model.data_shape) else x
    codes = model.encode(x)
    low, high = np.quantile(codes, QUANTILES, axis=0)
    written: dict[str, Path] = {}

    def target(name: str) -> Path:
        written[name] = out_dir / f"{name}.png"
        return written[name]

    if model.prior is not None:
        pictures.save_samples(target("samples"), model.sample(64 if pictures.is_image(model.data_shape) else 1000,
                                                              seed=seed), x)
    pictures.save_reconstructions(target("reconstructions"), shown, model.reconstruct(shown))

    order = np.argsort(-np.var(codes, axis=0))[:TRAVERSAL_DIMS]
    rows = []
    for dim in order:
        sweep = np.repeat(codes[:1], STEPS, axis=0)
        sweep[:, dim] = np.linspace(low[dim], high[dim], STEPS)
        rows.append(model.decode(sweep))
    pictures.save_rows(target("traversal"), rows, f"latent traversal, dimensions {', '.join(map(str, order))}", x)

    pairs = _pairs(arrays, 4)
    if pairs:
        rows = [np.concatenate([x[a : a + 1], model.decode(_sweep(codes[a], codes[b], STEPS)), x[b : b + 1]])
                for a, b in pairs]
        pictures.save_rows(target("interpolation"), rows, "interpolations (inputs at both ends)", x)

    if model.latent_dim == 2:
        grid_x, grid_y = np.linspace(low[0], high[0], 15), np.linspace(high[1], low[1], 15)
        rows = [model.decode(np.stack([grid_x, np.full(15, value)], axis=1)) for value in grid_y]
        pictures.save_rows(target("manifold"), rows, "decoded latent grid", x)

    labels = arrays.y[: len(x)] if arrays.y is not None and arrays.y.ndim == 1 else None
    title = "posterior means" + (" (first two principal components)" if model.latent_dim > 2 else "")
    pictures.save_latent_scatter(target("latent"), pca_2d(codes), labels, arrays.class_names, title)

    if history:
        pictures.save_loss_curves(target("loss"), history)

    if is_conditional(model) and labels is not None:
        pictures.save_rows(target("class_grid"), class_by_style_rows(model, np.unique(labels), seed=seed),
                           "class by style", x)
    return written


def class_by_style_rows(model: Any, classes: np.ndarray, styles: int = 10, seed: int = 0) -> list[np.ndarray]:
    """One row of ``styles`` samples per class, drawn with the same seed in every row.

    Written against the conditional sampling API ``model.sample(n, labels=..., seed=...)``: with a
    shared seed the latent draws (the styles) repeat down each column, so only the class changes
    within a column.
    """
    return [sample_images(model, styles, int(label), seed) for label in classes]


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _table(rows: dict[str, Any], describe_rows: bool) -> str:
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td class=num>{html.escape(format_value(value))}</td>"
        + (f"<td>{html.escape(describe(name))}</td>" if describe_rows else "") + "</tr>"
        for name, value in rows.items()
    )
    return f"<table>{body}</table>"


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
pre { background: #f5f5f5; padding: 1em; overflow-x: auto; }
table { border-collapse: collapse; } td { border-bottom: 1px solid #ddd; padding: 0.2em 0.8em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; vertical-align: top; margin: 1em; max-width: 100%; }
figure img { max-width: 100%; image-rendering: pixelated; min-width: 200px; }
figcaption { font-size: 0.9em; color: #555; max-width: 500px; }
"""


def render_report(title: str, subtitle: str, evaluation: dict[str, Any] | None, history: list[dict[str, float]],
                  figures: list[tuple[str, Path]], spec_text: str, evaluate_hint: str) -> str:
    """The HTML of a report: evaluation numbers, the last epoch's metrics, pictures (inlined as data
    URIs, so the file opens offline) and the spec."""
    sections = [f"<h1>genkit run: {html.escape(title)}</h1>", f"<p>{html.escape(subtitle)}</p>", "<h2>Evaluation</h2>"]
    if evaluation is not None:
        sections.append(_table(evaluation, describe_rows=True))
    else:
        sections.append(f"<p>No evaluation yet: run <code>{html.escape(evaluate_hint)}</code>.</p>")
    if history:
        sections += [f"<h2>Training (last of {len(history)} epochs)</h2>", _table(history[-1], describe_rows=False)]
    sections.append("<h2>Pictures</h2>")
    for caption, path in figures:
        sections.append(f'<figure><img alt="{html.escape(path.stem)}" src="{_data_uri(path)}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    sections += ["<h2>Spec</h2>", f"<pre>{html.escape(spec_text)}</pre>"]
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>genkit report: "
            f"{html.escape(title)}</title><style>{STYLE}</style></head><body>{''.join(sections)}</body></html>\n")
