"""Numerical faults: a NaN in a loss term or gradient stops training (naming epoch, step, term and
the last good checkpoint) or is skipped and counted; gradient clipping comes from the spec.

NaNs are provoked on purpose by a test-only divergence registered in-process: it is the analytic
KL, except that on chosen calls its value (``mode: value``) or only its gradient
(``mode: gradient``) is NaN. Calls are counted by a variable in the layer; the first call is
the one ``build`` makes, so training step ``s`` is call ``s + 1`` (no validation split: evaluation
would call it too).
"""

from __future__ import annotations

import copy
import math
import re
from typing import Literal

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from conftest import TINY_TOY, TINY_VAE
from genkit_plugins.divergences import AnalyticKL
from runcheck import metric_rows

import genkit
from genkit.assembly.build import build
from genkit.assembly.data import prepare_data
from genkit.cli import main
from genkit.errors import NumericalFault
from genkit.plugin.dataset import ArrayData
from genkit.runs.train import train
from genkit.spec.resolve import load_spec
from genkit.spec.yaml_source import dump_yaml
from genkit.training.batching import batches
from genkit.training.checkpoint import CheckpointManager
from genkit.training.trainer import Trainer

STEPS_PER_EPOCH = 6  # 240 training examples, batch 40 (see _spec)


@genkit.register("divergence", "test_poisoned_kl")
class PoisonedKL(AnalyticKL):
    """Analytic KL whose value or gradient is NaN on the calls listed in ``bad_calls``."""

    def __init__(self, latent_dim: int, bad_calls: list[int] = [], mode: Literal["value", "gradient"] = "value"):  # noqa: B006
        super().__init__(latent_dim)
        self.bad_calls = list(bad_calls)
        self.mode = mode
        self.calls = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False, name="calls")

    def per_example(self, q, prior, z, seed):
        kl = super().per_example(q, prior, z, seed)
        self.calls.assign_add(1)
        bad = tf.reduce_any(tf.equal(tf.convert_to_tensor(self.calls), tf.constant(self.bad_calls or [-1], tf.int64)))
        if self.mode == "value":
            return tf.where(bad, tf.fill(tf.shape(kl), math.nan), kl)
        # sqrt has an infinite slope at 0: on bad calls the value stays kl but the gradient is 0 * inf = NaN;
        # on other calls the offset 1 moves sqrt off its kink (value and gradient then add exactly 0).
        offset = tf.cast(tf.logical_not(bad), z.dtype)
        return kl + tf.reduce_sum(tf.sqrt(tf.abs(z - tf.stop_gradient(z)) + offset) - tf.sqrt(offset), axis=-1)


def _spec(bad_calls: list[int], mode: str = "value", **train_options) -> dict:
    spec = copy.deepcopy(TINY_VAE)
    spec["data"].update(n_train=240, validation_split=0.0)
    spec["divergence"] = {"type": "test_poisoned_kl", "bad_calls": bad_calls, "mode": mode}
    spec["train"].update(epochs=3, **train_options)
    return spec


@pytest.mark.parametrize(
    ("mode", "term"),
    [("value", "the 'divergence' term became nan"), ("gradient", "the gradient of the 'main' phase's loss")],
)
def test_nan_stops_naming_epoch_step_term_and_last_checkpoint(tmp_path, mode, term):
    bad_step = STEPS_PER_EPOCH + 3  # epoch 2, its third batch
    out = tmp_path / "run"
    with pytest.raises(NumericalFault) as caught:
        train(_spec([bad_step + 1], mode), out, progress=False)
    fault = caught.value
    assert (fault.epoch, fault.step) == (2, bad_step)
    message = str(fault)
    assert f"epoch 2, step {bad_step}: {term}" in message
    last = CheckpointManager(out).paths()[-1]
    assert f"last good checkpoint is {last}" in message
    assert CheckpointManager(out).read(last).epoch == 1
    assert len(metric_rows(out)) == 1  # the bad epoch wrote no row


def assert_trainable_weights_are(model, expected: list[np.ndarray]) -> None:
    """Every trainable weight of ``model`` equals its array in ``expected`` (``model.get_weights()`` order)."""
    trainable = {id(v) for v in model.trainable_variables}
    for variable, old, new in zip(model.weights, expected, model.get_weights(), strict=True):
        if id(variable) in trainable:
            np.testing.assert_array_equal(old, new, err_msg=variable.path)


#: The NaN guard (a tf.cond around each phase's update, genkit.assembly.learning) in a graph and under XLA.
GUARDS = pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])


