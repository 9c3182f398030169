"""Pictures of what a trained model learned, and a self-contained HTML report of a run.

``make_pictures`` writes PNGs into ``RUN_DIR/pictures``: samples, reconstructions, a latent
traversal per dimension, interpolations between inputs, the decoded manifold (2-D latents), the
latent codes coloured by label, each latent dimension's activity (and KL), loss curves from
``metrics.csv`` and, for conditional models, a class-by-style grid; a conditional model encodes and
decodes every input under its own label. ``render_report`` puts the evaluation, the training
summary, every picture (as base64 data URIs) and the spec into one HTML page that opens offline
(``genkit.runs.report`` writes it into the run directory).
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
from genkit.results.evaluation import condition_labels, describe, evaluation_inputs, format_value, per_dimension_kl
from genkit.results.metrics import ACTIVE_UNIT_THRESHOLD, active_units, pca_2d

#: At most this many latent dimensions get a traversal row (the most active ones).
TRAVERSAL_DIMS = 10
STEPS = 9
#: Latent values run between these quantiles of the data's codes (works for any prior).
QUANTILES = (0.02, 0.98)
#: The traversal's columns: equally spaced quantile levels of each dimension's codes.
TRAVERSAL_LEVELS = np.linspace(*QUANTILES, STEPS)

CAPTIONS: dict[str, str] = {
    "samples": "Samples: the mean of p(x|z) for z drawn from the prior (or the fitted sampler).",
    "reconstructions": "Pairs of rows: inputs over their reconstructions (the mean of p(x|z) at the posterior mean).",
    "traversal": "Latent traversal: one row per latent dimension (the most active first; its range on the left), "
                 "that dimension set to the quantiles of the data's codes named along the top while the others "
                 "keep an input's code (and a conditional model its label).",
    "interpolation": "Interpolations: each row goes linearly in latent space from one input's code to another's "
                     "(t along the top; the two inputs at the ends; for a conditional model, two inputs of one "
                     "class, decoded with it).",
    "manifold": "Decoded manifold: a grid over the 2-D latent space (2% to 98% quantiles of the codes; z values "
                "along the edges).",
    "latent": "Posterior means of the data, coloured by label (first two principal components when wider than 2).",
    "activity": "Latent activity: the variance over the data of each dimension's posterior mean (a dimension "
                "above the threshold is an active unit) and, for factorised posteriors and priors, its mean KL.",
    "loss": "Training curves from metrics.csv (log scale where a curve spans a wide range).",
    "class_grid": "Class-by-style grid: one row per class, one column per style (latent draw), shared down columns.",
}


def is_conditional(model: Any) -> bool:
    """Whether the model generates a requested class: ``model.sample(n, labels=...)`` (a CVAE)."""
    return bool(getattr(model, "conditional", False))


def picture_labels(model: GenerativeAutoencoder, examples: ArrayData, n: int) -> np.ndarray | None:
    """Labels to generate ``n`` samples with: the examples' labels, cycled (None if unconditional)."""
    if not model.conditional or examples.y is None:
        return None
    return np.resize(examples.y, (n, *examples.y.shape[1:]))


def sample_images(
    model: GenerativeAutoencoder, n: int, label: int | None = None, seed: int | None = None
) -> np.ndarray:
    """``n`` samples, of class ``label`` for a conditional model (which needs one); a clear error if
    the model has nothing to draw codes from or cannot condition."""
    if not model.can_sample:
        raise GenkitError("this model has no prior and no fitted sampler to draw codes from (a plain autoencoder); "
                          "pass --sampler gmm to fit one to the run's training codes")
    if label is None:
        if is_conditional(model):
            raise GenkitError(f"this model is conditional: pass --label CLASS (0 to {model.condition_dim - 1}) "
                              "to choose the class to sample")
        return model.sample(n, seed=seed)
    if not is_conditional(model):
        raise GenkitError("this model is unconditional: a label needs a model trained with labels as its "
                          "condition (e.g. a CVAE); leave out --label to sample")
    return model.sample(n, labels=np.full(n, label), seed=seed)


