"""The plugin contract's extensions, each used as a plugin author would: k samples per example,
context by name, metrics and loss terms from any component, state updated outside the gradient
step (checkpointed and resumed exactly), grids of codes, failures that name their component."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability import distributions as tfd

import genkit
from genkit.runs.train import train


@pytest.fixture
def registered():
    """Register in-test plugins by (kind, name); removed afterwards."""
    names: list[tuple[str, str]] = []

    def add(kind: str, name: str, cls: type) -> None:
        genkit.registry(kind).add(name, cls)
        names.append((kind, name))

    yield add
    for kind, name in names:
        genkit.registry(kind).remove(name)


class CountingKL(genkit.Divergence):
    """The analytic KL that also reports its batch mean, the context it was built with, and a
    moving average of the KL kept as state.

    Args:
        decay: decay of the moving average.
    """

    def __init__(self, latent_dim: int, num_train_examples: int, batch_size: int, decay: float = 0.5):
        super().__init__(latent_dim)
        self.size, self.batch = num_train_examples, batch_size
        self.decay = decay
        self.average = self.add_state("average", ())

    def per_example(self, q, prior, z, seed):
        kl = tfd.kl_divergence(q, prior)
        self.log_metric("mean_kl", kl)
        self.log_metric("dataset_size", float(self.size))
        self.add_update(self.average, self.decay * self.average + (1 - self.decay) * tf.reduce_mean(kl))
        return kl


class PenalisedGaussian(genkit.Posterior):
    """A diagonal Gaussian head that adds a penalty on the squared means to the loss.

    Args:
        weight: multiplier of the penalty.
    """

    def __init__(self, latent_dim: int, weight: float = 2.0):
        super().__init__(latent_dim)
        self.weight = weight

    @property
    def param_size(self) -> int:
        return 2 * self.latent_dim

    def distribution(self, params):
        loc, raw = tf.split(params, 2, axis=-1)
        self.add_loss_term("mean_penalty", self.weight * tf.reduce_mean(tf.reduce_sum(loc**2, axis=-1)))
        return tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw) + 1e-5), 1)


def test_k_samples_per_example_give_samples_by_batch_terms(tiny_vae):
    model = genkit.build(tiny_vae)
    x = tf.constant((np.random.default_rng(0).uniform(size=(6, 12, 12, 1)) > 0.5).astype(np.float32))
    one = model.per_example_terms({"x": x}, None, tf.constant([1, 2]), training=False)
    several = model.per_example_terms({"x": x}, None, tf.constant([1, 2]), training=False, samples=4)
    assert one.reconstruction.shape == (6,) and one.z.shape == (6, 2)
    assert several.reconstruction.shape == (4, 6) and several.divergence.shape == (4, 6)
    assert several.z.shape == (4, 6, 2) and several.log_weights().shape == (4, 6)
    # each sample's reconstruction is the likelihood of that sample's code, decoded on its own
    for k in range(4):
        alone = -model.likelihood_distribution(several.z[k]).log_prob(x)
        np.testing.assert_allclose(several.reconstruction[k].numpy(), alone.numpy(), rtol=1e-5)
    # the analytic KL does not depend on the sample: broadcast over the sample axis
    np.testing.assert_allclose(several.divergence.numpy(), np.broadcast_to(one.divergence.numpy(), (4, 6)), rtol=1e-6)
    # the importance weights of one sample are the ELBO's terms, sample by sample
    expected = -several.reconstruction - several.q.log_prob(several.z) + several.prior.log_prob(several.z)
    np.testing.assert_allclose(several.log_weights().numpy(), expected.numpy(), rtol=1e-6)


def test_seed_splitting_is_public_and_stateless():
    first, second = genkit.split_seed(tf.constant([3, 4]), 2)
    again = genkit.split_seed(tf.constant([3, 4]), 2)
    assert first.shape == (2,) and not np.array_equal(first.numpy(), second.numpy())
    np.testing.assert_array_equal(first.numpy(), again[0].numpy())


def test_context_metrics_and_state_updates_reach_the_run(tiny_vae, registered, tmp_path):
    registered("divergence", "counting_kl", CountingKL)
    tiny_vae["divergence"] = {"type": "counting_kl"}
    tiny_vae["train"]["epochs"] = 2
    result = train(tiny_vae, tmp_path / "run", progress=False)
    model = result.model
    # context by name: 300 examples, 20% for validation, so 240 training examples; the spec's batch size
    assert (model.divergence.size, model.divergence.batch) == (240, 40)
    assert model.context.num_train_examples == 240 and model.context.steps_per_epoch == 6
    last = result.history[-1]
    assert last["dataset_size"] == pytest.approx(240.0)
    # the reported KL is the divergence term itself (its per-example mean), in training and validation
    assert last["mean_kl"] == pytest.approx(last["divergence"], rel=1e-5)
    assert last["val_mean_kl"] == pytest.approx(last["val_divergence"], rel=1e-5)
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"mean_kl", "dataset_size", "val_mean_kl"} <= set(header)
    # the moving average followed the batch KL and is saved with the weights
    average = float(model.divergence.average.numpy())
    assert 0.5 * last["divergence"] < average < 2.0 * last["divergence"]
    assert float(genkit.load(tmp_path / "run").divergence.average.numpy()) == pytest.approx(average)


def test_state_updates_are_not_applied_at_evaluation_or_on_a_skipped_step(tiny_vae, registered):
    registered("divergence", "counting_kl", CountingKL)
    tiny_vae["divergence"] = {"type": "counting_kl"}
    model = genkit.build(tiny_vae)
    x = tf.constant(np.random.default_rng(0).uniform(size=(8, 12, 12, 1)).astype(np.float32))
    main = model.phases()[0]
    terms, updates = model.run_phase(main, {"x": x}, tf.constant([0, 1]), training=False)
    assert updates == [] and "mean_kl" in terms
    _, updates = model.run_phase(main, {"x": x}, tf.constant([0, 1]), training=True)
    assert [variable.path for variable, _ in updates] == [model.divergence.average.path]

    from genkit.assembly.learning import PhaseStep

    optimizer = genkit.OptimizerSpec().model_dump()
    step = PhaseStep(model, [main], [genkit_optimizer(optimizer, main)])
    step({"x": x}, tf.constant([0, 1]))
    moved = float(model.divergence.average.numpy())
    assert moved != 0.0
    step({"x": x * np.nan}, tf.constant([0, 2]))  # a NaN batch: neither the weights nor the state move
    assert float(model.divergence.average.numpy()) == moved


def genkit_optimizer(spec: dict, phase: genkit.Phase):
    from genkit.plugin.optimizers import make_optimizer

    optimizer = make_optimizer(spec)
    optimizer.build(phase.variables())
    return optimizer


def test_a_posterior_adds_a_loss_term_to_its_phase(tiny_vae, registered):
    registered("posterior", "penalised", PenalisedGaussian)
    tiny_vae["posterior"] = {"type": "penalised", "weight": 2.0}
    model = genkit.build(tiny_vae)
    x = tf.constant(np.random.default_rng(1).uniform(size=(8, 12, 12, 1)).astype(np.float32))
    terms, _ = model.run_phase(model.phases()[0], {"x": x}, tf.constant([0, 1]), training=False)
    loc = model.encoder(x).numpy()[:, :2]
    assert float(terms["mean_penalty"]) == pytest.approx(2.0 * np.mean(np.sum(loc**2, axis=1)), rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(
        float(terms["reconstruction"]) + float(terms["divergence"]) + float(terms["mean_penalty"]), rel=1e-5)


def test_two_components_may_not_report_one_name(tiny_vae, registered):
    class Clash(CountingKL):
        """Reports the posterior's metric name.

        Args:
            decay: decay of the moving average.
        """

        def per_example(self, q, prior, z, seed):
            self.log_metric("mean_penalty", 1.0)
            return super().per_example(q, prior, z, seed)

    registered("posterior", "penalised", PenalisedGaussian)
    registered("divergence", "clash", Clash)
    tiny_vae["posterior"], tiny_vae["divergence"] = "penalised", "clash"
    with pytest.raises(genkit.GenkitError, match="'mean_penalty' is reported by both"):
        genkit.build(tiny_vae)


def test_a_failing_plugin_is_named_with_its_key_and_cause(tiny_vae, registered):
    class Broken(CountingKL):
        """Fails when first run.

        Args:
            decay: decay of the moving average.
        """

        def per_example(self, q, prior, z, seed):
            raise ZeroDivisionError("the plugin's own bug")

    registered("divergence", "broken", Broken)
    tiny_vae["divergence"] = "broken"
    with pytest.raises(genkit.SpecError) as caught:
        genkit.build(tiny_vae)
    message = str(caught.value)
    assert "key 'divergence'" in message and "divergence 'broken'" in message
    assert "ZeroDivisionError: the plugin's own bug" in message
    assert isinstance(caught.value.__cause__, ZeroDivisionError)  # --debug prints its traceback


def test_a_plugin_shadowing_a_keras_method_is_refused_by_name(tiny_vae, registered):
    class Quantizing(PenalisedGaussian):
        """Defines a method Keras layers already have.

        Args:
            weight: multiplier of the penalty.
        """

        def quantize(self, values):
            return values

    registered("posterior", "quantizing", Quantizing)
    tiny_vae["posterior"] = "quantizing"
    with pytest.raises(genkit.SpecError, match="defines 'quantize', which Keras layers already have"):
        genkit.load_spec(tiny_vae)


class Histogram(genkit.Sampler):
    """A diagonal Gaussian fitted to the codes (the simplest sampler).

    Args:
        widen: multiplier of the fitted standard deviations.
    """

    def __init__(self, latent_shape: tuple[int, ...], widen: float = 1.0):
        super().__init__(latent_shape)
        self.widen = widen

    def fit(self, codes, seed):
        flat = codes.reshape(len(codes), -1)
        self.mean, self.std = flat.mean(axis=0), flat.std(axis=0) * self.widen

    def sample(self, n, seed):
        draws = tf.random.stateless_normal([n, self.mean.size], seed) * self.std + self.mean
        return tf.reshape(tf.cast(draws, tf.float32), [n, *self.latent_shape])

    def state(self):
        return {"mean": self.mean, "std": self.std}

    def load_state(self, state):
        self.mean, self.std = state["mean"], state["std"]


def test_a_grid_of_codes_runs_end_to_end_with_a_sampler(tiny_vae, registered, tmp_path):
    """latent_shape [3, 3, 2]: conv networks, a Gaussian head over the grid, a sampler fitted after
    training, saved with the run, used by sample and by the exported SavedModel."""
    registered("sampler", "histogram", Histogram)
    spec = {**tiny_vae, "model": "ae", "latent_shape": [3, 3, 2], "sampler": {"type": "histogram", "widen": 1.5},
            "encoder": {"type": "conv", "filters": [8, 8]}, "decoder": {"type": "conv", "filters": [8, 8]}}
    del spec["latent_dim"]
    spec["prior"], spec["divergence"] = None, "none"
    spec["train"]["epochs"] = 1
    run = tmp_path / "grid"
    result = train(spec, run, progress=False)
    model = result.model
    x = np.random.default_rng(0).uniform(size=(5, 12, 12, 1)).astype(np.float32)
    assert model.latent_shape == (3, 3, 2) and model.encode(x).shape == (5, 3, 3, 2)
    assert model.sampler is not None and model.sampler.fitted and model.sampler.widen == 1.5
    assert (run / "samplers" / "histogram.npz").is_file() and (run / "samples.png").is_file()
    loaded = genkit.load(run)
    np.testing.assert_allclose(loaded.sample(4, seed=3), model.sample(4, seed=3), rtol=1e-5)
    exported = genkit.export(loaded, tmp_path / "saved")
    reloaded = tf.saved_model.load(str(exported))
    drawn = reloaded.signatures["sample"](n=tf.constant(4), seed=tf.constant(3))
    np.testing.assert_allclose(drawn["x"].numpy(), model.sample(4, seed=3), rtol=1e-4, atol=1e-5)
    assert tuple(reloaded.signatures["decode"].structured_input_signature[1]["z"].shape) == (None, 3, 3, 2)


def test_keras_fit_trains_the_model_with_its_own_phases(tiny_toy):
    """The first thing a Keras user tries: compile + fit + evaluate, with Keras callbacks."""
    import keras

    tiny_toy["model"], tiny_toy["divergence"] = "aae", "adversarial"
    model = genkit.build(tiny_toy)
    data = genkit.load_spec(tiny_toy)
    from genkit.assembly.data import load_split

    x = load_split(data, "train").x
    model.compile()
    before = model.evaluate(x, batch_size=100, verbose=0, return_dict=True)
    seen: list[int] = []
    history = model.fit(x, batch_size=50, epochs=3, verbose=0,
                        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))])
    after = model.evaluate(x, batch_size=100, verbose=0, return_dict=True)
    assert seen == [0, 1, 2] and int(model.step_counter.numpy()) == 3 * math.ceil(len(x) / 50)
    # every phase trained and is reported: reconstruction, discriminator, generator
    assert {"loss", "reconstruction", "discriminator_loss", "generator_loss"} <= set(history.history)
    assert after["reconstruction"] < 0.7 * before["reconstruction"]
    # the spec's own per-phase optimizers (the discriminator's learning rate is its own)
    phases = model._fit.step.phases
    assert [phase.name for phase in phases] == ["main", "discriminator", "generator"]
    rates = [float(keras.ops.convert_to_numpy(o.learning_rate)) for o in model._fit.step.optimizers]
    assert rates == pytest.approx([3e-3, 1e-4, 3e-3])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01))
    rates = [float(keras.ops.convert_to_numpy(o.learning_rate)) for o in model._fit.step.optimizers]
    assert rates == pytest.approx([0.01, 1e-4, 0.01])


def test_state_updated_outside_the_gradient_step_resumes_exactly(tiny_vae, registered, tmp_path):
    """A Ctrl-C mid-epoch, then resume: the moving average ends where an uninterrupted run's does."""
    from test_checkpoint import _SignalAtStep

    from genkit.errors import TrainingInterrupted

    registered("divergence", "counting_kl", CountingKL)
    tiny_vae["divergence"] = "counting_kl"
    tiny_vae["train"].update(epochs=2, steps_per_execution=1)
    reference = train(tiny_vae, tmp_path / "reference", progress=False).model
    with pytest.raises(TrainingInterrupted):
        train(tiny_vae, tmp_path / "run", progress=False, callbacks=[_SignalAtStep(8)])
    resumed = train(tiny_vae, tmp_path / "run", resume=True, progress=False).model
    assert float(resumed.divergence.average.numpy()) == pytest.approx(float(reference.divergence.average.numpy()),
                                                                      rel=1e-6)


