"""Checkpoints and resume, in-process: a stopped-and-resumed run equals an uninterrupted one.

One uninterrupted 4-epoch run is the reference; each test stops a run of the same spec in a
different way (after an epoch, mid-epoch through a real SIGINT, with its newest checkpoint
corrupted) and checks that resuming ends with the reference's weights and metrics rows.
"""

from __future__ import annotations

import copy
import json
import shutil
import signal
import warnings
from pathlib import Path

import pytest
from conftest import TINY_VAE
from runcheck import assert_same_run, metric_rows

from genkit import Callback
from genkit.errors import GenkitError, TrainingInterrupted
from genkit.runs.train import train
from genkit.training.checkpoint import CheckpointManager, CheckpointWarning, CorruptCheckpoint

EPOCHS = 4


def _spec(epochs: int = EPOCHS, **train_options) -> dict:
    spec = copy.deepcopy(TINY_VAE)
    spec["train"].update(epochs=epochs, **train_options)
    return spec


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of the spec: the numbers every resumed run must reproduce."""
    out = tmp_path_factory.mktemp("reference") / "run"
    train(_spec(), out, progress=False)
    return out


def test_checkpoints_every_epoch_keep_last_three(reference):
    manager = CheckpointManager(reference)
    states = [manager.read(path) for path in manager.paths()]
    # 6 steps per epoch (240 training examples, batch 40); keep_checkpoints defaults to 3.
    assert [(s.epoch, s.step) for s in states] == [(2, 12), (3, 18), (4, 24)]
    assert [row["epoch"] for row in states[-1].history] == [1, 2, 3, 4]
    assert not list(manager.root.glob(".tmp-*"))


def test_checkpoint_every_two_epochs_and_at_the_end(tmp_path):
    train(_spec(epochs=3, checkpoint_every=2, keep_checkpoints=5), tmp_path / "run", progress=False)
    manager = CheckpointManager(tmp_path / "run")
    assert [manager.read(p).epoch for p in manager.paths()] == [2, 3]


def test_resume_after_an_epoch_equals_uninterrupted(tmp_path, reference):
    out = tmp_path / "run"
    train(_spec(epochs=2), out, progress=False)  # "stopped" after epoch 2
    result = train(_spec(), out, resume=True, progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    assert_same_run(out, reference)


class _SignalAtStep(Callback):
    """Sends this process a real SIGINT after global step ``at`` (as a Ctrl-C would arrive)."""

    def __init__(self, at: int):
        self.at, self.count = at, 0

    def on_step_end(self, step: int, loss: float | None) -> None:
        self.count += 1
        if self.count == self.at:
            signal.raise_signal(signal.SIGINT)


def test_sigint_mid_epoch_checkpoints_after_the_step_and_resumes_exactly(tmp_path, reference):
    out = tmp_path / "run"
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match=rf"resume with: genkit resume {out}"):
        train(_spec(steps_per_execution=2), out, progress=False, callbacks=[_SignalAtStep(8)])
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    latest = CheckpointManager(out).read(CheckpointManager(out).paths()[-1])
    # The signal came after step 8 (epoch 2, batch 2); the Checkpointer saw it at step 9's end,
    # when the compiled call of steps 9 and 10 had run: the checkpoint holds both.
    assert (latest.epoch, latest.step, latest.partial.steps) == (1, 10, 4)
    assert len(metric_rows(out)) == 1
    train(_spec(), out, resume=True, progress=False)
    assert_same_run(out, reference)


def test_corrupt_latest_checkpoint_falls_back_with_a_warning(tmp_path, reference):
    out = tmp_path / "run"
    train(_spec(epochs=3), out, progress=False)
    newest = CheckpointManager(out).paths()[-1]
    weights = newest / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated, as by a full disk
    assert len(metric_rows(out)) == 3
    with pytest.warns(CheckpointWarning, match=rf"{newest.name} is corrupt.*model.weights.h5 does not match"):
        train(_spec(), out, resume=True, progress=False)
    assert_same_run(out, reference)  # epoch 3 retrained from the epoch-2 checkpoint; its row written once


@pytest.mark.parametrize("damage", ["no manifest", "edited state", "bad json manifest"])
def test_read_detects_damage(reference, tmp_path, damage):
    copy_dir = tmp_path / "step"
    shutil.copytree(CheckpointManager(reference).paths()[-1], copy_dir)
    if damage == "no manifest":
        (copy_dir / "manifest.json").unlink()
    elif damage == "edited state":
        state = json.loads((copy_dir / "state.json").read_text())
        (copy_dir / "state.json").write_text(json.dumps({**state, "epoch": 1}))
    else:
        (copy_dir / "manifest.json").write_text("{")
    with pytest.raises(CorruptCheckpoint):
        CheckpointManager(tmp_path).read(copy_dir)


def test_resume_of_a_finished_run_trains_nothing_more(tmp_path, reference):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    result = train(_spec(), out, resume=True, progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    assert_same_run(out, reference)


def test_resume_refuses_a_different_model(tmp_path, reference):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    other = _spec()
    other["latent_dim"] = 3
    with pytest.raises(GenkitError, match="differs from the run's spec.yaml in latent_dim"):
        train(other, out, resume=True, progress=False)


def test_resume_without_a_checkpoint_starts_over(tmp_path, reference):
    out = tmp_path / "run"
    train(_spec(epochs=1), out, progress=False)
    for path in CheckpointManager(out).paths():
            shutil.rmtree(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(_spec(), out, resume=True, progress=False)
    assert any("no usable checkpoint" in str(w.message) for w in caught)
    assert_same_run(out, reference)
