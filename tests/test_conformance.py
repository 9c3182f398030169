"""Every built-in plugin passes genkit.testing, property by property; unusual but valid plugins pass;
a broken plugin fails the property it breaks, with a message naming the problem."""

from __future__ import annotations

import collections
import functools
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from genkit_plugins.networks import MLPEncoder
from genkit_plugins.posteriors import DiagonalGaussian
from genkit_plugins.priors import StandardNormal
from test_contract import Histogram

from genkit.errors import SpecError
from genkit.plugin.callback import Callback
from genkit.plugin.corruption import Corruption
from genkit.plugin.dataset import ArrayData, Dataset
from genkit.plugin.divergence import Divergence
from genkit.plugin.heads import Likelihood, Posterior
from genkit.plugin.networks import Encoder
from genkit.plugin.objective import Objective
from genkit.plugin.phase import Phase
from genkit.plugin.prior import Prior
from genkit.plugin.registry import BUILTIN_DISTRIBUTION, KINDS, registry
from genkit.spec.resolve import resolve
from genkit.testing import (
    CheckFailure,
    check_dataset,
    check_posterior,
    check_prior,
    check_sampler,
    checks,
    parametrize_checks,
)

tfd = tfp.distributions

_CATEGORICAL = {"type": "categorical_aae", "classes": 2}