def _shapes(spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """The spec's training images and labels, as a Keras user has them: plain arrays."""
    from genkit.assembly.data import load_split

    arrays = load_split(genkit.load_spec(spec), "train")
    return arrays.x, arrays.y


def test_keras_fit_validates_stops_early_checkpoints_and_round_trips_weights(tiny_vae, tmp_path):
    import keras

    x, _ = _shapes(tiny_vae)
    train_x, validation_x = x[:240], x[240:]
    model = genkit.build(tiny_vae)
    model.compile()
    start = model.evaluate(validation_x, batch_size=40, verbose=0, return_dict=True)
    checkpoint = tmp_path / "last.weights.h5"
    history = model.fit(train_x, validation_data=validation_x, batch_size=40, epochs=8, verbose=0, callbacks=[
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=1e9),  # no epoch improves by 1e9
        keras.callbacks.ModelCheckpoint(str(checkpoint), save_weights_only=True),
    ]).history
    assert len(history["loss"]) == 2  # stopped after the second epoch, not the eighth
    assert {"val_loss", "val_reconstruction", "val_divergence"} <= set(history)
    assert history["val_loss"][-1] < start["loss"] - 1.0  # it trained
    # fit's val_ terms are evaluate's numbers on the validation data, with the final weights
    end = model.evaluate(validation_x, batch_size=40, verbose=0, return_dict=True)
    for term in ("loss", "reconstruction", "divergence"):
        assert history[f"val_{term}"][-1] == pytest.approx(end[term], rel=1e-5)
    # the checkpoint Keras wrote and an explicit save_weights both restore the trained model exactly
    model.save_weights(str(tmp_path / "saved.weights.h5"))
    for path in (checkpoint, tmp_path / "saved.weights.h5"):
        restored = genkit.build(tiny_vae)
        restored.load_weights(str(path))
        for mine, theirs in zip(model.get_weights(), restored.get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    assert int(restored.step_counter.numpy()) == 12  # 2 epochs of 6 steps, saved with the weights
    np.testing.assert_array_equal(restored.encode(validation_x), model.encode(validation_x))


def test_keras_fit_trains_a_conditional_model_on_its_labels(tiny_vae):
    x, y = _shapes(tiny_vae)
    model = genkit.build({**tiny_vae, "model": "cvae"})
    model.compile()
    start = model.evaluate(x, y, batch_size=100, verbose=0, return_dict=True)
    history = model.fit(x[:240], y[:240], validation_data=(x[240:], y[240:]), batch_size=40, epochs=2,
                        verbose=0).history
    assert history["loss"][-1] < history["loss"][0] and history["val_loss"][-1] < start["loss"] - 1.0
    # (x, y) as one pair is the same data; the labels are the condition, so other labels give other terms
    pair = model.evaluate((x, y), batch_size=100, verbose=0, return_dict=True)
    assert pair == model.evaluate(x, y, batch_size=100, verbose=0, return_dict=True)
    assert model.evaluate(x, (y + 1) % 4, batch_size=100, verbose=0, return_dict=True)["loss"] != pair["loss"]
    with pytest.raises(genkit.GenkitError, match="this model is conditional: pass labels"):
        model.fit(x, batch_size=40, epochs=1, verbose=0)
