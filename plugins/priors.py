"""Priors p(z): fixed, learnable, mixtures, sample-only, VampPrior, flows and any TFP distribution.

Every prior returns a ``tfd.Distribution`` with event shape ``[latent_dim]`` from
``distribution()``. Priors with a class layout (the Gaussian mixture's components, the swiss
roll's arms) implement ``num_classes`` and ``sample_for_labels`` for the supervised AAE.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any, Literal

import keras
import numpy as np
import pydantic
import tensorflow as tf
import tensorflow_probability as tfp
from genkit_plugins.made import MaskedMLP, reversing_chain, shift_and_log_scale
from pydantic_core import core_schema
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from genkit import GenkitError, ModelSurface, Prior


def _softplus_inverse(value: float) -> float:
    """The raw value whose softplus is ``value`` (so learned scales start where asked)."""
    return float(np.log(np.expm1(value)))


def _constant_init(value: np.ndarray | float) -> Callable[..., tf.Tensor]:
    """A Keras initializer returning ``value`` (float32)."""
    return lambda shape, dtype=None: tf.constant(np.broadcast_to(value, shape), tf.float32)


class StandardNormal(Prior):
    """Isotropic standard normal N(0, I), the usual VAE prior."""

    def distribution(self):
        return tfd.Independent(tfd.Normal(tf.zeros(self.latent_shape), 1.0),
                               reinterpreted_batch_ndims=len(self.latent_shape))


class LearnableGaussian(Prior):
    """Diagonal Gaussian N(mu, diag(sigma^2)) whose mean and scales train with the model.

    KL to a diagonal Gaussian posterior stays analytic.

    Args:
        init_scale: the starting standard deviation of every dimension (the mean starts at 0).
    """

    def __init__(self, latent_dim: int, init_scale: float = 1.0):
        super().__init__(latent_dim)
        if init_scale <= 0:
            raise ValueError(f"init_scale must be positive, got {init_scale}")
        self.loc = self.add_weight(shape=(latent_dim,), initializer="zeros", name="loc")
        self.raw_scale = self.add_weight(
            shape=(latent_dim,), initializer=_constant_init(_softplus_inverse(init_scale)), name="raw_scale"
        )

    def distribution(self):
        scale = tf.nn.softplus(self.raw_scale) + 1e-6
        return tfd.Independent(tfd.Normal(self.loc, scale), reinterpreted_batch_ndims=1)


def mixture_layout(latent_dim: int, components: int, layout: str, radius: float, seed: int) -> np.ndarray:
    """Component means ``[components, latent_dim]`` of a fixed layout.

    ``circle``: evenly spaced on a circle of ``radius`` in the plane of the first two latent
    dimensions (the other dimensions at 0), the classic AAE layout. ``sphere``: directions drawn
    once with ``seed`` and scaled to ``radius``, spreading the components over every dimension.
    """
    if layout == "circle":
        if latent_dim < 2:
            raise ValueError("the circle layout needs latent_dim >= 2; use layout: sphere")
        angle = 2 * np.pi * np.arange(components) / components
        means = np.zeros((components, latent_dim))
        means[:, 0], means[:, 1] = radius * np.cos(angle), radius * np.sin(angle)
        return means.astype(np.float32)
    directions = np.random.default_rng(seed).standard_normal((components, latent_dim))
    return (radius * directions / np.linalg.norm(directions, axis=1, keepdims=True)).astype(np.float32)


class GaussianMixture(Prior):
    """Mixture of k diagonal Gaussians: a fixed layout, or learnable means, scales and weights.

    With ``learnable: false`` the components sit at a fixed layout (see ``layout``) with equal
    weights and scale ``scale``; with ``learnable: true`` they start there and train. KL to a
    Gaussian posterior has no closed form (use ``kl`` with ``fallback: monte_carlo``, ``mc_kl``,
    ``mmd`` or ``adversarial``). Label layout: class ``c`` owns component ``c mod k``.

    Args:
        components: number of mixture components k.
        layout: circle (first two dimensions) or sphere (seeded directions in all dimensions).
        radius: distance of the component means from the origin.
        scale: standard deviation of every component (initial value when learnable).
        learnable: train means, scales and mixture weights with the model.
        seed: seed of the sphere layout's directions.
    """

    def __init__(
        self,
        latent_dim: int,
        components: int = 10,
        layout: Literal["circle", "sphere"] = "circle",
        radius: float = 2.0,
        scale: float = 0.5,
        learnable: bool = False,
        seed: int = 0,
    ):
        super().__init__(latent_dim)
        if components < 1:
            raise ValueError(f"components must be >= 1, got {components}")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.components = components
        means = mixture_layout(latent_dim, components, layout, radius, seed)
        self.means = self.add_weight(
            shape=means.shape, initializer=_constant_init(means), trainable=learnable, name="means"
        )
        self.raw_scales = self.add_weight(
            shape=means.shape, initializer=_constant_init(_softplus_inverse(scale)), trainable=learnable,
            name="raw_scales",
        )
        self.logits = self.add_weight(shape=(components,), initializer="zeros", trainable=learnable, name="logits")

    def _components(self, index: tf.Tensor | None = None) -> tfd.Distribution:
        means, scales = self.means, tf.nn.softplus(self.raw_scales) + 1e-6
        if index is not None:
            means, scales = tf.gather(means, index), tf.gather(scales, index)
        return tfd.Independent(tfd.Normal(means, scales), reinterpreted_batch_ndims=1)

    def distribution(self):
        return tfd.MixtureSameFamily(tfd.Categorical(logits=self.logits), self._components())

    @property
    def num_classes(self) -> int:
        return self.components

    def class_distribution(self, labels: tf.Tensor) -> tfd.Distribution:
        """The component each integer label owns (``label mod k``), batch shape ``[n]``."""
        return self._components(tf.math.floormod(tf.cast(labels, tf.int32), self.components))

    def sample_for_labels(self, labels, seed):
        return self.class_distribution(labels).sample(seed=seed)


class UniformBox(Prior):
    """Uniform on a box: every latent dimension uniform between low and high.

    Meant for the adversarial and MMD divergences: the KL from a Gaussian posterior (whose
    support is unbounded) to a box is infinite.

    Args:
        low: lower bound of every dimension.
        high: upper bound of every dimension.
    """

    def __init__(self, latent_dim: int, low: float = -1.0, high: float = 1.0):
        super().__init__(latent_dim)
        if not low < high:
            raise ValueError(f"low must be below high, got low={low}, high={high}")
        self.low, self.high = low, high

    def distribution(self):
        low = tf.fill([self.latent_dim], tf.constant(self.low, tf.float32))
        return tfd.Independent(tfd.Uniform(low, tf.constant(self.high, tf.float32)), reinterpreted_batch_ndims=1)


class SampleOnlyDistribution(tfd.Distribution):
    """A distribution that can only be sampled: ``sampler(n, seed)`` gives ``[n, event_size]``.

    ``log_prob`` raises ``NotImplementedError`` (TFP's own message), which is why genkit refuses
    sample-only priors with divergences that need a density.
    """

    def __init__(self, sampler: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], event_size: int, name: str = "SampleOnly"):
        self._sampler = sampler
        self._event_size = int(event_size)
        super().__init__(
            dtype=tf.float32,
            reparameterization_type=tfd.NOT_REPARAMETERIZED,
            validate_args=False,
            allow_nan_stats=True,
            parameters={"event_size": event_size},
            name=name,
        )

    def _event_shape(self):
        return tf.TensorShape([self._event_size])

    def _event_shape_tensor(self):
        return tf.constant([self._event_size], tf.int32)

    def _batch_shape(self):
        return tf.TensorShape([])

    def _batch_shape_tensor(self):
        return tf.constant([], tf.int32)

    def _sample_n(self, n, seed=None):
        return self._sampler(n, tfp.random.sanitize_seed(seed))


class SwissRoll(Prior):
    """A 2-D swiss roll (a spiral band), sample-only: for the adversarial and MMD divergences.

    A point at position t in [0, 1) along the roll has angle ``a = 1.5 pi (1 + 2 t)`` and sits at
    ``radius * a (cos a, sin a) / (4.5 pi)`` plus Gaussian noise. Label layout: the roll is cut
    into ``arms`` equal segments of t, class ``c`` owning segment ``c mod arms``.

    Args:
        arms: number of class segments along the roll.
        radius: distance of the roll's outer end from the origin.
        noise: standard deviation of the Gaussian noise around the spiral.
    """

    sample_only = True

    def __init__(self, latent_dim: int, arms: int = 10, radius: float = 3.0, noise: float = 0.05):
        super().__init__(latent_dim)
        if latent_dim != 2:
            raise ValueError(f"the swiss roll prior is two-dimensional; set latent_dim: 2 (got {latent_dim})")
        if arms < 1:
            raise ValueError(f"arms must be >= 1, got {arms}")
        self.arms, self.radius, self.noise = arms, radius, noise

    def _points(self, t: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        angle = 1.5 * math.pi * (1.0 + 2.0 * t)
        centre = self.radius * angle[:, None] * tf.stack([tf.cos(angle), tf.sin(angle)], axis=1) / (4.5 * math.pi)
        return centre + self.noise * tf.random.stateless_normal(tf.shape(centre), seed=seed)

    def _sample(self, n: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        t_seed, noise_seed = tfp.random.split_seed(seed)
        return self._points(tf.random.stateless_uniform([n], seed=t_seed), noise_seed)

    def distribution(self):
        return SampleOnlyDistribution(self._sample, self.latent_dim, name="SwissRoll")

    @property
    def num_classes(self) -> int:
        return self.arms

    def sample_for_labels(self, labels, seed):
        t_seed, noise_seed = tfp.random.split_seed(tfp.random.sanitize_seed(seed))
        arm = tf.cast(tf.math.floormod(tf.cast(labels, tf.int32), self.arms), tf.float32)
        offset = tf.random.stateless_uniform(tf.shape(arm), seed=t_seed)
        return self._points((arm + offset) / self.arms, noise_seed)


class VampPrior(Prior):
    """VampPrior (Tomczak & Welling 2018): p(z) = mean over K of q(z | u_k), u_k learned pseudo-inputs.

    The pseudo-inputs go through the model's own encoder and posterior head, so the prior moves
    with the encoder. The model hands the prior ``model.posterior_distribution`` and the data
    shape through :meth:`Prior.attach` right after assembly; the pseudo-inputs (``[K, *data_shape]``,
    uniform in ``init_range`` at the start) are created then. Needs a stochastic posterior. KL has
    no closed form (use ``kl`` with ``fallback: monte_carlo``, or ``mc_kl``).

    Args:
        pseudo_inputs: number K of pseudo-inputs (mixture components).
        init_range: the pseudo-inputs start uniform in [low, high] (match the data's range).
    """

    def __init__(self, latent_dim: int, pseudo_inputs: int = 500, init_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__(latent_dim)
        if pseudo_inputs < 1:
            raise ValueError(f"pseudo_inputs must be >= 1, got {pseudo_inputs}")
        self.count, self.init_range = pseudo_inputs, tuple(init_range)
        self._posterior_of: Callable[[tf.Tensor], tfd.Distribution] | None = None

    def attach(self, model: ModelSurface) -> None:
        if model.posterior.deterministic:
            raise GenkitError(
                "the vamp prior needs a stochastic posterior (e.g. diagonal_gaussian), not a deterministic one"
            )
        self._posterior_of = model.posterior_distribution
        low, high = self.init_range
        self.pseudo_inputs = self.add_weight(
            shape=(self.count, *model.data_shape),
            initializer=keras.initializers.RandomUniform(low, high),
            name="pseudo_inputs",
        )

    def distribution(self):
        if self._posterior_of is None:
            raise GenkitError("the vamp prior is used before a model attached it (build it with genkit.build)")
        components = self._posterior_of(self.pseudo_inputs)
        return tfd.MixtureSameFamily(tfd.Categorical(logits=tf.zeros(self.count)), components)


class FlowPrior(Prior):
    """A normalizing flow over a standard normal: MAF or RealNVP through ``tfp.bijectors``.

    ``layers`` affine flow layers, with the dimension order reversed between layers. ``maf``
    (masked autoregressive flow) evaluates log_prob in one pass and samples in latent_dim passes;
    ``real_nvp`` (affine coupling, needs latent_dim >= 2) does both in one pass. Each layer starts
    as the identity (the prior starts as N(0, I)); all variables are created at construction.
    KL has no closed form (use ``kl`` with ``fallback: monte_carlo``, or ``mc_kl``).

    Args:
        flow: maf or real_nvp.
        layers: number of flow layers.
        hidden: hidden widths of each layer's conditioner MLP.
    """

    def __init__(
        self,
        latent_dim: int,
        flow: Literal["maf", "real_nvp"] = "maf",
        layers: int = 4,
        hidden: list[int] = [64, 64],  # noqa: B006 - read-only default, shown in the spec reference
    ):
        super().__init__(latent_dim)
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        if flow == "real_nvp" and latent_dim < 2:
            raise ValueError("real_nvp splits the latent vector in two and needs latent_dim >= 2; use flow: maf")
        self.flow = flow
        masked = latent_dim // 2
        self.conditioners = [
            MaskedMLP(latent_dim, latent_dim, hidden)
            if flow == "maf"
            else MaskedMLP(masked, latent_dim - masked, hidden, autoregressive=False)
            for _ in range(layers)
        ]

    def _layer(self, conditioner: MaskedMLP) -> tfb.Bijector:
        if self.flow == "maf":
            return tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=shift_and_log_scale(conditioner))
        return tfb.RealNVP(num_masked=self.latent_dim // 2, shift_and_log_scale_fn=shift_and_log_scale(conditioner))

    def distribution(self):
        flow = reversing_chain([self._layer(conditioner) for conditioner in self.conditioners], self.latent_dim)
        base = tfd.Independent(tfd.Normal(tf.zeros(self.latent_dim), 1.0), reinterpreted_batch_ndims=1)
        return tfd.TransformedDistribution(base, flow)


def distribution_names() -> list[str]:
    """Names of every ``tfd`` distribution class."""
    return sorted(
        name for name, obj in vars(tfd).items()
        if isinstance(obj, type) and issubclass(obj, tfd.Distribution) and obj is not tfd.Distribution
    )


def check_distribution_name(name: str) -> str:
    """``name`` if ``tfd`` has that distribution class, else a ValueError naming the closest ones."""
    names = distribution_names()
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    close += [n for n in names if n.lower() == name.lower() and n not in close]
    hint = f"close matches: {', '.join(close)}" if close else "see tfp.distributions for the class names"
    raise ValueError(f"tfp.distributions has no distribution '{name}' ({hint})")


class DistributionName(str):
    """A ``tfd`` class name; the spec validator checks it, so a typo fails ``genkit validate``."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: pydantic.GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_after_validator_function(check_distribution_name, core_schema.str_schema())


class TfdPrior(Prior):
    """Any ``tfp.distributions`` class as the prior, its parameters from the spec.

    Scalar parameters are broadcast to ``[latent_dim]`` and a scalar-event distribution is made
    ``Independent`` over the latent dimensions; a distribution whose event is already
    ``[latent_dim]`` (e.g. ``MultivariateNormalDiag``) is used as it is. Example:
    ``{type: tfd, distribution: StudentT, parameters: {df: 3, loc: 0, scale: 1}}``.

    Args:
        distribution: the class name in ``tfp.distributions`` (case-sensitive).
        parameters: keyword arguments of that class; numbers and lists become float32 tensors.
    """

    def __init__(
        self,
        latent_dim: int,
        distribution: DistributionName,
        parameters: dict[str, float | list[float] | list[list[float]] | bool | str] = {},  # noqa: B006 - read-only
    ):
        super().__init__(latent_dim)
        self.cls = getattr(tfd, check_distribution_name(distribution))
        self.parameters_ = {
            key: value if isinstance(value, (bool, str)) else np.asarray(value, np.float32)
            for key, value in parameters.items()
        }
        event = self.distribution().event_shape  # fail now, at assembly, on a bad parameter set
        if event != [latent_dim]:
            raise ValueError(f"tfd.{distribution} with these parameters has event shape {event}, not [{latent_dim}]")

    def distribution(self):
        kwargs = {
            key: np.broadcast_to(value, (self.latent_dim,)) if isinstance(value, np.ndarray) and value.ndim == 0
            else value
            for key, value in self.parameters_.items()
        }
        try:
            dist = self.cls(**kwargs)
        except (TypeError, ValueError, tf.errors.InvalidArgumentError) as err:
            raise ValueError(f"tfd.{self.cls.__name__} rejected the parameters {sorted(kwargs)}: {err}") from None
        if dist.event_shape.rank == 0:
            dist = tfd.Independent(dist, reinterpreted_batch_ndims=1)
        return dist