@GUARDS
def test_stop_freezes_the_weights_at_the_last_good_step(jit_compile):
    """Steps after the bad one (inside the same epoch) must not update anything."""
    spec = load_spec(_spec([4], jit_compile=jit_compile))  # step 3 is bad
    data = prepare_data(spec)
    model = build(spec, data.data_shape)
    trainer = Trainer(model, spec.train, data.train)
    for batch in list(batches(data.train, 40))[:2]:
        trainer.compiled.train_step(batch)
    before = [w.copy() for w in model.get_weights()]
    iterations = int(trainer.optimizers[0].iterations.numpy())
    for batch in list(batches(data.train, 40))[2:]:
        out = trainer.compiled.train_step(batch)
        assert bool(out["_skipped"])
    assert_trainable_weights_are(model, before)
    assert int(trainer.optimizers[0].iterations.numpy()) == iterations
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


@GUARDS
def test_skip_counts_skipped_steps_and_keeps_metrics_finite(tmp_path, jit_compile):
    bad_steps = [2, STEPS_PER_EPOCH + 1, STEPS_PER_EPOCH + 5]  # one in epoch 1, two in epoch 2
    spec = _spec([s + 1 for s in bad_steps], on_nan="skip", jit_compile=jit_compile)
    result = train(spec, tmp_path / "run", progress=False)
    rows = metric_rows(tmp_path / "run")
    assert [row["skipped_steps"] for row in rows] == [1, 2, 0]
    for row in rows:
        assert all(math.isfinite(value) for value in row.values()), row
    assert [row["step"] for row in rows] == [6, 12, 18]
    assert result.history[-1]["skipped_steps"] == 0


@GUARDS
def test_skip_leaves_the_optimizer_untouched_on_bad_steps(jit_compile):
    spec = load_spec(_spec([2, 3], mode="gradient", on_nan="skip", jit_compile=jit_compile))  # steps 1, 2 bad
    data = prepare_data(spec)
    model = build(spec, data.data_shape)
    trainer = Trainer(model, spec.train, data.train)
    initial = [w.copy() for w in model.get_weights()]
    epoch = list(batches(data.train, 40))
    flags = [bool(trainer.compiled.train_step(b)["_skipped"]) for b in epoch[:2]]
    assert flags == [True, True] and int(trainer.optimizers[0].iterations.numpy()) == 0
    assert_trainable_weights_are(model, initial)
    moments = [v for v in trainer.optimizers[0].variables if v.path.endswith(("_momentum", "_velocity"))]
    assert moments and all(np.all(v.numpy() == 0) for v in moments)  # Adam's moments unmoved
    flags = [bool(trainer.compiled.train_step(b)["_skipped"]) for b in epoch[2:]]
    assert flags == [False, False, False, False]
    assert int(trainer.optimizers[0].iterations.numpy()) == 4


@pytest.mark.parametrize(("option", "keras_name"), [("clip_norm", "global_clipnorm"), ("clip_value", "clipvalue")])
def test_clipping_reaches_every_phase_optimizer(option, keras_name):
    spec = load_spec(_spec([], **{option: 0.5}))
    trainer = Trainer(build(spec, (12, 12, 1)), spec.train, ArrayData(np.zeros((4, 12, 12, 1), np.float32)))
    assert [getattr(o, keras_name) for o in trainer.optimizers] == [0.5]


def test_clip_norm_bounds_each_update():
    """With SGD (learning rate 1) and clip_norm c, one step moves the weights by a global norm of at most c."""
    spec = load_spec(_spec([], clip_norm=1e-3, optimizer={"type": "sgd", "learning_rate": 1.0}))
    data = prepare_data(spec)
    model = build(spec, data.data_shape)
    trainer = Trainer(model, spec.train, data.train)
    before = [v.numpy().copy() for v in model.trainable_variables]
    trainer.compiled.train_step(next(iter(batches(data.train, 40))))
    moved = math.sqrt(sum(float(np.sum((v.numpy() - b) ** 2)) for v, b in zip(model.trainable_variables, before,
                                                                              strict=True)))
    assert moved == pytest.approx(1e-3, rel=1e-2)


def test_huge_learning_rate_stops_the_cli_with_exit_2(tmp_path):
    """No test plugin here: plain SGD with learning rate 100 on the toy data blows up in epoch 1."""
    spec = copy.deepcopy(TINY_TOY)
    spec["train"]["optimizer"] = {"type": "sgd", "learning_rate": 100.0}
    path = tmp_path / "spec.yaml"
    path.write_text(dump_yaml(spec))
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 2, result.output
    assert re.search(r"^error: training stopped at epoch 1, step \d+: the '(reconstruction|divergence|loss)' term "
                     r"became (nan|inf)", result.stderr), result.stderr
    assert "No checkpoint was written before it" in result.stderr
    assert "Traceback" not in result.stderr