def _sweep(low: np.ndarray, high: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points from ``low`` to ``high`` (linear), shape ``[steps, *low.shape]``."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return low[None] * (1 - t) + high[None] * t


def _pairs(arrays: ArrayData, n: int, same_label: bool = False) -> list[tuple[int, int]]:
    """Up to ``n`` pairs of example indices: of different classes when there are class labels, or of
    one label when ``same_label`` (a conditional model decodes the path between them under it)."""

    def fits(a: int, b: int) -> bool:
        same = arrays.y is not None and bool(np.array_equal(arrays.y[a], arrays.y[b]))
        return same if same_label else arrays.y is None or arrays.y.ndim != 1 or not same

    pairs: list[tuple[int, int]] = []
    for a in range(min(len(arrays) - 1, 4 * n)):
        b = next((j for j in range(a + 1, len(arrays)) if fits(a, j)), None)
        if b is not None and all(a not in pair for pair in pairs):
            pairs.append((a, b))
        if len(pairs) == n:
            break
    return pairs


def make_pictures(model: GenerativeAutoencoder, arrays: ArrayData, out_dir: str | Path,
                  history: list[dict[str, float]] | None = None, seed: int = 0) -> dict[str, Path]:
    """Write every picture that applies to ``model`` and ``arrays`` into ``out_dir``; name -> file.

    A conditional model encodes and decodes each example with its own label (unlabelled examples,
    label -1, are left out); a row of decoded codes keeps the label of the example it starts from.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if model.conditional and arrays.y is not None and arrays.y.ndim == 1:
        arrays = arrays.subset(np.flatnonzero(arrays.y >= 0))
    arrays = arrays.subset(np.arange(min(2000, len(arrays))))
    x = evaluation_inputs(model, arrays.x, seed)
    conditions = condition_labels(model, arrays)

    def labels_at(selection: int | slice) -> np.ndarray | None:
        """The labels of some inputs, which a conditional model encodes and decodes them under."""
        return None if conditions is None else conditions[selection]

    shown = x[:32] if pictures.is_image(model.data_shape) else x
    codes = model.encode(x, labels_at(slice(len(x))))
    low, high = np.quantile(codes, QUANTILES, axis=0)
    written: dict[str, Path] = {}

    def target(name: str) -> Path:
        written[name] = out_dir / f"{name}.png"
        return written[name]

    if model.can_sample:
        n = 64 if pictures.is_image(model.data_shape) else 1000
        pictures.save_samples(target("samples"), model.sample(n, picture_labels(model, arrays, n), seed=seed), x)
    reconstructions = model.reconstruct(shown, labels_at(slice(len(shown))))
    pictures.save_reconstructions(target("reconstructions"), shown, reconstructions)

    _, variances = active_units(codes)
    order = np.argsort(-variances)[:TRAVERSAL_DIMS]
    rows, names = [], []
    for dim in order:
        values = np.quantile(codes[:, dim], TRAVERSAL_LEVELS)
        sweep = np.repeat(codes[:1], STEPS, axis=0)
        sweep[:, dim] = values
        rows.append(model.decode(sweep, labels_at(0)))
        names.append(f"z{dim} {values[0]:.2g}..{values[-1]:.2g}")
    pictures.save_rows(target("traversal"), rows, "latent traversal (quantiles of each dimension's codes)", x,
                       row_labels=names, column_labels=[f"{level:.0%}" for level in TRAVERSAL_LEVELS])

    pairs = _pairs(arrays, 4, same_label=conditions is not None)
    if pairs:
        rows = [np.concatenate([x[a : a + 1], model.decode(_sweep(codes[a], codes[b], STEPS), labels_at(a)),
                                x[b : b + 1]]) for a, b in pairs]
        steps = [f"{t:.2g}" for t in np.linspace(0.0, 1.0, STEPS)]
        pictures.save_rows(target("interpolation"), rows, "interpolations between two inputs", x,
                           row_labels=[f"pair {i + 1}" for i in range(len(pairs))],
                           column_labels=["input", *steps, "input"])

    if model.latent_dim == 2:
        grid_x, grid_y = np.linspace(low[0], high[0], 15), np.linspace(high[1], low[1], 15)
        rows = [model.decode(np.stack([grid_x, np.full(15, value)], axis=1), labels_at(0)) for value in grid_y]
        pictures.save_rows(target("manifold"), rows, "decoded latent grid (z0 across, z1 down)", x,
                           row_labels=[f"{value:.2g}" for value in grid_y],
                           column_labels=[f"{value:.2g}" for value in grid_x])

    labels = arrays.y[: len(x)] if arrays.y is not None and arrays.y.ndim == 1 else None
    title = "posterior means" + (" (first two principal components)" if model.latent_dim > 2 else "")
    pictures.save_latent_scatter(target("latent"), pca_2d(codes), labels, arrays.class_names, title)

    kl = per_dimension_kl(model, x, labels_at(slice(len(x))))
    pictures.save_latent_activity(target("activity"), variances, ACTIVE_UNIT_THRESHOLD, kl)

    if history:
        pictures.save_loss_curves(target("loss"), {"": history})

    if is_conditional(model) and labels is not None:
        classes = np.unique(labels)
        class_rows = class_by_style_rows(model, classes, seed=seed)
        pictures.save_rows(target("class_grid"), class_rows, "class by style", x,
                           row_labels=[pictures.class_name(label, arrays.class_names) for label in classes],
                           column_labels=[f"style {i + 1}" for i in range(len(class_rows[0]))])
    return written



def class_by_style_rows(model: Any, classes: np.ndarray, styles: int = 10, seed: int = 0) -> list[np.ndarray]:
    """One row of ``styles`` samples per class, drawn with the same seed in every row.

    Written against the conditional sampling API ``model.sample(n, labels=..., seed=...)``: with a
    shared seed the latent draws (the styles) repeat down each column, so only the class changes
    within a column.
    """
    return [sample_images(model, styles, int(label), seed) for label in classes]


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so a page shows it without any other file."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _table(rows: dict[str, Any], describe_rows: bool) -> str:
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td class=num>{html.escape(format_value(name, value))}</td>"
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


#: Entries of an epoch's log that the training summary states in words instead of the table.
_SUMMARISED = ("epoch", "step", "seconds", "examples_per_second")


def training_seconds(history: list[dict[str, float]]) -> float:
    """The wall time of training: the sum of its epochs' ``seconds`` (compilation included)."""
    return float(sum(row.get("seconds", 0.0) for row in history))


def training_summary(history: list[dict[str, float]]) -> str:
    """One sentence on how training went: epochs, steps, wall time and throughput."""
    seconds = training_seconds(history)
    rates = [row["examples_per_second"] for row in history if "examples_per_second" in row]
    minutes, rest = divmod(seconds, 60)
    duration = f"{int(minutes)} min {rest:.0f} s" if minutes else f"{seconds:.1f} s"
    steps = f", {int(history[-1]['step']):,} steps" if "step" in history[-1] else ""
    rate = f"; {np.median(rates):,.0f} examples/s (median over epochs)" if rates else ""
    return f"{len(history)} epochs{steps} in {duration} of training{rate}."


def render_report(title: str, subtitle: str, evaluation: dict[str, Any] | str, history: list[dict[str, float]],
                  figures: list[tuple[str, Path]], spec_text: str) -> str:
    """The HTML of a report: the evaluation (its metrics, or why there are none), a training summary
    with the last epoch's metrics, the pictures (inlined as data URIs, so the file opens offline)
    and the spec; each shown once."""
    sections = [f"<h1>genkit run: {html.escape(title)}</h1>", f"<p>{html.escape(subtitle)}</p>"]
    if isinstance(evaluation, str):
        sections += ["<h2>Evaluation</h2>", f"<p>Not evaluated: {html.escape(evaluation)}</p>"]
    else:
        sections += [f"<h2>Evaluation ({html.escape(str(evaluation.get('split', 'given')))} split)</h2>",
                     _table({k: v for k, v in evaluation.items() if k != "split"}, describe_rows=True)]
    if history:
        last = {k: v for k, v in history[-1].items() if k not in _SUMMARISED}
        sections += ["<h2>Training</h2>", f"<p>{html.escape(training_summary(history))} The last epoch:</p>",
                     _table(last, describe_rows=False)]
    sections.append("<h2>Pictures</h2>")
    for caption, path in figures:
        sections.append(f'<figure><img alt="{html.escape(path.stem)}" src="{data_uri(path)}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    sections += ["<h2>Spec</h2>", f"<pre>{html.escape(spec_text)}</pre>"]
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>genkit report: "
            f"{html.escape(title)}</title><style>{STYLE}</style></head><body>{''.join(sections)}</body></html>\n")
