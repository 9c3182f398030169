"""A run directory: created safely, filled by a training run, and read back by ``load``.

Layout::

    spec.yaml              the fully resolved spec (every default filled in)
    model.json             what rebuilding needs beyond the spec (data shape, versions)
    metrics.csv            one row per epoch
    tensorboard/           event files
    model.weights.h5       the trained weights (Keras h5)
    samples.png            samples from the prior
    reconstructions.png    inputs and their reconstructions

Loading never executes code from the directory: the spec goes through the safe YAML loader and
the registry (only installed plugins), the weights through h5.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genkit.callbacks import Callback, MetricsCSV, Progress, TensorBoard
from genkit.components import ArrayData
from genkit.errors import GenkitError
from genkit.model import GenerativeAutoencoder
from genkit.spec import Spec, load_spec
from genkit.yaml_source import dump_yaml

SPEC_FILE = "spec.yaml"
MODEL_FILE = "model.json"
METRICS_FILE = "metrics.csv"
WEIGHTS_FILE = "model.weights.h5"
TENSORBOARD_DIR = "tensorboard"
SAMPLES_FILE = "samples.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"


@dataclass
class RunResult:
    """What ``genkit.train`` returns: the trained model, its per-epoch metrics, and where it lives."""

    model: GenerativeAutoencoder
    history: list[dict[str, float]]
    run_dir: Path | None


def prepare_run_dir(path: str | Path, overwrite: bool = False) -> Path:
    """Create ``path`` for a new run; refuse a non-empty directory unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GenkitError(f"output path {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise GenkitError(
                f"run directory {path} already exists and is not empty; choose another --out, "
                "or pass --overwrite to replace it"
            )
        import shutil

        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise GenkitError(f"cannot write to output directory {path}: {err.strerror or err}") from None
    return path


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_run_header(run_dir: Path, spec: Spec, model: GenerativeAutoencoder) -> None:
    """The resolved spec and the rebuild information, written before training starts."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    from genkit import __version__

    _write_atomic(run_dir / SPEC_FILE, dump_yaml(spec.to_dict()))
    info = {
        "data_shape": list(model.data_shape),
        "condition_dim": model.condition_dim,
        "genkit": __version__,
        "tensorflow": tf.__version__,
        "tensorflow_probability": tfp.__version__,
        "keras": keras.__version__,
    }
    _write_atomic(run_dir / MODEL_FILE, json.dumps(info, indent=2) + "\n")


def picture_labels(model: GenerativeAutoencoder, examples: ArrayData, n: int) -> np.ndarray | None:
    """Labels to generate ``n`` samples with: the examples' labels, cycled (None if unconditional)."""
    if not model.conditional:
        return None
    return np.resize(examples.y, (n, *examples.y.shape[1:]))


def save_pictures(run_dir: Path, model: GenerativeAutoencoder, examples: ArrayData) -> None:
    """samples.png (if the model has a prior) and reconstructions.png."""
    from genkit.pictures import save_reconstructions, save_samples

    x = examples.x
    if model.prior is not None:
        n = 64 if x.ndim > 2 else 1000
        save_samples(run_dir / SAMPLES_FILE, model.sample(n, picture_labels(model, examples, n)), x)
    labels = examples.y if model.conditional else None
    save_reconstructions(run_dir / RECONSTRUCTIONS_FILE, x, model.reconstruct(x, labels))


def train(
    spec: str | Path | dict[str, Any] | Spec,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
) -> RunResult:
    """Validate the spec, load data, build, train; write a run directory when ``out`` is given.

    Everything that can be checked is checked before the directory is created, so a bad spec or
    bad data leaves nothing behind.
    """
    from genkit.assemble import build
    from genkit.data import prepare_data
    from genkit.trainer import Trainer

    spec = load_spec(spec)
    data = prepare_data(spec)
    model = build(spec, data.data_shape, data.condition_dim)
    problem = model.likelihood.check_data(data.train.x)
    if problem:
        likelihood = spec.components["likelihood"]["type"]
        raise GenkitError(f"data '{spec.data['type']}' does not fit likelihood '{likelihood}': {problem}")
    run_dir = None if out is None else prepare_run_dir(out, overwrite)
    shown = data.validation or data.train
    candidates = np.arange(len(shown))
    if model.conditional and shown.y is not None and shown.y.ndim == 1:
        candidates = np.flatnonzero(shown.y >= 0)  # semi-supervised data: unlabelled examples have -1
    examples = shown.subset(candidates[: 32 if len(data.data_shape) > 1 else 1000])
    loggers: list[Callback] = []
    if run_dir is not None:
        write_run_header(run_dir, spec, model)
        shown_examples = examples.subset(np.arange(min(16, len(examples))))
        loggers += [
            MetricsCSV(run_dir / METRICS_FILE),
            TensorBoard(run_dir / TENSORBOARD_DIR, spec.train.image_every, shown_examples),
        ]
    if progress:
        steps = -(-len(data.train) // spec.train.batch_size)
        loggers.append(Progress(spec.train.epochs, steps))
    trainer = Trainer(model, spec, data.train, data.validation, [*loggers, *callbacks])
    history = trainer.fit()
    if run_dir is not None:
        model.save_weights(str(run_dir / WEIGHTS_FILE))
        save_pictures(run_dir, model, examples)
    return RunResult(model, history, run_dir)


def load(run_dir: str | Path) -> GenerativeAutoencoder:
    """Rebuild a trained model from its run directory (resolved spec + h5 weights, no pickles)."""
    from genkit.assemble import build

    run_dir = Path(run_dir)
    for name in (SPEC_FILE, MODEL_FILE, WEIGHTS_FILE):
        if not (run_dir / name).is_file():
            raise GenkitError(f"{run_dir} is not a complete genkit run directory: {name} is missing")
    spec = load_spec(run_dir / SPEC_FILE)
    try:
        info = json.loads((run_dir / MODEL_FILE).read_text())
        data_shape = tuple(int(d) for d in info["data_shape"])
        condition_dim = int(info.get("condition_dim", 0))
    except (ValueError, KeyError, TypeError) as err:
        raise GenkitError(f"{run_dir / MODEL_FILE} is not valid: {err}") from None
    model = build(spec, data_shape, condition_dim)
    try:
        model.load_weights(str(run_dir / WEIGHTS_FILE))
    except Exception as err:  # h5 errors come in many types; any of them means a bad file
        raise GenkitError(f"cannot load weights from {run_dir / WEIGHTS_FILE}: {err}") from None
    return model
