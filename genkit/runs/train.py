"""``genkit.train``: validate, load data, build, train into a run directory, fit the sampler, draw pictures.

Everything that can be checked is checked before the directory is created (:func:`prepare`), so a
bad spec or bad data leaves nothing behind. Under ``multi_worker`` every worker runs this with the
same arguments: only the chief creates and writes the run directory (a shared file system's, so
that a restarted job's workers all resume from the chief's checkpoints); the others train in
lock-step, each on its share of streamed data, and write nothing.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from genkit.assembly.build import assemble
from genkit.assembly.data import PreparedData, describe_data, prepare_data
from genkit.assembly.model import GenerativeAutoencoder
from genkit.assembly.streaming import StreamedSplit, first_examples
from genkit.errors import GenkitError, NumericalFault, SpecError, WorkerLost
from genkit.plugin.callback import Callback
from genkit.plugin.dataset import ArrayData
from genkit.plugin.instantiate import instantiate
from genkit.runs.directory import prepare_run_dir, read_jit_choice, resume_run_dir, write_run_header
from genkit.runs.layout import METRICS_FILE, TENSORBOARD_DIR, WEIGHTS_FILE
from genkit.runs.loggers import MetricsCSV, TensorBoard
from genkit.runs.pictures import save_pictures
from genkit.runs.samplers import FIT_EXAMPLES, fit_sampler, save_sampler
from genkit.spec.resolve import load_spec
from genkit.spec.schema import Spec
from genkit.training.callbacks import Progress
from genkit.training.checkpoint import Checkpointer, CheckpointManager, CheckpointWarning
from genkit.training.strategy import WorkerRole, make_strategy, start_multi_worker, worker_role
from genkit.training.trainer import Trainer

#: How many examples of streamed training data are checked against the likelihood before training,
#: a batch of :data:`CHECK_BATCH` at a time (data in memory are checked whole).
STREAM_CHECKED_EXAMPLES = 10_000
CHECK_BATCH = 500


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
    strategy = make_strategy(spec.train.distribute)
    role = worker_role()
    if isinstance(data.train, StreamedSplit) and role.count > 1:  # each worker reads its own share
        if spec.train.batch_size < role.count:
            raise SpecError(f"train.batch_size ({spec.train.batch_size}) is smaller than the {role.count} workers: "
                            "every worker needs a share of each batch", "train.batch_size", spec.source,
                            spec.line_of("train.batch_size"))
        data.train = data.train.sharded(role.index, role.count)
    with strategy.scope():  # variables are placed on every replica
        model = assemble(spec, data.context(spec))
    if isinstance(data.train, ArrayData):
        problem = model.likelihood.check_data(data.train.x)
    else:  # a batch at a time: 10,000 large images at once would cost more memory than training does
        checked = data.train.examples().take(STREAM_CHECKED_EXAMPLES).batch(CHECK_BATCH)
        problem = next(filter(None, (model.likelihood.check_data(batch["x"].numpy()) for batch in checked)), None)
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
    wanted = 32 if len(data.data_shape) > 1 else 1000
    split = data.validation or data.train
    # streamed data are fully labelled (data.labelled needs them in memory): only the shown ones are read
    shown = first_examples(split, 2000 if isinstance(split, ArrayData) else wanted)
    candidates = np.arange(len(shown))
    if model.conditional and shown.y is not None and shown.y.ndim == 1:
        candidates = np.flatnonzero(shown.y >= 0)  # semi-supervised data: unlabelled examples have -1
    return shown.subset(candidates[:wanted])


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

    With a run directory, checkpoints are written as the spec's ``train`` says and Ctrl-C stops
    cleanly (:class:`~genkit.errors.TrainingInterrupted`); ``resume`` continues the run in ``out``
    from its newest good checkpoint. The spec's ``sampler`` is fitted after training.
    """
    if resume and (out is None or overwrite):
        raise GenkitError("resume needs a run directory (out) and excludes overwrite")

    start_multi_worker()  # before any TensorFlow operation, including spec validation
    spec = load_spec(spec)
    data, model = prepare(spec)
    role = worker_role()
    from_spec = spec_callbacks(spec, None if out is None else Path(out))  # before anything is written
    run_dir, resuming = None, False
    if out is not None:
        run_dir, resuming = _run_dir(Path(out), spec, role, overwrite, resume)
    writes = run_dir is not None and role.chief
    examples = _shown_examples(model, data)
    loggers: list[Callback] = []
    checkpointer = metrics = None
    if run_dir is not None:
        checkpointer = Checkpointer(CheckpointManager(run_dir, spec.train.keep_checkpoints), run_dir)
        metrics = MetricsCSV(run_dir / METRICS_FILE)
        loggers += [metrics, checkpointer]  # on a worker that is not the chief both write nothing
        if writes and not any(isinstance(callback, TensorBoard) for callback in from_spec):  # the spec's own wins
            shown_examples = examples.subset(np.arange(min(16, len(examples))))
            loggers.append(TensorBoard(run_dir / TENSORBOARD_DIR, spec.train.image_every, shown_examples))
    if progress and role.chief:
        steps = -(-len(data.train) // spec.train.batch_size)
        loggers.append(Progress(spec.train.epochs, steps))
    with model.distribute_strategy.scope():  # the trainer's optimizers and steps follow the model's strategy
        trainer = Trainer(model, spec.train, data.train, data.validation, [*loggers, *from_spec, *callbacks])
        trainer.choose_jit(read_jit_choice(run_dir) if resuming and run_dir is not None else None)
        if writes and run_dir is not None:
            write_run_header(run_dir, spec, model, trainer.jit_choice)
        try:
            if checkpointer is None or metrics is None:
                history = trainer.fit()
            else:
                history = _fit_with_checkpoints(trainer, checkpointer, metrics, resuming)
        except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
                tf.errors.DeadlineExceededError) as err:
            if role.count == 1:
                raise
            raise _worker_lost(err, role, None if checkpointer is None else checkpointer.manager) from None
    if model.sampler is not None:
        entry = spec.components["sampler"]
        fitted_on = first_examples(data.train, FIT_EXAMPLES)
        labels = fitted_on.y if model.conditional else None
        model.sampler = fit_sampler(model, entry, fitted_on.x, labels, spec.train.seed)
        if writes and run_dir is not None:
            save_sampler(run_dir, entry, model.sampler)
    if writes and run_dir is not None:
        temporary = run_dir / f".tmp-{WEIGHTS_FILE}"  # Keras wants the .weights.h5 ending
        model.save_weights(str(temporary))
        os.replace(temporary, run_dir / WEIGHTS_FILE)  # a kill while saving leaves no half-written weights
        save_pictures(run_dir, model, examples)
    return RunResult(model, history, run_dir)


