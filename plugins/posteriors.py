"""Encoder heads: turn the encoder's parameter vector into q(z|x)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from genkit import Posterior


def check_min_scale(min_scale: float) -> None:
    if min_scale <= 0:
        raise ValueError(f"min_scale must be positive, got {min_scale}")


def diagonal_normal(params: tf.Tensor, min_scale: float, event_ndims: int = 1) -> tfd.Distribution:
    """N(loc, diag(scale^2)) from ``[loc, raw_scale]`` split along the last axis of params (the
    first 2 * latent_dim numbers of a flat head), over ``event_ndims`` event axes."""
    loc, raw_scale = tf.split(params, 2, axis=-1)
    return tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw_scale) + min_scale),
                           reinterpreted_batch_ndims=event_ndims)


def base_and_context(params: tf.Tensor, latent_dim: int, min_scale: float,
                     context_size: int) -> tuple[tfd.Distribution, tf.Tensor | None]:
    """An amortized flow's base Gaussian (the first ``2 * latent_dim`` numbers of ``params``) and the
    context vector its steps read (the ``context_size`` numbers after them; None when 0)."""
    base = diagonal_normal(params[..., : 2 * latent_dim], min_scale)
    return base, params[..., 2 * latent_dim :] if context_size else None


class DiagonalGaussian(Posterior):
    """Diagonal Gaussian q(z|x) = N(mu, diag(sigma^2)), sigma = softplus(raw) + min_scale.

    Works for flat codes and for grids of codes (``latent_shape: [H, W, D]``: the encoder gives
    ``2 D`` channels per position, means then raw scales).

    Args:
        min_scale: floor on each standard deviation, for numerical safety.
    """

    def __init__(self, latent_dim: int, latent_shape: tuple[int, ...] | None = None, min_scale: float = 1e-5):
        super().__init__(latent_dim, latent_shape)
        check_min_scale(min_scale)
        self.min_scale = min_scale

    @property
    def param_shape(self) -> tuple[int, ...]:
        return (*self.latent_shape[:-1], 2 * self.latent_shape[-1])

    def distribution(self, params):
        return diagonal_normal(params, self.min_scale, len(self.latent_shape))


class Deterministic(Posterior):
    """Point-mass q(z|x) = delta(z - f(x)): the plain and adversarial autoencoders' encoder.

    Works for flat codes and for grids of codes (``latent_shape: [H, W, D]``).
    """

    deterministic = True

    def __init__(self, latent_dim: int, latent_shape: tuple[int, ...] | None = None):
        super().__init__(latent_dim, latent_shape)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self.latent_shape

    def distribution(self, params):
        return tfd.Independent(tfd.Deterministic(params), reinterpreted_batch_ndims=len(self.latent_shape))


class FullCovarianceGaussian(Posterior):
    """Full-covariance Gaussian q(z|x) = N(mu, L L^T), correlations between latent dimensions.

    The encoder produces ``latent_dim`` means and the ``latent_dim * (latent_dim + 1) / 2`` entries
    of the lower-triangular Cholesky factor L (``tfp.math.fill_triangular`` order); L's diagonal
    is ``softplus(raw) + min_scale`` so the covariance is positive definite. The KL to a diagonal
    Gaussian prior (``standard_normal`` and the like) is analytic: this module registers it with
    ``tfd.RegisterKL``.

    Args:
        min_scale: floor on each diagonal entry of L, for numerical safety.
    """

    def __init__(self, latent_dim: int, min_scale: float = 1e-5):
        super().__init__(latent_dim)
        check_min_scale(min_scale)
        self.min_scale = min_scale
        self.to_scale_tril = tfb.FillScaleTriL(diag_bijector=tfb.Softplus(), diag_shift=min_scale)

    @property
    def param_size(self) -> int:
        return self.latent_dim + self.latent_dim * (self.latent_dim + 1) // 2

    def distribution(self, params):
        loc, raw_tril = params[..., : self.latent_dim], params[..., self.latent_dim :]
        return tfd.MultivariateNormalTriL(loc=loc, scale_tril=self.to_scale_tril.forward(raw_tril))


@tfd.RegisterKL(tfd.MultivariateNormalLinearOperator, tfd.Independent)
def _kl_mvn_independent_normal(q: tfd.Distribution, prior: tfd.Distribution, name: str | None = None) -> tf.Tensor:
    """KL(q || prior) for a multivariate normal q and a prior of independent normals over a vector.

    Any other ``Independent`` prior has no closed form here: NotImplementedError, as TFP raises
    for an unregistered pair, so callers can fall back to Monte Carlo.
    """
    inner = prior.distribution
    # a static check: inside tf.function the attribute is a tensor, but its value is known
    if not isinstance(inner, tfd.Normal) or tf.get_static_value(prior.reinterpreted_batch_ndims) != 1:
        raise NotImplementedError(f"no analytic KL between {type(q).__name__} and Independent({type(inner).__name__})")
    loc, scale = tf.broadcast_to(inner.loc, inner.batch_shape_tensor()), inner.scale
    diagonal = tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.broadcast_to(scale, tf.shape(loc)))
    return tfd.kl_divergence(q, diagonal, name=name)


class _Coupling:
    """The shift-and-log-scale function of one RealNVP coupling layer, given the context.

    Built per call of ``FlowPosterior.distribution`` around that batch's context vectors; the
    network itself (Keras layers owned by the posterior) is shared by every call.
    """

    def __init__(self, layers: list[keras.layers.Layer], context: tf.Tensor | None):
        self.layers = layers
        self.context = context

    def __call__(self, x0: tf.Tensor, output_units: int) -> tuple[tf.Tensor, tf.Tensor]:
        h = x0
        if self.context is not None:
            # sampling several z per example gives x0 extra leading axes: broadcast the context.
            shape = tf.concat([tf.shape(x0)[:-1], tf.shape(self.context)[-1:]], axis=0)
            h = tf.concat([x0, tf.broadcast_to(self.context, shape)], axis=-1)
        for layer in self.layers:
            h = layer(h)
        shift, log_scale = tf.split(h, 2, axis=-1)
        return shift, tf.tanh(log_scale)  # bounded log-scale keeps the flow well conditioned


class FlowPosterior(Posterior):
    """A diagonal Gaussian refined by a RealNVP normalizing flow: z = f(eps), eps ~ N(mu, sigma^2).

    The encoder produces ``2 * latent_dim`` base parameters (as ``diagonal_gaussian``) plus
    ``context_size`` numbers that condition every coupling layer, so the flow is amortized:
    its shape depends on x. Each of the ``layers`` affine coupling layers (``tfb.RealNVP``)
    transforms half of z given the other half and the context, and the halves swap between
    layers. Log-scales are ``tanh``-bounded. ``point()`` is the flow applied to the base mean.
    There is no closed-form KL to any prior: train with a Monte Carlo divergence.

    Args:
        layers: number of coupling layers.
        hidden: widths of each coupling network's hidden layers.
        context_size: length of the x-dependent context vector (0: one flow shared by all x).
        min_scale: floor on the base distribution's standard deviations.
    """

    def __init__(
        self,
        latent_dim: int,
        layers: int = 4,
        hidden: list[int] = [64, 64],  # noqa: B006 - read-only default, shown in the spec reference
        context_size: int = 8,
        min_scale: float = 1e-5,
    ):
        super().__init__(latent_dim)
        if latent_dim < 2:
            raise ValueError("a coupling flow needs latent_dim >= 2 (it transforms one half given the other)")
        if layers <= 0 or context_size < 0 or any(w <= 0 for w in hidden):
            raise ValueError(
                f"layers and hidden widths must be positive and context_size >= 0, got layers={layers}, "
                f"hidden={hidden}, context_size={context_size}"
            )
        check_min_scale(min_scale)
        self.min_scale = min_scale
        self.context_size = context_size
        self.num_masked = latent_dim // 2
        self.coupling_networks = [self._coupling_network(hidden) for _ in range(layers)]

    def _coupling_network(self, hidden: list[int]) -> list[keras.layers.Layer]:
        """Dense layers from (masked half, context) to shift and log-scale of the other half, built now."""
        width_in = self.num_masked + self.context_size
        layers = [keras.layers.Dense(w, activation="relu") for w in hidden]
        # small (not zero) output weights: the flow starts near the identity and every weight
        # still gets a gradient from the first step.
        layers.append(
            keras.layers.Dense(2 * (self.latent_dim - self.num_masked),
                               kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
        )
        for layer in layers:
            layer.build((None, width_in))
            width_in = layer.units
        return layers

    @property
    def param_size(self) -> int:
        return 2 * self.latent_dim + self.context_size

    def distribution(self, params):
        base, context = base_and_context(params, self.latent_dim, self.min_scale, self.context_size)
        swap = tfb.Permute(np.roll(np.arange(self.latent_dim), self.latent_dim - self.num_masked))
        steps: list[tfb.Bijector] = []
        for network in self.coupling_networks:
            steps += [tfb.RealNVP(num_masked=self.num_masked, shift_and_log_scale_fn=_Coupling(network, context)),
                      swap]
        # tfb.Chain applies its list last-first; the final swap is dropped so the last step is a coupling.
        return tfd.TransformedDistribution(base, tfb.Chain(list(reversed(steps[:-1]))))

    def point(self, q):
        return q.bijector.forward(q.distribution.mean())
