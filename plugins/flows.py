"""Normalizing-flow posteriors: inverse autoregressive flow (Kingma et al. 2016), planar and radial
flows (Rezende and Mohamed 2015).

Each refines a diagonal Gaussian ``eps ~ N(mu(x), sigma(x)^2)`` by a stack of invertible steps,
``z = f_T(... f_1(eps))``, so ``log q(z|x) = log N(eps) - sum_t log |det df_t/d(input)|``. The
steps depend on x (amortized) by default: the encoder produces their parameters (planar, radial) or
a context vector their network reads (IAF). Planar and radial steps can instead be shared by all x
(``amortized: false``: the steps' parameters are the posterior's own weights, as Pythae's
VAE_LinNF has them). None has a closed-form KL to a prior: train with ``mc_kl``.
``point()`` is the flow applied to the base mean.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from genkit_plugins.made import MaskedMLP, reversing_chain, shift_and_log_scale
from genkit_plugins.posteriors import base_and_context, check_min_scale, diagonal_normal
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from genkit import Posterior


def _check_layers(layers: int) -> None:
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")


class InverseAutoregressiveFlow(Posterior):
    """IAF posterior (Kingma et al. 2016): a diagonal Gaussian refined by ``layers`` inverse
    autoregressive steps, ``z_i = (y_i - shift_i(y_<i, h)) * exp(-log_scale_i(y_<i, h))``.

    Each step's shifts and log-scales come from one pass of a MADE over the step's input ``y`` and
    the context ``h`` (``context_size`` numbers the encoder produces after the ``2 * latent_dim``
    base parameters): ``tfb.MaskedAutoregressiveFlow`` used in its inverse direction. Sampling and
    the log-density of a sample therefore cost one pass per step; the log-density of an arbitrary
    point inverts each step dimension by dimension. The order of the dimensions reverses between
    steps; log-scales are tanh-bounded and every step starts as the identity.

    Args:
        layers: number of IAF steps.
        hidden: widths of each step's MADE hidden layers.
        context_size: length of the context vector h(x) every step reads (0: steps shared by all x).
        min_scale: floor on the base distribution's standard deviations.
    """

    def __init__(self, latent_dim: int, layers: int = 2,
                 hidden: list[int] = [64],  # noqa: B006 - read-only default, shown in the spec reference
                 context_size: int = 8, min_scale: float = 1e-5):
        super().__init__(latent_dim)
        _check_layers(layers)
        if context_size < 0 or any(width <= 0 for width in hidden):
            raise ValueError(f"hidden widths must be positive and context_size >= 0, got {hidden}, {context_size}")
        check_min_scale(min_scale)
        self.min_scale, self.context_size = min_scale, context_size
        self.networks = [MaskedMLP(latent_dim, latent_dim, hidden, context_size=context_size) for _ in range(layers)]

    @property
    def param_size(self) -> int:
        return 2 * self.latent_dim + self.context_size

    def distribution(self, params):
        base, context = base_and_context(params, self.latent_dim, self.min_scale, self.context_size)
        steps = [tfb.Invert(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=shift_and_log_scale(net, context)))
                 for net in self.networks]
        return tfd.TransformedDistribution(base, reversing_chain(steps, self.latent_dim))

    def point(self, q):
        return q.bijector.forward(q.distribution.mean())


def _dot(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(a * b, axis=-1)


class PlanarStep(tfb.Bijector):
    """``f(z) = z + u tanh(w.z + b)`` with ``u`` adjusted so that ``w.u >= -1`` (invertible).

    ``log |det df/dz| = log(1 + w.u (1 - tanh^2(w.z + b)))``. There is no closed-form inverse: with
    ``a = w.z``, ``w.y = a + w.u tanh(a + b)`` is increasing in ``a`` and ``a`` lies within
    ``|w.u|`` of ``w.y``, so the inverse solves for ``a`` by bracketed root finding
    (``tfp.math.find_root_chandrupatla``) and returns ``y - u tanh(a + b)``.
    """

    def __init__(self, u: tf.Tensor, w: tf.Tensor, b: tf.Tensor):
        super().__init__(forward_min_event_ndims=1, name="planar")
        wu = _dot(w, u)
        # u + (m(w.u) - w.u) w / |w|^2 with m(s) = softplus(s) - 1 (Rezende and Mohamed 2015, appendix A)
        self.u = u + ((tf.nn.softplus(wu) - 1.0 - wu) / (_dot(w, w) + 1e-8))[..., None] * w
        self.w, self.b = w, b
        self.wu = _dot(self.w, self.u)


    def _forward(self, z):
        return z + self.u * tf.tanh(_dot(self.w, z) + self.b)[..., None]

    def _inverse(self, y):
        wy = _dot(self.w, y)
        spread = tf.abs(self.wu) + 1e-6
        root = tfp.math.find_root_chandrupatla(lambda a: a + self.wu * tf.tanh(a + self.b) - wy,
                                               low=wy - spread, high=wy + spread, position_tolerance=1e-7,
                                               max_iterations=60)
        return y - self.u * tf.tanh(root.estimated_root + self.b)[..., None]

    def _forward_log_det_jacobian(self, z):
        slope = 1.0 - tf.tanh(_dot(self.w, z) + self.b) ** 2
        return tf.math.log1p(self.wu * slope)

    def _inverse_log_det_jacobian(self, y):
        return -self._forward_log_det_jacobian(self._inverse(y))


class RadialStep(tfb.Bijector):
    """``f(z) = z + beta (z - z0) / (alpha + r)``, ``r = |z - z0|``, ``alpha > 0`` and
    ``beta >= -alpha`` (invertible).

    ``log |det df/dz| = (D - 1) log(1 + beta h) + log(1 + beta h - beta r h^2)`` with
    ``h = 1 / (alpha + r)``. The inverse is closed-form: ``|y - z0| = r (1 + beta / (alpha + r))``
    is a quadratic in ``r``, and ``z - z0 = (y - z0) / (1 + beta / (alpha + r))``.
    """

    def __init__(self, z0: tf.Tensor, alpha: tf.Tensor, beta: tf.Tensor):
        super().__init__(forward_min_event_ndims=1, name="radial")
        self.z0, self.alpha, self.beta = z0, alpha, beta


    def _forward(self, z):
        r = tf.norm(z - self.z0, axis=-1)
        return z + (self.beta / (self.alpha + r))[..., None] * (z - self.z0)

    def _inverse(self, y):
        r_y = tf.norm(y - self.z0, axis=-1)
        c = self.alpha + self.beta - r_y
        r = 0.5 * (-c + tf.sqrt(c**2 + 4.0 * self.alpha * r_y))
        return self.z0 + (y - self.z0) / (1.0 + self.beta / (self.alpha + r))[..., None]

    def _forward_log_det_jacobian(self, z):
        r = tf.norm(z - self.z0, axis=-1)
        h = 1.0 / (self.alpha + r)
        dim = tf.cast(tf.shape(z)[-1], z.dtype)
        return (dim - 1.0) * tf.math.log1p(self.beta * h) + tf.math.log1p(self.beta * h - self.beta * r * h**2)

    def _inverse_log_det_jacobian(self, y):
        return -self._forward_log_det_jacobian(self._inverse(y))


class _StepFlow(Posterior):
    """A diagonal Gaussian refined by ``layers`` steps of ``step_size`` parameters each. Amortized,
    the encoder produces them for each x after the ``2 * latent_dim`` base parameters; otherwise
    they are this head's weights (initialised from N(0, 0.1^2), near the identity) and the encoder
    produces only the base's. The subclasses' spec arguments are this ``__init__``'s."""

    def __init__(self, latent_dim: int, layers: int = 4, amortized: bool = True, min_scale: float = 1e-5):
        super().__init__(latent_dim)
        _check_layers(layers)
        check_min_scale(min_scale)
        self.layers, self.amortized, self.min_scale = layers, amortized, min_scale
        self.shared_steps = None if amortized else self.add_weight(
            shape=(layers * self.step_size,), initializer=keras.initializers.RandomNormal(stddev=0.1),
            name="steps")

    @property
    def step_size(self) -> int:
        raise NotImplementedError

    def step(self, params: tf.Tensor) -> tfb.Bijector:
        """One step from its ``step_size`` parameters ``[..., step_size]``."""
        raise NotImplementedError

    @property
    def param_size(self) -> int:
        return 2 * self.latent_dim + (self.layers * self.step_size if self.amortized else 0)

    def distribution(self, params):
        base = diagonal_normal(params[..., : 2 * self.latent_dim], self.min_scale)
        step_params = params[..., 2 * self.latent_dim :] if self.shared_steps is None else self.shared_steps
        steps = tf.split(tf.cast(step_params, base.dtype), self.layers, axis=-1)
        # tfb.Chain applies its list last-first: the first step acts on the base sample
        return tfd.TransformedDistribution(base, tfb.Chain([self.step(p) for p in reversed(steps)]))

    def point(self, q):
        return q.bijector.forward(q.distribution.mean())


