"""The hyperspherical VAE (S-VAE, Davidson et al. 2018): codes on the unit sphere S^{D-1} in R^D,
a von Mises-Fisher posterior and the uniform prior on the sphere.

A Gaussian prior pulls codes towards the origin, which suits data whose factors are directions
(rotations, cycles) badly; on the sphere the uniform prior is uninformative and the KL of a vMF to it
is closed-form. TFP registers that KL (``tfd.kl_divergence(VonMisesFisher, SphericalUniform)``), so the
``kl`` divergence computes it analytically.
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from genkit import Posterior, Prior


def _check_sphere(latent_dim: int) -> None:
    if latent_dim < 2:
        raise ValueError(f"a sphere needs latent_dim >= 2 (the circle is S^1 in R^2), got {latent_dim}")


class VonMisesFisherPosterior(Posterior):
    """q(z|x) = vMF(mu(x), kappa(x)) on the unit sphere in R^latent_dim (``tfd.VonMisesFisher``).

    The encoder gives ``latent_dim + 1`` numbers: a direction (normalised to the mean direction mu)
    and a raw concentration, ``kappa = softplus(raw) + min_concentration``. ``point()`` is mu, the
    mode. Samples come from TFP's exact sampler; gradients reach mu fully and kappa through the
    sample (for ``latent_dim: 3``, TFP's inversion sampler, exactly; otherwise through the accepted
    proposal of Wood's rejection sampler, the reparameterized part of the gradient in Davidson et al.
    without their correction term).

    Args:
        min_concentration: floor on kappa (Davidson et al. add 1, which keeps q from flattening to
            the uniform distribution early in training).
    """

    def __init__(self, latent_dim: int, min_concentration: float = 1.0):
        super().__init__(latent_dim)
        _check_sphere(latent_dim)
        if min_concentration < 0:
            raise ValueError(f"min_concentration must be >= 0, got {min_concentration}")
        self.min_concentration = min_concentration

    @property
    def param_size(self) -> int:
        return self.latent_dim + 1

    def distribution(self, params):
        direction = tf.math.l2_normalize(params[..., : self.latent_dim], axis=-1)
        concentration = tf.nn.softplus(params[..., self.latent_dim]) + self.min_concentration
        return tfd.VonMisesFisher(mean_direction=direction, concentration=concentration)

    def point(self, q):
        return q.mean_direction


class SphericalUniformPrior(Prior):
    """The uniform distribution on the unit sphere in R^latent_dim (``tfd.SphericalUniform``):
    the hyperspherical VAE's prior, log-density ``-log(surface area of S^{D-1})``."""

    def __init__(self, latent_dim: int):
        super().__init__(latent_dim)
        _check_sphere(latent_dim)

    def distribution(self):
        return tfd.SphericalUniform(dimension=self.latent_dim, dtype=tf.float32)
