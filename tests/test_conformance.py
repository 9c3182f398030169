"""Every built-in plugin passes genkit.testing, and a broken plugin fails it with a clear message."""

from __future__ import annotations

import functools
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from genkit_plugins.networks import MLPEncoder
from genkit_plugins.priors import StandardNormal

from genkit.errors import SpecError
from genkit.plugin.dataset import ArrayData, Dataset
from genkit.plugin.divergence import Divergence
from genkit.plugin.heads import Likelihood, Posterior
from genkit.plugin.networks import Encoder
from genkit.plugin.phase import Phase
from genkit.plugin.prior import Prior
from genkit.plugin.registry import KINDS, registry
from genkit.spec.resolve import resolve
from genkit.testing import (
    CHECKS,
    _prepare,
    check_dataset,
    check_divergence,
    check_encoder,
    check_likelihood,
    check_posterior,
    check_prior,
)

tfd = tfp.distributions

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
    ("divergence", "mmd", {"kernel": "imq"}, {}),
    ("divergence", "mmd", {"kernel": "rbf"}, {"prior": "uniform"}),
    ("divergence", "adversarial", {"hidden": [8]}, {}),
    ("divergence", "supervised_adversarial", {"hidden": [8], "classes": 3}, {"prior": "mixture"}),
    ("divergence", "none", {}, {"prior": None}),
    ("dataset", "shapes", {"size": 8, "n_train": 10, "n_test": 5}, {}),
    ("dataset", "toy2d", {"shape": "moons", "n_train": 10, "n_test": 5}, {}),
]


#: Objectives and samplers of the model families, until genkit.testing has checks of their kinds: the
#: signature part of every check (docstring names each argument, typed arguments, SpecErrors at the key).
#: Their behaviour is tested in tests/test_family_*.py.
SIGNATURES_ONLY: list[tuple[str, str, dict[str, Any]]] = [
    ("objective", "vae_gan", {"filters": [4]}),
    ("sampler", "maf", {"layers": 2}),
    ("sampler", "two_stage_vae", {"latent_size": 2}),
    ("sampler", "autoregressive_codes", {"hidden": [8]}),
]


@functools.cache
def _small_model():
    """A tiny assembled model (latent 3, 4x4 data) for priors that attach to an encoder."""
    import genkit

    spec = {"latent_dim": 3, "data": {"type": "toy2d", "n_train": 20}, "encoder": {"type": "mlp", "hidden": [4]},
            "decoder": {"type": "mlp", "hidden": [4]}, "likelihood": "gaussian"}
    return genkit.build(spec)


@pytest.mark.parametrize("kind, name, args, options", BUILT_INS, ids=[f"{k}-{n}" for k, n, _, _ in BUILT_INS])
def test_built_in_plugin_passes_the_conformance_suite(kind, name, args, options):
    CHECKS[kind](registry(kind).get(name).obj, args, **options)


@pytest.mark.parametrize("kind, name, args", SIGNATURES_ONLY, ids=[f"{k}-{n}" for k, n, _ in SIGNATURES_ONLY])
def test_family_objectives_and_samplers_have_checked_signatures(kind, name, args):
    _prepare(kind, registry(kind).get(name).obj, args)


@pytest.mark.parametrize("kind", ["encoder", "decoder", "posterior", "likelihood", "prior", "divergence", "dataset"])
def test_every_built_in_plugin_is_checked(kind):
    built_in = {entry.name for entry in registry(kind).entries() if entry.origin == "genkit"}
    checked = {name for k, name, _, _ in BUILT_INS if k == kind}
    if kind == "dataset":
        checked |= {"npz", "h5"}  # checked on temporary files below
    if kind == "prior":
        checked |= {"conditional_gaussian"}  # p(z|y) takes the condition: tests/test_family_cvae.py
    assert built_in == checked


