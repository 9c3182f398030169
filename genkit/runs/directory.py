"""A run directory: created safely, filled by a training run, and read back by ``load``.

Layout::

    spec.yaml              the fully resolved spec (every default filled in)
    model.json             what rebuilding needs beyond the spec (data shape, versions)
    metrics.csv            one row per epoch
    checkpoints/           the last few checkpoints (genkit.checkpoint), for --resume
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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genkit.training.callbacks import Callback, MetricsCSV, Progress, TensorBoard
from genkit.training.checkpoint import Checkpointer, CheckpointManager, CheckpointWarning
from genkit.plugin.contracts import ArrayData
from genkit.errors import GenkitError, NumericalFault, SpecError
from genkit.assembly.model import GenerativeAutoencoder
from genkit.spec.resolve import Spec, load_spec
from genkit.spec.yaml_source import dump_yaml

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
                "pass --resume to continue its training, or --overwrite to replace it"
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


#: What a run directory can hold when its process died before the run header was written.
_BEFORE_HEADER = frozenset({".write-test", SPEC_FILE + ".tmp"})


def resume_run_dir(path: str | Path, spec: Spec) -> tuple[Path, bool]:
    """The run directory to continue, and whether it holds a run to continue.

    A missing or empty directory (or one whose process died before writing the spec) starts
    fresh. Otherwise it must be a genkit run of the same model and data: every spec key except
    ``name`` and ``train`` (more epochs, a lower learning rate, clipping are fine) must match.
    """
    path = Path(path)
    contents = {p.name for p in path.iterdir()} if path.is_dir() else set()
    if contents <= _BEFORE_HEADER:
        return prepare_run_dir(path, overwrite=True), False
    if not (path / SPEC_FILE).is_file():
        raise GenkitError(f"cannot resume {path}: it is not a genkit run directory ({SPEC_FILE} is missing)")
    stored, new = load_spec(path / SPEC_FILE).to_dict(), spec.to_dict()
    changed = [key for key in new if key not in ("name", "train") and stored.get(key) != new[key]]
    if changed:
        raise GenkitError(
            f"cannot resume {path}: the spec differs from the run's {SPEC_FILE} in {', '.join(changed)}; "
            "only 'train' settings may change on resume (use another --out, or --overwrite to start again)"
        )
    return path, True


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
    if not model.conditional or examples.y is None:
        return None
    return np.resize(examples.y, (n, *examples.y.shape[1:]))


def save_pictures(run_dir: Path, model: GenerativeAutoencoder, examples: ArrayData) -> None:
    """samples.png (if the model has a prior) and reconstructions.png."""
    from genkit.results.pictures import save_reconstructions, save_samples

    x = examples.x
    if model.prior is not None:
        n = 64 if x.ndim > 2 else 1000
        save_samples(run_dir / SAMPLES_FILE, model.sample(n, picture_labels(model, examples, n)), x)
    labels = examples.y if model.conditional else None
    save_reconstructions(run_dir / RECONSTRUCTIONS_FILE, x, model.reconstruct(x, labels))


def prepare(spec: Spec) -> tuple[Any, GenerativeAutoencoder]:
    """Load and check the data and build the model: every check a run makes before it writes anything.

    A component that rejects its arguments while being built is reported at its spec key and line.
    The model is built under the spec's ``train.distribute`` strategy.
    """
    from genkit.assembly.build import build
    from genkit.assembly.data import describe_data, prepare_data
    from genkit.training.strategy import make_strategy

    data = prepare_data(spec)
    try:
        with make_strategy(spec.train.distribute).scope():  # variables are placed on every replica
            model = build(spec, data.data_shape, data.condition_dim)
    except SpecError as err:
        if err.source is not None or spec.source is None:
            raise
        line = spec.lines.get(tuple(err.path.split(".")))
        raise SpecError(err.detail, err.path, spec.source, line) from None
    problem = model.likelihood.check_data(data.train.x)
    if problem:
        likelihood = spec.components["likelihood"]["type"]
        raise GenkitError(f"{describe_data(spec)} does not fit likelihood '{likelihood}': {problem}")
    return data, model


def spec_callbacks(spec: Spec, run_dir: Path | None) -> list[Callback]:
    """The callbacks the spec lists under ``train.callbacks``, built with their validated arguments."""
    from genkit.plugin.instantiate import instantiate

    return [
        instantiate("callback", entry, f"train.callbacks.{index}", {"run_dir": run_dir})
        for index, entry in enumerate(spec.train.callbacks)
        if isinstance(entry, dict)
    ]


def train(
    spec: str | Path | dict[str, Any] | Spec,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
) -> RunResult:
    """Validate the spec, load data, build, train; write a run directory when ``out`` is given.

    Everything that can be checked is checked before the directory is created, so a bad spec or
    bad data leaves nothing behind. With a run directory, checkpoints are written as the spec's
    ``train`` says and Ctrl-C stops cleanly (:class:`~genkit.errors.TrainingInterrupted`);
    ``resume`` continues the run in ``out`` from its newest good checkpoint.
    """
    from genkit.training.strategy import start_multi_worker
    from genkit.training.trainer import Trainer

    if resume and (out is None or overwrite):
        raise GenkitError("resume needs a run directory (out) and excludes overwrite")

    start_multi_worker()  # before any TensorFlow operation, including spec validation
    spec = load_spec(spec)
    data, model = prepare(spec)
    from_spec = spec_callbacks(spec, None if out is None else Path(out))  # before anything is written
    run_dir, resuming = None, False
    if out is not None:
        run_dir, resuming = resume_run_dir(out, spec) if resume else (prepare_run_dir(out, overwrite), False)
    shown = data.validation or data.train
    candidates = np.arange(len(shown))
    if model.conditional and shown.y is not None and shown.y.ndim == 1:
        candidates = np.flatnonzero(shown.y >= 0)  # semi-supervised data: unlabelled examples have -1
    examples = shown.subset(candidates[: 32 if len(data.data_shape) > 1 else 1000])
    loggers: list[Callback] = []
    if run_dir is not None:
        write_run_header(run_dir, spec, model)
        metrics = MetricsCSV(run_dir / METRICS_FILE)
        checkpointer = Checkpointer(CheckpointManager(run_dir, spec.train.keep_checkpoints), run_dir)
        shown_examples = examples.subset(np.arange(min(16, len(examples))))
        loggers += [metrics, checkpointer]
        if not any(isinstance(callback, TensorBoard) for callback in from_spec):  # the spec's own replaces it
            loggers.append(TensorBoard(run_dir / TENSORBOARD_DIR, spec.train.image_every, shown_examples))
    if progress:
        steps = -(-len(data.train) // spec.train.batch_size)
        loggers.append(Progress(spec.train.epochs, steps))
    with model.distribute_strategy.scope():  # the trainer's optimizers and steps follow the model's strategy
        trainer = Trainer(model, spec, data.train, data.validation, [*loggers, *from_spec, *callbacks])
        if run_dir is None:
            history = trainer.fit()
        else:
            history = _fit_with_checkpoints(trainer, checkpointer, metrics, resuming)
    if run_dir is not None:
        temporary = run_dir / f".tmp-{WEIGHTS_FILE}"  # Keras wants the .weights.h5 ending
        model.save_weights(str(temporary))
        os.replace(temporary, run_dir / WEIGHTS_FILE)  # a kill while saving leaves no half-written weights
        save_pictures(run_dir, model, examples)
    return RunResult(model, history, run_dir)


def _fit_with_checkpoints(trainer: Any, checkpointer: Checkpointer, metrics: MetricsCSV, resuming: bool) -> list:
    """Fit from the newest good checkpoint (when resuming), Ctrl-C handled, a NaN stop naming the last checkpoint."""
    manager = checkpointer.manager
    start, partial = 1, None
    if resuming:
        state = manager.restore(trainer)
        if state is None:
            warnings.warn(f"{checkpointer.run_dir} has no usable checkpoint; training from the first epoch",
                          CheckpointWarning, stacklevel=3)
        else:
            start, partial = state.epoch + 1, state.partial
        metrics.restore(trainer.history)
    try:
        with checkpointer.catching_interrupts():
            return trainer.fit(start, partial)
    except NumericalFault as fault:
        saved = manager.paths()
        where = (f"The last good checkpoint is {saved[-1]}" if saved else
                 "No checkpoint was written before it")
        raise NumericalFault(
            f"{fault}. {where}. Lower train.optimizer.learning_rate, set train.clip_norm, or set "
            "train.on_nan: skip, then continue with: genkit run SPEC --resume",
            fault.epoch, fault.step, fault.term,
        ) from None


def load(run_dir: str | Path) -> GenerativeAutoencoder:
    """Rebuild a trained model from its run directory (resolved spec + h5 weights, no pickles)."""
    from genkit.assembly.build import build

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
