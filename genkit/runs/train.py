"""``genkit.train``: validate, load data, build, train into a run directory, fit the sampler, draw pictures.

Everything that can be checked is checked before the directory is created (:func:`prepare`), so a
bad spec or bad data leaves nothing behind.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genkit.assembly.build import assemble
from genkit.assembly.data import PreparedData, describe_data, prepare_data
from genkit.assembly.model import GenerativeAutoencoder
from genkit.errors import GenkitError, NumericalFault
from genkit.plugin.callback import Callback
from genkit.plugin.dataset import ArrayData
from genkit.plugin.instantiate import instantiate
from genkit.runs.directory import prepare_run_dir, resume_run_dir, write_run_header
from genkit.runs.layout import METRICS_FILE, TENSORBOARD_DIR, WEIGHTS_FILE
from genkit.runs.loggers import MetricsCSV, TensorBoard
from genkit.runs.pictures import save_pictures
from genkit.runs.samplers import fit_sampler, save_sampler
from genkit.spec.resolve import load_spec
from genkit.spec.schema import Spec
from genkit.training.callbacks import LogFormat, epoch_reporter
from genkit.training.checkpoint import Checkpointer, CheckpointManager, CheckpointWarning
from genkit.training.strategy import make_strategy, start_multi_worker
from genkit.training.trainer import Trainer


@dataclass
class RunResult:
    """What ``genkit.train`` returns: the trained model, its per-epoch metrics, and where it lives."""

    model: GenerativeAutoencoder
    history: list[dict[str, float]]
    run_dir: Path | None


def prepare(spec: Spec) -> tuple[PreparedData, GenerativeAutoencoder]:
    """Load and check the data and build the model: every check a run makes before it writes anything.

    The model is built under the spec's ``train.distribute`` strategy.
    """
    data = prepare_data(spec)
    with make_strategy(spec.train.distribute).scope():  # variables are placed on every replica
        model = assemble(spec, data.context(spec))
    problem = model.likelihood.check_data(data.train.x)
    if problem:
        likelihood = spec.components["likelihood"]["type"]
        raise GenkitError(f"{describe_data(spec)} does not fit likelihood '{likelihood}': {problem}")
    return data, model


def spec_callbacks(spec: Spec, run_dir: Path | None) -> list[Callback]:
    """The callbacks the spec lists under ``train.callbacks``, built with their validated arguments."""
    return [
        instantiate("callback", entry, f"train.callbacks.{index}", {"run_dir": run_dir})
        for index, entry in enumerate(spec.train.callbacks)
        if isinstance(entry, dict)
    ]


def _shown_examples(model: GenerativeAutoencoder, data: PreparedData) -> ArrayData:
    """The examples the pictures show: validation (else training) examples, labelled ones for conditional models."""
    shown = data.validation or data.train
    candidates = np.arange(len(shown))
    if model.conditional and shown.y is not None and shown.y.ndim == 1:
        candidates = np.flatnonzero(shown.y >= 0)  # semi-supervised data: unlabelled examples have -1
    return shown.subset(candidates[: 32 if len(data.data_shape) > 1 else 1000])


def train(
    spec: str | Path | dict[str, Any] | Spec,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    log_format: LogFormat = "auto",
) -> RunResult:
    """Validate the spec, load data, build, train; write a run directory when ``out`` is given.

    With ``progress``, epochs are reported on standard output in ``log_format``: ``rich`` (a
    progress bar), ``plain`` (fixed-column lines), ``json`` (JSON lines), or ``auto`` (rich on a
    terminal, else plain).

    With a run directory, checkpoints are written as the spec's ``train`` says and Ctrl-C stops
    cleanly (:class:`~genkit.errors.TrainingInterrupted`); ``resume`` continues the run in ``out``
    from its newest good checkpoint. The spec's ``sampler`` is fitted after training.
    """
    if resume and (out is None or overwrite):
        raise GenkitError("resume needs a run directory (out) and excludes overwrite")

    start_multi_worker()  # before any TensorFlow operation, including spec validation
    spec = load_spec(spec)
    data, model = prepare(spec)
    from_spec = spec_callbacks(spec, None if out is None else Path(out))  # before anything is written
    run_dir, resuming = None, False
    if out is not None:
        run_dir, resuming = resume_run_dir(out, spec) if resume else (prepare_run_dir(out, overwrite), False)
    examples = _shown_examples(model, data)
    loggers: list[Callback] = []
    checkpointer = metrics = None
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
        loggers.append(epoch_reporter(log_format, spec.train.epochs, steps))
    with model.distribute_strategy.scope():  # the trainer's optimizers and steps follow the model's strategy
        trainer = Trainer(model, spec.train, data.train, data.validation, [*loggers, *from_spec, *callbacks])
        if checkpointer is None or metrics is None:
            history = trainer.fit()
        else:
            history = _fit_with_checkpoints(trainer, checkpointer, metrics, resuming)
    if model.sampler is not None:
        entry = spec.components["sampler"]
        labels = data.train.y if model.conditional else None
        model.sampler = fit_sampler(model, entry, data.train.x, labels, spec.train.seed)
        if run_dir is not None:
            save_sampler(run_dir, entry, model.sampler)
    if run_dir is not None:
        temporary = run_dir / f".tmp-{WEIGHTS_FILE}"  # Keras wants the .weights.h5 ending
        model.save_weights(str(temporary))
        os.replace(temporary, run_dir / WEIGHTS_FILE)  # a kill while saving leaves no half-written weights
        save_pictures(run_dir, model, examples)
    return RunResult(model, history, run_dir)


def _fit_with_checkpoints(trainer: Trainer, checkpointer: Checkpointer, metrics: MetricsCSV,
                          resuming: bool) -> list[dict[str, float]]:
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
        ) from fault