class PlanarFlow(_StepFlow):
    """Planar-flow posterior (Rezende and Mohamed 2015): ``layers`` steps
    ``z <- z + u tanh(w.z + b)``, each a ridge that pulls or pushes the density across a hyperplane.

    Amortized, the encoder gives ``2 * latent_dim + layers * (2 * latent_dim + 1)`` numbers: the base Gaussian's,
    then ``u``, ``w`` and ``b`` of each step. Sampling and the log-density of a sample are closed-form;
    the log-density of an arbitrary point inverts each step by a one-dimensional root search.

    Args:
        layers: number of planar steps.
        amortized: whether the encoder gives each x its own steps (else all x share them).
        min_scale: floor on the base distribution's standard deviations.
    """

    @property
    def step_size(self) -> int:
        return 2 * self.latent_dim + 1

    def step(self, params):
        u, w, b = tf.split(params, [self.latent_dim, self.latent_dim, 1], axis=-1)
        return PlanarStep(u, w, b[..., 0])


class RadialFlow(_StepFlow):
    """Radial-flow posterior (Rezende and Mohamed 2015): ``layers`` steps
    ``z <- z + beta (z - z0) / (alpha + |z - z0|)``, each contracting or expanding the density around
    a reference point ``z0``.

    Amortized, the encoder gives ``2 * latent_dim + layers * (latent_dim + 2)`` numbers: the base Gaussian's,
    then ``z0``, raw ``alpha`` (``softplus``, > 0) and raw ``beta`` (``-alpha + softplus``, so each
    step is invertible) of each step. Every density evaluation is closed-form.

    Args:
        layers: number of radial steps.
        amortized: whether the encoder gives each x its own steps (else all x share them).
        min_scale: floor on the base distribution's standard deviations.
    """

    @property
    def step_size(self) -> int:
        return self.latent_dim + 2

    def step(self, params):
        z0, raw_alpha, raw_beta = tf.split(params, [self.latent_dim, 1, 1], axis=-1)
        alpha = tf.nn.softplus(raw_alpha[..., 0]) + 1e-4
        return RadialStep(z0, alpha, -alpha + tf.nn.softplus(raw_beta[..., 0]))