def _run_dir(out: Path, spec: Spec, role: WorkerRole, overwrite: bool, resume: bool) -> tuple[Path, bool]:
    """The run directory and whether a run in it is continued. The chief creates (or checks) it;
    another worker only looks whether the chief's directory holds a run to resume from."""
    if role.chief:
        return resume_run_dir(out, spec) if resume else (prepare_run_dir(out, overwrite), False)
    return out, resume and any(CheckpointManager(out).paths())


def _worker_lost(err: Exception, role: WorkerRole, manager: CheckpointManager | None) -> WorkerLost:
    """The message of a worker whose cluster lost another worker mid-training."""
    saved = manager.paths() if manager is not None else []
    where = f"the last checkpoint is {saved[-1]}" if saved else "no checkpoint was written yet"
    reason = (getattr(err, "message", "") or str(err)).strip().splitlines()
    causes = [line.strip() for line in reason if "abort" in line.lower() or "unavailable" in line.lower()]
    detail = causes[-1] if causes else reason[0] if reason else type(err).__name__
    return WorkerLost(f"worker {role.index} of {role.count}: another worker of the cluster stopped while training "
                      f"({detail}); {where}. Restart every worker with the same command plus --resume (genkit run "
                      "SPEC --out RUN --resume): the job continues from the chief's last checkpoint")


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