#: (kind, registered name, spec arguments, check options): small sizes keep each check fast.
BUILT_INS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("encoder", "mlp", {"hidden": [8], "normalization": "batch", "dropout": 0.1}, {}),
    ("encoder", "conv", {"filters": [4, 8], "dense": [8], "normalization": "batch", "dropout": 0.1},
     {"data_shape": (13, 11, 2)}),
    ("decoder", "mlp", {"hidden": [8], "normalization": "layer"}, {"output_shape": (3, 2)}),
    ("decoder", "conv", {"filters": [8, 4], "dense": [8], "normalization": "layer", "dropout": 0.1},
     {"output_shape": (7, 5, 1, 3)}),
    ("posterior", "diagonal_gaussian", {}, {}),
    ("posterior", "deterministic", {}, {}),
    ("posterior", "full_covariance_gaussian", {}, {}),
    ("posterior", "flow", {"layers": 2, "hidden": [8], "context_size": 2}, {}),
    ("posterior", "categorical_aae", {"classes": 2}, {}),
    ("posterior", "iaf", {"layers": 2, "hidden": [8], "context_size": 2}, {}),
    ("posterior", "planar_flow", {"layers": 2}, {}),
    ("posterior", "radial_flow", {"layers": 2}, {}),
    ("posterior", "von_mises_fisher", {"min_concentration": 0.5}, {}),
    ("posterior", "vq", {"codes": 4}, {}),
    ("likelihood", "bernoulli", {}, {}),
    ("likelihood", "gaussian", {"scale": 0.5, "variance": "global"}, {}),
    ("likelihood", "gaussian", {"variance": "per_dimension"}, {}),
    ("likelihood", "continuous_bernoulli", {}, {}),
    ("likelihood", "categorical_8bit", {}, {}),
    ("prior", "standard_normal", {}, {}),
    ("prior", "learnable_gaussian", {"init_scale": 0.5}, {}),
    ("prior", "mixture", {"components": 4, "learnable": True}, {}),
    ("prior", "mixture", {"components": 3, "layout": "sphere"}, {}),
    ("prior", "uniform", {"low": -2.0, "high": 2.0}, {}),
    ("prior", "swiss_roll", {"arms": 3}, {"latent_dim": 2}),
    ("prior", "vamp", {"pseudo_inputs": 3}, {"setup": lambda prior: prior.attach(_small_model())}),
    ("prior", "flow", {"flow": "maf", "layers": 2, "hidden": [8]}, {}),
    ("prior", "flow", {"flow": "real_nvp", "layers": 2, "hidden": [8]}, {}),
    ("prior", "categorical_aae", {"classes": 2}, {}),
    ("prior", "spherical_uniform", {}, {}),
    ("prior", "tfd", {"distribution": "StudentT", "parameters": {"df": 3.0, "loc": 0.0, "scale": 1.0}}, {}),
    ("divergence", "kl", {"beta": 2.0}, {}),
    ("divergence", "kl", {"free_bits": 0.1, "warmup": {"type": "linear", "steps": 10}}, {"prior": "mixture"}),
    ("divergence", "mc_kl", {"samples": 2}, {}),
    ("divergence", "mc_kl", {"code": "reconstruction"}, {}),
    ("divergence", "mmd", {"kernel": "imq"}, {}),
    ("divergence", "mmd", {"kernel": "rbf"}, {"prior": "uniform"}),
    ("divergence", "adversarial", {"hidden": [8]}, {}),
    ("divergence", "supervised_adversarial", {"hidden": [8], "classes": 3}, {"prior": "mixture"}),
    ("divergence", "none", {}, {"prior": None}),
    ("divergence", "beta_tc", {"beta": 6.0, "estimator": "mws"}, {}),
    ("divergence", "beta_tc", {"estimator": "mss"}, {}),
    ("divergence", "factor_vae", {"hidden": [8]}, {}),
    ("divergence", "dip_vae", {"kind": "ii"}, {}),
    ("divergence", "capacity_kl", {"capacity": 5.0, "steps": 10}, {}),
    ("divergence", "info_vae", {"alpha": 0.5}, {}),
    ("corruption", "gaussian_noise", {"std": 0.2}, {}),
    ("corruption", "masking", {"rate": 0.5}, {}),
    ("corruption", "salt_and_pepper", {"rate": 0.2}, {}),
    ("objective", "contractive", {"weight": 0.5}, {}),
    ("objective", "importance_weighted", {"samples": 3}, {}),
    ("objective", "importance_weighted", {"samples": 4, "groups": 2}, {}),
    ("objective", "rae", {}, {"spec": {"posterior": "deterministic", "prior": None, "divergence": "none"}}),
    ("objective", "rae", {"regularizer": "gradient_penalty"},
     {"spec": {"posterior": "deterministic", "prior": None, "divergence": "none"}}),
    ("objective", "data_adversarial", {"hidden": [8]}, {}),
    ("objective", "vae_gan", {"filters": [4]}, {"data_shape": (8, 8)}),
    ("objective", "vae_gan", {"discriminator": "mlp", "hidden": [4]}, {"data_shape": (8, 8)}),
    ("objective", "hamiltonian", {"steps": 2}, {}),
    ("objective", "m2", {"hidden": [8]}, {"spec": {"conditional": True}}),
    ("objective", "categorical_aae", {"classes": 2, "hidden": [8]},
     {"classes": 2, "spec": {"posterior": _CATEGORICAL, "prior": _CATEGORICAL, "divergence": "none"}}),
    ("dataset", "shapes", {"size": 8, "n_train": 10, "n_test": 5}, {}),
    ("dataset", "toy2d", {"shape": "moons", "n_train": 10, "n_test": 5}, {}),
    ("dataset", "sprites", {"size": 8, "scales": 2, "rotations": 2, "positions": 2, "n_train": 10, "n_test": 5}, {}),
    ("dataset", "colour_shapes", {"size": 8, "n_train": 10, "n_test": 5}, {}),
    ("sampler", "gmm", {"components": 3, "iterations": 20}, {}),
    ("sampler", "gmm", {"components": 2, "covariance": "diagonal"}, {"latent_shape": (2, 2)}),
    ("sampler", "maf", {"layers": 2}, {}),
    ("sampler", "two_stage_vae", {"latent_size": 2}, {}),
    ("sampler", "autoregressive_codes", {"hidden": [8], "fit_epochs": 2},
     {"latent_shape": (2, 2, 3), "setup": lambda sampler: sampler.attach(_quantized_model())}),
    ("callback", "early_stopping", {"patience": 1}, {}),
    ("callback", "csv", {"path": "extra.csv"}, {}),
    ("callback", "tensorboard", {"log_dir": "events"}, {}),
]


