"""The Laplace prior p(z) = prod_i Laplace(z_i; 0, b) and the closed-form KL(Normal || Laplace).

A Laplace prior has heavier (exponential) tails than a Gaussian and a sharp peak at zero, so it
favours sparse codes. TFP has no KL(Normal || Laplace); without one, genkit's analytic ``kl``
divergence cannot use this prior. The KL has a closed form, registered here with
``tfd.RegisterKL`` when the module is imported (which the entry point does):

    KL(N(mu, s^2) || Laplace(m, b)) = log(2 b) + E|z - m| / b - 1/2 log(2 pi e s^2),

where, with d = mu - m, E|z - m| = s sqrt(2/pi) exp(-d^2 / (2 s^2)) + d erf(d / (s sqrt 2)) is the
mean of a folded normal. ``tfd.Independent`` sums it over the latent coordinates.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

from genkit import Prior

tfd = tfp.distributions


def kl_normal_laplace(q: tfd.Normal, p: tfd.Laplace, name: str | None = None) -> tf.Tensor:
    """KL(q || p) for a Normal q and a Laplace p, elementwise (broadcast over their batch shapes)."""
    with tf.name_scope(name or "kl_normal_laplace"):
        sigma, b = q.scale, p.scale
        d = q.loc - p.loc
        folded = sigma * math.sqrt(2.0 / math.pi) * tf.exp(-tf.square(d) / (2.0 * tf.square(sigma)))
        mean_abs = folded + d * tf.math.erf(d / (sigma * math.sqrt(2.0)))
        entropy = 0.5 * tf.math.log(2.0 * math.pi * math.e * tf.square(sigma))
        return tf.math.log(2.0 * b) + mean_abs / b - entropy


try:
    tfd.RegisterKL(tfd.Normal, tfd.Laplace)(kl_normal_laplace)
except ValueError:  # already registered: this module imported a second time under another name
    pass


class Laplace(Prior):
    """Isotropic Laplace prior: sparse-favouring, with heavier tails than N(0, I); closed-form KL.

    Args:
        scale: the Laplace scale b of every coordinate (variance 2 b^2).
        learn_scale: learn b with the model (starting at ``scale``) instead of keeping it fixed.
    """

    def __init__(self, latent_dim: int, scale: float = 1.0, learn_scale: bool = False):
        super().__init__(latent_dim)
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.learn_scale = learn_scale
        # softplus(raw) = scale
        raw = math.log(math.expm1(scale))
        self.raw_scale = self.add_weight(shape=(), initializer=tf.constant_initializer(raw),
                                         trainable=learn_scale, name="raw_scale")

    @property
    def scale(self) -> tf.Tensor:
        """The current Laplace scale b."""
        return tf.nn.softplus(tf.convert_to_tensor(self.raw_scale))

    def distribution(self) -> tfd.Distribution:
        laplace = tfd.Laplace(tf.zeros(self.latent_dim), self.scale)
        return tfd.Independent(laplace, reinterpreted_batch_ndims=1)
