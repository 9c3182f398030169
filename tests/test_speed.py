"""Speed and scale features: spec keys, one trace per run, steps_per_execution, XLA, mixed precision,
and tf.distribute (two logical CPUs, two worker processes on localhost).

Throughput itself is measured by benchmarks/throughput.py, not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from runcheck import finish, finish_all, free_ports, spawn

import genkit
from genkit.assembly.precision import PrecisionWarning
from genkit.errors import SpecError
from genkit.plugin import randomness
from genkit.runs.train import RunResult
from genkit.runs.train import train as run_training
from genkit.spec.resolve import load_spec
from genkit.training.compiled import AUTO_CALL_SECONDS, resolve_jit_compile

WORKER = Path(__file__).with_name("distributed_worker.py")
METRICS = ("loss", "reconstruction", "divergence")


class Grab(genkit.Callback):
    """Keeps the trainer a run used, to look at it afterwards."""

    def on_train_begin(self, trainer) -> None:
        self.trainer = trainer


def train(spec: dict, **train_keys) -> tuple[RunResult, object]:
    """Train ``spec`` with ``train_keys`` overriding its train section; return the result and the trainer."""
    spec = {**spec, "train": {**spec["train"], **train_keys}}
    grab = Grab()
    return run_training(spec, progress=False, callbacks=[grab]), grab.trainer


def losses(result: RunResult) -> np.ndarray:
    return np.array([[epoch[key] for key in METRICS] for epoch in result.history])


def test_speed_keys_have_defaults_and_round_trip(tiny_vae):
    defaults = load_spec(tiny_vae).train
    assert (defaults.jit_compile, defaults.mixed_precision, defaults.steps_per_execution, defaults.distribute) == (
        "auto", "none", "auto", "none")
    tiny_vae["train"].update(jit_compile=True, mixed_precision="bfloat16", steps_per_execution=4, distribute="mirrored")
    spec = load_spec(tiny_vae)
    assert load_spec(spec.to_dict()).train == spec.train
    assert spec.train.jit_compile is True and spec.train.distribute == "mirrored"


@pytest.mark.parametrize(
    "key, value",
    [("jit_compile", "sometimes"), ("mixed_precision", "float8"), ("steps_per_execution", 0),
     ("distribute", "horovod")],
)
def test_bad_speed_keys_name_the_key(tiny_vae, key, value):
    tiny_vae["train"][key] = value
    with pytest.raises(SpecError) as error:
        load_spec(tiny_vae)
    assert error.value.path.startswith(f"train.{key}")


def test_jit_auto_means_xla_on_one_accelerator_only():
    assert resolve_jit_compile("auto", "none", accelerator=True) is True
    assert resolve_jit_compile("auto", "none", accelerator=False) is False
    assert resolve_jit_compile("auto", "mirrored", accelerator=True) is False
    assert resolve_jit_compile("auto", "none") is False  # this test machine has no GPU
    assert resolve_jit_compile(False, "none", accelerator=True) is False
    assert resolve_jit_compile(True, "multi_worker") is True


def test_train_step_traces_once_per_run(tiny_vae):
    # 240 examples in batches of 35: six full batches and a partial one; 4 steps per call: chunks of 4 and 3
    result, trainer = train(tiny_vae, batch_size=35, steps_per_execution=4, jit_compile=False)
    assert trainer.compiled.trace_count == 1
    assert [epoch["step"] for epoch in result.history] == [7, 14, 21]


@pytest.mark.parametrize("steps_per_execution", [3, "auto"])
def test_steps_per_execution_trains_the_same_model(tiny_vae, steps_per_execution):
    one, _ = train(tiny_vae, batch_size=35, steps_per_execution=1, jit_compile=False)
    many, _ = train(tiny_vae, batch_size=35, steps_per_execution=steps_per_execution, jit_compile=False)
    np.testing.assert_allclose(losses(many), losses(one), rtol=1e-5)
    for a, b in zip(one.model.weights, many.model.weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_auto_steps_per_execution_doubles_while_calls_are_short(tiny_vae):
    _, trainer = train(tiny_vae, epochs=1, jit_compile=False)
    trainer.compiled.chunk_steps = 4
    trainer.compiled.grow_chunk(seconds=0.01, steps=4)
    assert trainer.compiled.chunk_steps == 8
    trainer.compiled.grow_chunk(seconds=0.01, steps=3)  # an epoch's shorter last call says nothing about speed
    trainer.compiled.grow_chunk(seconds=AUTO_CALL_SECONDS, steps=8)  # long enough
    assert trainer.compiled.chunk_steps == 8
    _, fixed = train(tiny_vae, epochs=1, steps_per_execution=4, jit_compile=False)
    fixed.compiled.grow_chunk(seconds=0.01, steps=4)
    assert fixed.compiled.chunk_steps == 4


def test_xla_step_matches_the_graph_step(tiny_vae):
    # deterministic autoencoder: XLA may draw other stateless random numbers than the graph kernels
    tiny_vae.update(model="ae", prior=None, divergence="none")
    graph, _ = train(tiny_vae, jit_compile=False)
    xla, trainer = train(tiny_vae, jit_compile=True)
    assert trainer.compiled.jit_compile is True and trainer.compiled.trace_count == 1
    np.testing.assert_allclose(losses(xla), losses(graph), rtol=2e-3)  # XLA reassociates float sums


def test_xla_trains_a_partial_last_batch_in_a_call_of_its_own(tiny_vae):
    # 240 examples in batches of 35: XLA compiles the six full batches' loop and the last batch of 30 apart
    tiny_vae.update(model="ae", prior=None, divergence="none")
    graph, _ = train(tiny_vae, batch_size=35, jit_compile=False)
    xla, trainer = train(tiny_vae, batch_size=35, steps_per_execution=4, jit_compile=True)
    assert trainer.compiled.trace_count == 1  # the step; the call around it traces once per batch size
    assert trainer.compiled.next_call(0, 7) == (4, 35) and trainer.compiled.next_call(4, 7) == (2, 35)
    assert trainer.compiled.next_call(6, 7) == (1, 30)
    assert [epoch["step"] for epoch in xla.history] == [7, 14, 21]
    np.testing.assert_allclose(losses(xla), losses(graph), rtol=2e-3)
    # the single step traced inside the XLA call still runs on its own
    data = trainer.train_data
    outputs = trainer.compiled.train_step({"x": data.x[:35], "y": data.y[:35]})
    assert int(outputs["_step"]) == 22 and np.isfinite(float(outputs["loss"]))


def test_large_draws_use_threefry_when_traced_for_xla():
    seed = tf.constant([3, 4], tf.int32)

    @tf.function(jit_compile=True)
    def draw(alg: str | None = None) -> tf.Tensor:
        if alg is None:
            return randomness.uniform((2000,), seed)
        return tf.random.stateless_uniform((2000,), seed, alg=alg)

    with randomness.compiled_by_xla():
        traced_for_xla = draw().numpy()
    np.testing.assert_array_equal(traced_for_xla, draw("threefry").numpy())
    assert not np.array_equal(traced_for_xla, draw("philox").numpy())
    assert 0.0 <= traced_for_xla.min() and traced_for_xla.max() < 1.0 and abs(traced_for_xla.mean() - 0.5) < 0.03
    # outside the context (the graph kernels), TensorFlow's default algorithm
    default = tf.random.stateless_uniform((5,), seed).numpy()
    np.testing.assert_array_equal(randomness.uniform((5,), seed).numpy(), default)


def test_epoch_metrics_are_means_over_examples(tiny_vae):
    # a deterministic autoencoder that does not learn: every epoch's mean equals a plain evaluation
    tiny_vae.update(model="ae", prior=None, divergence="none")
    result, trainer = train(tiny_vae, batch_size=35, optimizer={"type": "sgd", "learning_rate": 1e-30},
                            jit_compile=False)  # updates below float32 resolution: the weights never change
    expected = trainer.evaluate(trainer.train_data)
    for epoch in result.history:
        assert epoch["loss"] == pytest.approx(expected["loss"], rel=1e-5)
        assert epoch["reconstruction"] == pytest.approx(expected["reconstruction"], rel=1e-5)


@pytest.mark.parametrize("mode, compute, scaled", [("float16", "float16", True), ("bfloat16", "bfloat16", False)])
def test_mixed_precision(tiny_vae, mode, compute, scaled):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, trainer = train(tiny_vae, mixed_precision=mode, jit_compile=False)
    # the run log says whether bfloat16 has units on this CPU (tests run without GPUs)
    assert any(issubclass(w.category, PrecisionWarning) for w in caught) is (mode == "bfloat16")
    model = result.model
    dense = model.encoder.hidden_layers[0]
    assert dense.compute_dtype == compute and dense.kernel.dtype == "float32"
    assert isinstance(trainer.optimizers[0], keras.optimizers.LossScaleOptimizer) is scaled
    x = trainer.train_data.x[:8]
    q = model.posterior_distribution(x)
    assert q.dtype == "float32" and model.likelihood_distribution(q.sample(seed=(1, 2))).dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the policy applied only while building
    assert np.all(np.isfinite(losses(result)))
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def _run_worker(out: Path, distribute: str, cpus: int = 1, env: dict | None = None) -> subprocess.Popen:
    return spawn([sys.executable, str(WORKER), str(out), distribute, str(cpus)], env={**os.environ, **(env or {})})


def _finish(process: subprocess.Popen, out: Path) -> dict:
    code, output = finish(process)
    assert code == 0, output[-3000:]
    return json.loads(out.read_text())


def _assert_same_training(a: dict, b: dict) -> None:
    keys = [key for key in a["history"][0] if key not in ("seconds", "examples_per_second")]
    assert keys == [key for key in b["history"][0] if key not in ("seconds", "examples_per_second")]
    assert "critic_loss" in keys  # the divergence's own phase ran and reported its metric
    # the poisoned critic step was skipped by every replica together, as on one device
    assert [epoch["skipped_steps"] for epoch in a["history"]] == [1, 0]
    for epoch_a, epoch_b in zip(a["history"], b["history"], strict=True):
        for key in keys:
            assert epoch_b[key] == pytest.approx(epoch_a[key], rel=1e-4, abs=1e-6), key
    for weight_a, weight_b in zip(a["weights"], b["weights"], strict=True):
        np.testing.assert_allclose(np.asarray(weight_b), np.asarray(weight_a), atol=1e-4)


@pytest.mark.slow
def test_mirrored_on_two_cpus_matches_one_device(tmp_path):
    out = tmp_path / "mirrored.json"
    results = _finish(_run_worker(out, "mirrored", cpus=2), out)
    assert results["one_device"]["replicas"] == 1 and results["distributed"]["replicas"] == 2
    _assert_same_training(results["one_device"], results["distributed"])


@pytest.mark.slow
def test_multi_worker_on_localhost_matches_one_device(tmp_path):
    import distributed_worker

    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    outs = [tmp_path / f"worker{index}.json" for index in range(2)]
    processes = [
        _run_worker(out, "multi_worker", env={
            "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})})
        for index, out in enumerate(outs)
    ]
    try:
        distributed_worker.register()
        reference = distributed_worker.train("none")
    finally:
        finished = finish_all(processes)
    for code, output in finished:
        assert code == 0, output[-3000:]
    results = [json.loads(out.read_text())["distributed"] for out in outs]
    assert [result["replicas"] for result in results] == [2, 2]
    for result in results:
        _assert_same_training(reference, result)


@pytest.mark.parametrize("preset", ["categorical_aae", "m2"])
def test_models_with_extra_networks_train_under_mixed_precision(tiny_vae, preset):
    # discriminators (the categorical AAE has two, as every adversarial divergence builds them) and
    # classifiers compute in bfloat16 too; their losses must still be float32
    spec = {key: value for key, value in tiny_vae.items() if key not in ("encoder", "decoder", "likelihood",
                                                                         "prior", "divergence", "posterior")}
    spec.update(model=preset, latent_dim=12 if preset == "categorical_aae" else 2)
    spec["data"] = {**spec["data"], "labelled": 20}
    result, trainer = train(spec, mixed_precision="bfloat16", epochs=1, jit_compile=False)
    assert result.model.encoder.compute_dtype == "bfloat16"
    assert len(trainer.phases) == (6 if preset == "categorical_aae" else 1)
    assert all(np.isfinite(value) for key, value in result.history[0].items() if key.endswith("loss"))


def test_jit_auto_measures_long_cpu_runs_and_trains_as_if_the_choice_were_in_the_spec(tiny_vae, monkeypatch):
    """The measurement restores every variable: the run then equals one with the chosen setting."""
    from genkit.training import jit_choice

    monkeypatch.setattr(jit_choice, "MEASURE_MIN_EXAMPLES", 1)
    measured, trainer = train(tiny_vae, epochs=2)  # jit_compile: auto (the default)
    choice = trainer.jit_choice
    assert choice.reason == "measured on this run's step"
    assert choice.graph_examples_per_second > 0 and choice.xla_examples_per_second > 0
    assert choice.jit_compile == (choice.xla_examples_per_second > jit_choice.MARGIN * choice.graph_examples_per_second)
    explicit, _ = train(tiny_vae, epochs=2, jit_compile=choice.jit_compile)
    for a, b in zip(measured.model.get_weights(), explicit.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [row["loss"] for row in measured.history] == pytest.approx([row["loss"] for row in explicit.history])


def test_jit_auto_keeps_graph_execution_for_short_cpu_runs(tiny_vae):
    _, trainer = train(tiny_vae, epochs=1)
    assert trainer.jit_choice.jit_compile is False and "cannot pay back" in trainer.jit_choice.reason
    assert trainer.jit_choice.graph_examples_per_second is None  # nothing was measured


def test_jit_auto_keeps_graph_execution_when_xla_cannot_compile_the_step(tiny_vae, monkeypatch):
    """The von Mises-Fisher posterior samples by rejection in 5 dimensions (3 has a closed form), a
    while loop XLA cannot differentiate: auto measures, finds that XLA fails, and trains the run
    with graph execution."""
    from genkit.training import jit_choice

    monkeypatch.setattr(jit_choice, "MEASURE_MIN_EXAMPLES", 1)
    tiny_vae.update(latent_dim=5, posterior="von_mises_fisher", prior="spherical_uniform", divergence="kl")
    result, trainer = train(tiny_vae, epochs=1)
    choice = trainer.jit_choice
    assert choice.jit_compile is False and choice.reason.startswith("XLA could not compile this run's step (")
    assert choice.graph_examples_per_second > 0 and choice.xla_examples_per_second is None
    assert np.isfinite(result.history[0]["loss"])