def _quantized_model() -> Any:
    """The part of a VQ-VAE the autoregressive code sampler attaches to: a posterior with a codebook
    of 4 codes of width 3."""
    import types

    codebook = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    return types.SimpleNamespace(posterior=types.SimpleNamespace(codebook=codebook))


@functools.cache
def _small_model():
    """A tiny assembled model (latent 3, 2-D data) for priors that attach to an encoder."""
    import genkit

    spec = {"latent_dim": 3, "data": {"type": "toy2d", "n_train": 20}, "encoder": {"type": "mlp", "hidden": [4]},
            "decoder": {"type": "mlp", "hidden": [4]}, "likelihood": "gaussian"}
    return genkit.build(spec)


def _labelled(cases: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> list[tuple[str, tuple]]:
    """Each case with a readable label: ``kind-name``, numbered when a name is checked more than once."""
    totals = collections.Counter((kind, name) for kind, name, _, _ in cases)
    seen: collections.Counter = collections.Counter()
    labelled = []
    for case in cases:
        seen[case[:2]] += 1
        suffix = f"{seen[case[:2]]}" if totals[case[:2]] > 1 else ""
        labelled.append((f"{case[0]}-{case[1]}{suffix}", case))
    return labelled


BUILT_IN_CHECKS = [
    pytest.param(check, id=f"{label}-{check.id}")
    for label, (kind, name, args, options) in _labelled(BUILT_INS)
    for check in checks(kind, registry(kind).get(name).obj, args, **options)
]


@pytest.mark.parametrize("check", BUILT_IN_CHECKS)
def test_built_in_plugin_passes_the_conformance_suite(check):
    check()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_built_in_plugin_is_checked(kind):
    built_in = {entry.name for entry in registry(kind).entries() if entry.origin == BUILTIN_DISTRIBUTION}
    checked = {name for k, name, _, _ in BUILT_INS if k == kind}
    if kind == "dataset":
        checked |= {"npz", "h5", "npy", "mnist", "image_folder", "tfrecord", "quadrants"}  # on temporary files below
        checked |= {"tfds"}  # needs tensorflow-datasets and prepared data: its message is tests/test_data_formats.py's
        checked |= {"encoded"}  # needs a trained run: tests/test_family_m1_m2.py
    if kind == "callback":
        checked |= {"mlflow"}  # needs MLflow (optional): tests/test_callbacks.py, skipped without it
    if kind == "prior":
        checked |= {"conditional_gaussian"}  # p(z|y) takes the condition: tests/test_family_cvae.py
        checked |= {"conditional_mlp"}  # the same: tests/test_family_conditional_images.py
    assert built_in == checked


def test_file_datasets_pass_the_conformance_suite(tmp_path):
    import h5py

    images = np.random.default_rng(0).integers(0, 256, size=(6, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "tiny.npz", x_train=images, y_train=np.arange(6), x_test=images[:2])
    with h5py.File(tmp_path / "tiny.h5", "w") as handle:
        handle["x_train"], handle["y_train"], handle["x_test"] = images, np.arange(6), images[:2]
    for kind in ("npz", "h5"):
        check_dataset(registry("dataset").get(kind).obj, {"path": str(tmp_path / f"tiny.{kind}"), "labels": "y_train"})
    check_dataset(registry("dataset").get("quadrants").obj, {"path": str(tmp_path / "tiny.npz"), "given": 3})
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", np.arange(6))
    np.save(tmp_path / "x_test.npy", images[:2])
    files = {"images": "x.npy", "labels": "y.npy", "test_images": "x_test.npy"}
    check_dataset(registry("dataset").get("npy").obj, {**{key: str(tmp_path / name) for key, name in files.items()},
                                                       "chunk": 4})
    from genkit.runs.convert import convert

    for kind in ("image_folder", "tfrecord"):
        convert("colour_shapes", tmp_path / kind, to=kind, args={"size": 8, "n_train": 12, "n_test": 4})
    folders = {"path": tmp_path / "image_folder" / "train", "test_path": tmp_path / "image_folder" / "test"}
    check_dataset(registry("dataset").get("image_folder").obj,
                  {**{key: str(path) for key, path in folders.items()}, "labels": "folders"})
    check_dataset(registry("dataset").get("tfrecord").obj, {"path": str(tmp_path / "tfrecord")})
    from fake_mnist import write_fake_mnist

    check_dataset(registry("dataset").get("mnist").obj, {"path": str(write_fake_mnist(tmp_path, 20, 10))})


# --- unusual but valid plugins pass -------------------------------------------------------------


class BoxPrior(Prior):
    """Uniform on a box of half-width ``half_width`` around a learned centre: log_prob is -inf outside.

    Args:
        half_width: half the side of the box.
    """

    def __init__(self, latent_dim: int, half_width: float = 1.0):
        super().__init__(latent_dim)
        self.half_width = half_width
        self.centre = self.add_weight(shape=(latent_dim,), initializer="zeros", name="centre")

    def distribution(self):
        return tfd.Independent(tfd.Uniform(self.centre - self.half_width, self.centre + self.half_width), 1)


BOX_PRIOR_IDS = ["docstring_describes_arguments", "arguments_are_typed", "wrong_typed_argument_is_a_spec_error",
                 "shapes", "finite", "seeded", "gradients", "tf_function", "weights_round_trip", "state_updates"]


@parametrize_checks("prior", BoxPrior, {"half_width": 0.5})
def test_minus_infinity_outside_the_support_is_a_valid_log_prob(check):
    check()


def test_a_plugin_author_sees_one_pytest_id_per_property():
    mark = parametrize_checks("prior", BoxPrior, {"half_width": 0.5})
    name, params = mark.args
    assert name == "check" and [param.id for param in params] == BOX_PRIOR_IDS
    # a prior that takes latent_shape is also checked on a grid of codes; a divergence in a model
    assert [c.id for c in checks("prior", StandardNormal)][-1] == "grid_latent_shape"
    divergence_ids = [c.id for c in checks("divergence", registry("divergence").get("kl").obj)]
    assert divergence_ids[3:] == ["shapes", "finite", "seeded", "regularises_encoder", "phases_well_formed",
                                  "gradients", "tf_function", "weights_round_trip", "state_updates"]


class LateShiftPrior(StandardNormal):
    """A standard normal shifted by a weight that ``connect`` creates (as priors that depend on other
    components create theirs once they are connected to a model)."""

    def __init__(self, latent_dim: int):
        super().__init__(latent_dim)

    def connect(self) -> None:
        self.shift = self.add_weight(shape=(self.latent_dim,), initializer="ones", name="shift")

    def distribution(self):
        return tfd.Independent(tfd.Normal(self.shift, 1.0), reinterpreted_batch_ndims=1)


def test_setup_prepares_every_instance_a_prior_check_builds():
    check_prior(LateShiftPrior, setup=LateShiftPrior.connect)
    shapes = next(c for c in checks("prior", LateShiftPrior) if c.id == "shapes")
    with pytest.raises(CheckFailure, match=r"\[shapes\]: distribution.. raised AttributeError"):
        shapes()


class CodeShrinkingDivergence(Divergence):
    """Zero per example; its own phase pulls the codes towards 0 (the shape of an adversarial regulariser)."""

    def per_example(self, q, prior, z, seed):
        return tf.zeros(tf.shape(z)[:1])

    def phases(self, model):
        def shrink(batch, seed):
            return {"loss": tf.reduce_mean(model.posterior_distribution(batch["x"]).sample(seed=seed) ** 2)}

        return [Phase("shrink", shrink, lambda: model.encoder.trainable_variables)]


def test_a_divergence_may_regularise_the_encoder_through_its_own_phase():
    for check in checks("divergence", CodeShrinkingDivergence):
        if check.id in ("regularises_encoder", "gradients"):
            check()


class MovingScaleGaussian(DiagonalGaussian):
    """A diagonal Gaussian that keeps a moving average of its batch's mean scale as state, updated
    after each training step (the pattern of an EMA codebook).

    Args:
        min_scale: the smallest standard deviation.
        decay: decay of the moving average.
    """

    def __init__(self, latent_dim: int, min_scale: float = 1e-5, decay: float = 0.9):
        super().__init__(latent_dim, min_scale=min_scale)
        self.decay = decay
        self.average_scale = self.add_state("average_scale", (latent_dim,), "ones")

    def distribution(self, params):
        q = super().distribution(params)
        batch_scale = tf.reduce_mean(q.distribution.scale, axis=0)
        self.add_update(self.average_scale, self.decay * self.average_scale + (1 - self.decay) * batch_scale)
        return q


def test_state_updated_by_add_update_needs_no_gradient_and_is_checked_as_state():
    check_posterior(MovingScaleGaussian, {"decay": 0.5})


def test_a_sampler_passes_the_conformance_suite():
    check_sampler(Histogram, {"widen": 1.5}, latent_shape=(2, 2, 3))


# --- deliberately broken plugins: each fails one property, and the message says what is wrong ------


class WrongSizeEncoder(MLPEncoder):
    """Produces one number too many.

    Args:
        hidden: widths of the hidden layers.
    """

    def __init__(self, data_shape, output_size, condition_dim=0, hidden: list[int] = [4]):  # noqa: B006
        super().__init__(data_shape, output_size + 1, condition_dim, hidden=hidden)


class ConditionBlindEncoder(MLPEncoder):
    """Accepts a condition and drops it.

    Args:
        hidden: widths of the hidden layers.
    """

    def __init__(self, data_shape, output_size, condition_dim=0, hidden: list[int] = [4]):  # noqa: B006
        super().__init__(data_shape, output_size, 0, hidden=hidden)

    def call(self, x, condition=None, training=False):
        return super().call(x, None, training)


class DetachedEncoder(Encoder):
    """Its second layer's weights only ever see a stopped gradient."""

    def __init__(self, data_shape, output_size, condition_dim=0):
        super().__init__(data_shape, output_size, condition_dim)
        self.flatten = keras.layers.Flatten()
        self.head = keras.layers.Dense(output_size)
        self.side = keras.layers.Dense(output_size, name="side")

    def call(self, x, condition=None, training=False):
        h = self.flatten(x)
        return self.head(h) + tf.stop_gradient(self.side(h))


class EagerOnlyLikelihood(Likelihood):
    """Reads a statistic of its parameters back to numpy, which cannot work inside tf.function."""

    def distribution(self, params):
        centred = params - float(np.mean(params.numpy()))
        return tfd.Independent(tfd.Bernoulli(logits=centred, dtype=tf.float32), len(self.data_shape))


class PerValueLikelihood(Likelihood):
    """Forgets tfd.Independent: one distribution per value instead of one per example."""

    def distribution(self, params):
        return tfd.Bernoulli(logits=params, dtype=tf.float32)


class FlatOnlyPrior(StandardNormal):
    """Takes latent_shape (from the base class) but builds its distribution over latent_dim numbers."""

    def distribution(self):
        return tfd.Independent(tfd.Normal(tf.zeros(self.latent_dim), 1.0), 1)


class SeedlessPosterior(Posterior):
    """Draws with the global random state, ignoring the seed it is given."""

    @property
    def param_size(self) -> int:
        return self.latent_dim

    def distribution(self, params):
        return tfd.Independent(tfd.Normal(params + tf.random.normal(tf.shape(params)), 1.0), 1)


class SelfAssigningGaussian(MovingScaleGaussian):
    """Assigns its moving average itself, also at evaluation, instead of asking genkit with add_update.

    Args:
        min_scale: the smallest standard deviation.
        decay: decay of the moving average.
    """

    def distribution(self, params):
        q = DiagonalGaussian.distribution(self, params)
        self.average_scale.assign(self.decay * self.average_scale + tf.reduce_mean(q.distribution.scale, axis=0))
        return q


class DetachedKL(Divergence):
    """Stops the gradient of the KL, so the encoder never learns from it."""

    def per_example(self, q, prior, z, seed):
        return tf.stop_gradient(tfd.kl_divergence(q, prior))


class DecoderFreezingObjective(Objective):
    """Stops the gradient of the reconstruction term, so the decoder never trains."""

    def loss_terms(self, model, batch, seed, training=True):
        terms = model.autoencoder_loss_terms(batch, seed, training)
        return {**terms, "loss": tf.stop_gradient(terms["reconstruction"]) + terms["divergence"]}


class IdentityCorruption(Corruption):
    """Corrupts nothing."""

    def corrupt(self, x, seed):
        return tf.identity(x)


class ForgetfulHistogram(Histogram):
    """Saves its means but not its spreads.

    Args:
        widen: multiplier of the fitted standard deviations.
    """

    def state(self):
        return {"mean": self.mean}

    def load_state(self, state):
        self.mean, self.std = state["mean"], np.ones_like(state["mean"])


class CwdLogger(Callback):
    """Writes its log into the working directory although genkit gives it the run directory."""

    def __init__(self, run_dir: Path | None = None):
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs):
        Path("epochs.log").write_text(f"{epoch}\n")


class AccuracyPrinter(Callback):
    """Expects an epoch metric genkit models do not have."""

    def on_epoch_end(self, epoch, logs):
        print(logs["accuracy"])


class MislabelledDataset(Dataset):
    """One label too few."""

    def load(self, split="train"):
        return ArrayData(x=np.zeros((4, 2), np.float32), y=np.zeros(3, np.int64))


#: (kind, plugin, check options, the property that fails, what its message says).
BROKEN = [
    ("encoder", WrongSizeEncoder, {}, "shapes", r"the output should have shape \(4, 5\), got \(4, 6\)"),
    ("encoder", ConditionBlindEncoder, {}, "uses_condition", "the output ignores the condition"),
    ("encoder", DetachedEncoder, {"condition_dim": 0}, "gradients", r"no gradient reaches variable '[^']*side/kernel'"),
    ("likelihood", EagerOnlyLikelihood, {}, "tf_function", "running inside tf.function .* raised"),
    ("likelihood", PerValueLikelihood, {}, "shapes", r"event shape \(3, 3, 1\) and batch shape \(4,\), got \(\) and"),
    ("prior", FlatOnlyPrior, {}, "grid_latent_shape",
     r"with latent_shape \[2, 2, 3\]: the distribution should have event shape \(2, 2, 3\)"),
    ("posterior", SeedlessPosterior, {}, "seeded", r"differs between two q.sample\(\) draws with the same seed"),
    ("posterior", SelfAssigningGaussian, {}, "state_updates",
     r"an evaluation changed its state \([^)]*average_scale\); state may change only through add_update"),
    ("divergence", DetachedKL, {}, "regularises_encoder",
     r"no gradient reaches q's parameters .* no phase of its own trains the encoder"),
    ("objective", DecoderFreezingObjective, {}, "gradients", r"no gradient reaches variable '[^']*' of phase 'main'"),
    ("corruption", IdentityCorruption, {}, "differs_from_input", r"corrupt\(x, seed\) returns x unchanged"),
    ("sampler", ForgetfulHistogram, {}, "state_round_trip",
     "'sample' differs after state.. was saved and loaded into a fresh instance"),
    ("callback", CwdLogger, {}, "writes_inside_run_dir", r"it wrote \['epochs.log'\] into the working directory"),
    ("callback", AccuracyPrinter, {}, "hooks", r"on_epoch_end\(1, logs\) raised KeyError: 'accuracy'"),
    ("dataset", MislabelledDataset, {}, "splits_load", "the 'train' split has 4 examples but 3 labels"),
]


@pytest.mark.parametrize("kind, plugin, options, prop, message", BROKEN, ids=[case[1].__name__ for case in BROKEN])
def test_a_broken_plugin_fails_the_property_it_breaks(kind, plugin, options, prop, message):
    check = next(c for c in checks(kind, plugin, **options) if c.id == prop)
    with pytest.raises(CheckFailure, match=f"^{kind} {plugin.__name__} \\[{prop}\\]: .*{message}"):
        check()


class CarelessPrior(StandardNormal):
    """A standard normal with a random shift kept as a constant, so it is lost on save and load."""

    def __init__(self, latent_dim: int, spread=1.0):
        super().__init__(latent_dim)
        self.shift = tf.constant(np.random.default_rng().normal(size=latent_dim), tf.float32)

    def distribution(self):
        return tfd.Independent(tfd.Normal(self.shift, 1.0), reinterpreted_batch_ndims=1)


def test_a_check_function_runs_every_property_and_lists_each_failure():
    with pytest.raises(AssertionError) as caught:
        check_prior(CarelessPrior)
    lines = str(caught.value).splitlines()
    assert lines[0] == "prior CarelessPrior fails 3 of 10 conformance checks:"
    assert lines[1] == "  docstring_describes_arguments: the docstring does not describe spec argument 'spread' " \
                       "(describe each under 'Args:')"
    assert lines[2].startswith("  arguments_are_typed: spec argument 'spread' accepts any value")
    assert lines[3].startswith("  weights_round_trip: 'sample' differs after its weights were saved and loaded")


def test_checks_refuse_what_is_no_plugin_of_the_kind_at_once():
    with pytest.raises(AssertionError, match="prior MLPEncoder: is not a subclass of genkit.Prior"):
        checks("prior", MLPEncoder)
    with pytest.raises(AssertionError, match=r"not valid spec arguments: half_width: Input should be a valid number"):
        checks("prior", BoxPrior, {"half_width": "wide"})
    with pytest.raises(ValueError, match="unknown component kind 'priors'"):
        checks("priors", BoxPrior)


def test_a_wrongly_typed_argument_in_a_real_spec_names_its_key(tiny_vae):
    """What check_* verifies through a temporary registration holds for the built-ins' real specs."""
    tiny_vae["posterior"] = {"type": "flow", "layers": "four"}
    with pytest.raises(SpecError, match="key 'posterior.layers'"):
        resolve(tiny_vae)


class UnbuildableKL(DetachedKL):
    """Fails as soon as a model runs it.

    Args:
        beta: unused.
    """

    def __init__(self, latent_dim: int, beta: float = 1.0):
        super().__init__(latent_dim)

    def per_example(self, q, prior, z, seed):
        raise ZeroDivisionError("the plugin's own bug")


def test_checks_leave_no_temporary_registration_behind():
    """Specs and models with the plugin register it under a temporary name, also when the check fails."""
    by_id = {check.id: check for check in checks("divergence", UnbuildableKL)}
    by_id["wrong_typed_argument_is_a_spec_error"]()
    with pytest.raises(CheckFailure, match="ZeroDivisionError: the plugin's own bug"):
        by_id["phases_well_formed"]()
    leftovers = [name for kind in KINDS for name in registry(kind).names() if name.startswith("genkit_testing_")]
    assert leftovers == []
