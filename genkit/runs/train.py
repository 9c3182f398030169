"""``genkit.train``: validate, load data, build, train into a run directory, fit the sampler, draw pictures.

Everything that can be checked is checked before the directory is created
(:func:`~genkit.runs.prepare.prepare`, :meth:`RunDirectory.check`), so a bad spec, bad data or a bad
output path leaves nothing behind; what happens to the directory after that is
:mod:`genkit.runs.directory`'s policy. A component or spec callback that fails while training is
named in the error with its spec key (the original exception is its cause). Under
``multi_worker`` every worker runs this with the same arguments: only the chief creates, locks and
writes the run directory (a shared file system's, so that a restarted job's workers all resume from
the chief's checkpoints); the others train in lock-step, each on its share of streamed data, and
write nothing.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from genkit import signals
from genkit.assembly.build import components_of, naming_failures
from genkit.assembly.data import PreparedData
from genkit.assembly.model import GenerativeAutoencoder
from genkit.assembly.streaming import first_examples
from genkit.errors import GenkitError, NumericalFault, WorkerLost
from genkit.plugin.callback import Callback
from genkit.plugin.dataset import ArrayData
from genkit.plugin.instantiate import instantiate
from genkit.runs.directory import RunDirectory, read_jit_choice, replacing, warn_if_components_moved, write_run_header
from genkit.runs.layout import METRICS_FILE, TENSORBOARD_DIR, WEIGHTS_FILE
from genkit.runs.loggers import MetricsCSV, TensorBoard
from genkit.runs.pictures import save_pictures
from genkit.runs.prepare import prepare
from genkit.runs.samplers import FIT_EXAMPLES, fit_sampler, save_sampler
from genkit.spec.resolve import load_spec
from genkit.spec.schema import Spec
from genkit.training.callbacks import LogFormat, epoch_reporter
from genkit.training.checkpoint import Checkpointer, CheckpointManager, CheckpointWarning
from genkit.training.progress import EpochProgress
from genkit.training.strategy import WorkerRole, start_multi_worker, worker_role
from genkit.training.trainer import Trainer


@dataclass
class RunResult:
    """What ``genkit.train`` returns: the trained model, its per-epoch metrics, and where it lives."""

    model: GenerativeAutoencoder
    history: list[dict[str, float]]
    run_dir: Path | None


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
    log_format: LogFormat = "auto",
) -> RunResult:
    """Validate the spec, load data, build, train; write a run directory when ``out`` is given.

    With ``progress``, epochs are reported on standard output in ``log_format``: ``rich`` (a
    progress bar), ``plain`` (fixed-column lines), ``json`` (JSON lines), or ``auto`` (rich on a
    terminal, else plain).

    With a run directory (:mod:`genkit.runs.directory`: locked, replaced by ``overwrite`` only
    once the new run has finished), checkpoints are written as the spec's ``train`` says and a
    stop signal (Ctrl-C, SIGTERM) ends training cleanly after its step
    (:class:`~genkit.errors.TrainingInterrupted`); ``resume`` continues the run in ``out`` from
    its newest good checkpoint. The spec's ``sampler`` is fitted after training.
    """
    if resume and (out is None or overwrite):
        raise GenkitError("resume needs a run directory (out) and excludes overwrite")
    start_multi_worker()  # before any TensorFlow operation, including spec validation
    role = worker_role()
    # only the chief owns the run directory; the other workers read the chief's checkpoints
    directory = None if out is None or not role.chief else RunDirectory(out, overwrite=overwrite, resume=resume)
    if directory is not None:
        directory.check()  # a run that another process writes fails at once, before minutes of validation
    spec = load_spec(spec)
    data, model = prepare(spec)
    run = functools.partial(_run, spec, data, model, callbacks=callbacks, progress=progress and role.chief,
                            log_format=log_format, role=role)
    if out is None:
        return run(None, spec_callbacks(spec, None))
    if directory is None:  # a worker that is not the chief
        resuming = resume and bool(CheckpointManager(Path(out)).paths())
        return run(Path(out), spec_callbacks(spec, Path(out)), resuming=resuming)
    directory.check_spec(spec)
    from_spec = spec_callbacks(spec, directory.target)  # their arguments (paths too) are checked before writing
    with directory.writing() as run_dir:
        if run_dir != directory.target:  # --overwrite: relative callback paths go into the new run
            from_spec = spec_callbacks(spec, run_dir)
        if directory.resuming:
            warn_if_components_moved(run_dir, spec)
        result = run(run_dir, from_spec, resuming=directory.resuming, directory=directory)
    result.run_dir = directory.target
    return result


def _run(spec: Spec, data: PreparedData, model: GenerativeAutoencoder, run_dir: Path | None,
         from_spec: list[Callback], *, callbacks: Sequence[Callback], progress: bool, log_format: LogFormat,
         role: WorkerRole, resuming: bool = False, directory: RunDirectory | None = None) -> RunResult:
    """Train (into ``run_dir`` when given), fit the sampler, save weights and pictures. A resumed
    run's header is rewritten only once its checkpoint has been restored; a stop signal recorded
    while setting up or finishing is acted on between those steps. Without ``directory`` (a worker
    that is not the chief) ``run_dir`` is only read."""
    writes = run_dir is not None and directory is not None
    examples = _shown_examples(model, data)
    loggers: list[Callback] = []
    checkpointer = metrics = None
    if run_dir is not None:
        metrics = MetricsCSV(run_dir / METRICS_FILE)
        manager = CheckpointManager(run_dir, spec.train.keep_checkpoints, spec.to_dict())
        checkpointer = Checkpointer(manager, run_dir)
        loggers += [metrics, checkpointer]  # on a worker that is not the chief both write nothing
        if writes and not any(isinstance(callback, TensorBoard) for callback in from_spec):  # the spec's own wins
            shown_examples = examples.subset(np.arange(min(16, len(examples))))
            loggers.append(TensorBoard(run_dir / TENSORBOARD_DIR, spec.train.image_every, shown_examples))
    if progress:
        steps = -(-len(data.train) // spec.train.batch_size)
        loggers.append(epoch_reporter(log_format, spec.train.epochs, steps))
    parts = {**components_of(model), **{f"train.callbacks.{i}": callback for i, callback in enumerate(from_spec)}}
    # the trainer's optimizers and steps follow the model's strategy
    with model.distribute_strategy.scope(), naming_failures(spec, parts, "while training"):
        trainer = Trainer(model, spec.train, data.train, data.validation, [*loggers, *from_spec, *callbacks])
        trainer.choose_jit(read_jit_choice(run_dir) if resuming and run_dir is not None else None)
        try:
            if run_dir is None or checkpointer is None or metrics is None:
                history = trainer.fit()
            else:
                start, partial = _restore(trainer, checkpointer, metrics) if resuming else (1, None)
                if writes:
                    write_run_header(run_dir, spec, model, trainer.jit_choice)
                signals.check()
                replacing_run = directory is not None and directory.path != directory.target
                history = _fit_with_checkpoints(trainer, checkpointer, start, partial, replacing_run)
        except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
                tf.errors.DeadlineExceededError) as err:
            if role.count == 1:
                raise
            raise _worker_lost(err, role, None if checkpointer is None else checkpointer.manager) from None
    if model.sampler is not None:
        signals.check()
        entry = spec.components["sampler"]
        fitted_on = first_examples(data.train, FIT_EXAMPLES)
        labels = fitted_on.y if model.conditional else None
        model.sampler = fit_sampler(model, entry, fitted_on.x, labels, spec.train.seed)
        if writes and run_dir is not None:
            save_sampler(run_dir, entry, model.sampler)
    if writes and run_dir is not None:
        signals.check()
        with replacing(run_dir / WEIGHTS_FILE) as temporary:  # a kill while saving leaves no half-written weights
            model.save_weights(str(temporary))
        signals.check()
        save_pictures(run_dir, model, examples)
    return RunResult(model, history, run_dir)


def _restore(trainer: Trainer, checkpointer: Checkpointer, metrics: MetricsCSV) -> tuple[int, EpochProgress | None]:
    """Load the newest good checkpoint into ``trainer`` and rewind metrics.csv to it; where training goes on."""
    state = checkpointer.manager.restore(trainer)
    metrics.restore(trainer.history)
    if state is None:
        warnings.warn(f"{checkpointer.run_dir} has no usable checkpoint; training from the first epoch",
                      CheckpointWarning, stacklevel=4)
        return 1, None
    return state.epoch + 1, state.partial


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


def _fit_with_checkpoints(trainer: Trainer, checkpointer: Checkpointer, start: int, partial: EpochProgress | None,
                          replacing_run: bool) -> list[dict[str, float]]:
    """Fit from ``start`` (``partial``: the part of it trained already), a NaN stop naming the last
    checkpoint (unless the run replaces another with --overwrite: its checkpoints are discarded)."""
    try:
        return trainer.fit(start, partial)
    except NumericalFault as fault:
        saved = checkpointer.manager.paths()
        where = (f"The last good checkpoint is {saved[-1]}" if saved else "No checkpoint was written before it")
        advice = "Lower train.optimizer.learning_rate, set train.clip_norm, or set train.on_nan: skip"
        message = (f"{fault}. {advice}" if replacing_run else
                   f"{fault}. {where}. {advice}, then continue with: genkit run SPEC --resume")
        raise NumericalFault(message, fault.epoch, fault.step, fault.term) from fault