def test_file_datasets_pass_the_conformance_suite(tmp_path):
    import h5py

    images = np.random.default_rng(0).integers(0, 256, size=(6, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "tiny.npz", x_train=images, y_train=np.arange(6), x_test=images[:2])
    with h5py.File(tmp_path / "tiny.h5", "w") as handle:
        handle["x_train"], handle["y_train"], handle["x_test"] = images, np.arange(6), images[:2]
    for kind in ("npz", "h5"):
        check_dataset(registry("dataset").get(kind).obj, {"path": str(tmp_path / f"tiny.{kind}"), "labels": "y_train"})


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


class LateShiftPrior(StandardNormal):
    """A standard normal shifted by a weight that ``connect`` creates (as priors that depend on other
    components create theirs once they are connected to a model)."""

    def connect(self) -> None:
        self.shift = self.add_weight(shape=(self.latent_dim,), initializer="ones", name="shift")

    def distribution(self):
        return tfd.Independent(tfd.Normal(self.shift, 1.0), reinterpreted_batch_ndims=1)


class CodeShrinkingDivergence(Divergence):
    """Zero per example; its own phase pulls the codes towards 0 (the shape of an adversarial regulariser)."""

    def per_example(self, q, prior, z, seed):
        return tf.zeros(tf.shape(z)[:1])

    def phases(self, model):
        def shrink(batch, seed):
            return {"loss": tf.reduce_mean(model.posterior_distribution(batch["x"]).sample(seed=seed) ** 2)}

        return [Phase("shrink", shrink, lambda: model.encoder.trainable_variables)]


def test_minus_infinity_outside_the_support_is_a_valid_log_prob():
    check_prior(BoxPrior, {"half_width": 0.5})


def test_setup_prepares_every_instance_a_prior_check_builds():
    check_prior(LateShiftPrior, setup=LateShiftPrior.connect)
    with pytest.raises(AssertionError, match="distribution.. raised AttributeError"):
        check_prior(LateShiftPrior)


def test_a_divergence_may_regularise_the_encoder_through_its_own_phase():
    check_divergence(CodeShrinkingDivergence)


# --- deliberately broken plugins: each fails one check, and the message says which -----------


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


class UnsavedShiftPrior(StandardNormal):
    """Keeps a random shift as a constant instead of a weight, so it is lost on save and load."""

    def __init__(self, latent_dim: int):
        super().__init__(latent_dim)
        self.shift = tf.constant(np.random.default_rng().normal(size=latent_dim), tf.float32)

    def distribution(self):
        return tfd.Independent(tfd.Normal(self.shift, 1.0), reinterpreted_batch_ndims=1)


class UntypedPrior(StandardNormal):
    """A standard normal times ``spread``; ``spread`` has no type annotation."""

    def __init__(self, latent_dim: int, spread=1.0):
        super().__init__(latent_dim)
        self.spread = spread


class UndocumentedPrior(StandardNormal):
    """A standard normal with an argument this docstring never mentions."""

    def __init__(self, latent_dim: int, width: float = 1.0):
        super().__init__(latent_dim)


class SeedlessPosterior(Posterior):
    """Draws with the global random state, ignoring the seed it is given."""

    @property
    def param_size(self) -> int:
        return self.latent_dim

    def distribution(self, params):
        return tfd.Independent(tfd.Normal(params + tf.random.normal(tf.shape(params)), 1.0), 1)


class DetachedKL(Divergence):
    """Stops the gradient of the KL, so the encoder never learns from it."""

    def per_example(self, q, prior, z, seed):
        return tf.stop_gradient(tfd.kl_divergence(q, prior))


class MislabelledDataset(Dataset):
    """One label too few."""

    def load(self, split="train"):
        return ArrayData(x=np.zeros((4, 2), np.float32), y=np.zeros(3, np.int64))


BROKEN = [
    (check_encoder, WrongSizeEncoder, {}, r"the output should have shape \(4, 5\), got \(4, 6\)"),
    (check_encoder, ConditionBlindEncoder, {}, "the output ignores the condition"),
    (check_encoder, DetachedEncoder, {"condition_dim": 0}, r"no gradient reaches variable '[^']*side/kernel'"),
    (check_likelihood, EagerOnlyLikelihood, {}, "running inside tf.function .* raised"),
    (check_likelihood, PerValueLikelihood, {}, r"event shape \(3, 3, 1\) and batch shape \(4,\), got \(\) and"),
    (check_prior, UnsavedShiftPrior, {}, "'sample' differs after its weights were saved and loaded into a fresh"),
    (check_prior, UntypedPrior, {}, "spec argument 'spread' accepts any value"),
    (check_prior, UndocumentedPrior, {}, "the docstring does not describe spec argument 'width'"),
    (check_posterior, SeedlessPosterior, {}, r"differs between two q.sample\(\) draws with the same seed"),
    (check_divergence, DetachedKL, {}, r"no gradient reaches q's parameters .* no phase of its own trains the encoder"),
    (check_dataset, MislabelledDataset, {}, "the 'train' split has 4 examples but 3 labels"),
]


@pytest.mark.parametrize("check, plugin, options, message", BROKEN, ids=[case[1].__name__ for case in BROKEN])
def test_a_broken_plugin_fails_with_a_message_naming_the_problem(check, plugin, options, message):
    kind = check.__name__.removeprefix("check_")
    with pytest.raises(AssertionError, match=f"^{kind} {plugin.__name__}: .*{message}"):
        check(plugin, **options)


def test_a_wrongly_typed_argument_in_a_real_spec_names_its_key(tiny_vae):
    """What check_* verifies through a temporary registration holds for the built-ins' real specs."""
    tiny_vae["posterior"] = {"type": "flow", "layers": "four"}
    with pytest.raises(SpecError, match="key 'posterior.layers'"):
        resolve(tiny_vae)


def test_checks_leave_no_temporary_registration_behind():
    check_prior(StandardNormal)
    check_divergence(registry("divergence").get("none").obj, prior=None)
    leftovers = [name for kind in KINDS for name in registry(kind).names() if name.startswith("genkit_testing_")]
    assert leftovers == []
