"""The modified Bessel function of the first kind for one fixed order, as the von Mises-Fisher KL
needs it: ``log I_v(k)`` and the ratio ``I_{v+1}(k) / I_v(k)`` for a batch of concentrations k.

TFP's general ``log_bessel_ive`` and ``bessel_iv_ratio`` take any order and converge by while
loops per element; in a training step on 2 CPU cores the vMF KL built on them cost about 2.5 ms
of a 12 ms step (128 examples, 20 dimensions), most of it loop overhead. Here the order is a
constant known when the model is built, so both come from two fixed computations, in float64:

- ``k <= switch``: the power series ``I_v(k) = sum_m (k/2)^(2m+v) / (m! Gamma(m+v+1))``, all its
  terms at once in log space (the log-gamma constants computed once), summed with logsumexp;
  enough terms are kept to cover the series' peak near ``m = k/2`` by more than 12 of its widths.
- ``k > switch``: Hankel's large-argument expansion ``I_v(k) ~ e^k / sqrt(2 pi k) * S_v(k)`` with
  ``S_v(k) = sum_j (-1)^j a_j(v) / k^j``, ``a_j = prod_{i<=j} (4v^2 - (2i-1)^2) / (j! 8^j)``, whose
  terms fall fast once ``k`` is above ``2 v^2``.

Both agree with TFP's float64 functions to about 1e-10 relative over orders 0-40 and
concentrations 1e-3 to 1e5 (tests/test_family_hyperspherical.py).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

#: Terms of Hankel's expansion. Above the switch point ``k >= 2 v^2`` each term is at most
#: ``1 / (4 j)`` times the one before, so the twelfth is below float64's precision.
HANKEL_TERMS = 12


def _switch(order: float) -> float:
    """The concentration above which Hankel's expansion is used for ``order``."""
    return max(200.0, 2.0 * order * order)


class BesselFirstKind:
    """``log I_v(k)`` for the order ``v`` given at construction (float64 in, float64 out)."""

    def __init__(self, order: float):
        if order < 0:
            raise ValueError(f"the order must be >= 0, got {order}")
        self.order = order
        self.switch = _switch(order)
        terms = int(math.ceil(self.switch / 2 + 12 * math.sqrt(self.switch) + 50))
        m = np.arange(terms, dtype=np.float64)
        self._powers = 2 * m + order
        self._log_denominators = np.array([math.lgamma(i + 1) + math.lgamma(i + order + 1) for i in m])
        mu = 4.0 * order * order
        coefficients, a = [1.0], 1.0
        for j in range(1, HANKEL_TERMS):
            a *= -(mu - (2 * j - 1) ** 2) / (j * 8.0)
            coefficients.append(a)
        self._hankel = np.array(coefficients)  # numpy, not tensors: the object outlives any one graph

    def _series(self, k: tf.Tensor) -> tf.Tensor:
        log_terms = self._powers * tf.math.log(k / 2)[..., None] - self._log_denominators
        return tf.reduce_logsumexp(log_terms, axis=-1)

    def log_scaled_asymptotic(self, k: tf.Tensor) -> tf.Tensor:
        """``log S_v(k)``: ``log I_v(k) - k + log(2 pi k) / 2`` by Hankel's expansion (large k)."""
        inverse_powers = tf.pow(1.0 / k[..., None], tf.range(HANKEL_TERMS, dtype=tf.float64))
        return tf.math.log(tf.reduce_sum(self._hankel * inverse_powers, axis=-1))

    def log(self, k: tf.Tensor) -> tf.Tensor:
        """``log I_v(k)`` for ``k > 0``."""
        small = k <= self.switch
        series = self._series(tf.where(small, k, tf.ones_like(k)))
        large = tf.where(small, tf.fill(tf.shape(k), tf.constant(self.switch, tf.float64)), k)
        asymptotic = large - 0.5 * tf.math.log(2 * math.pi * large) + self.log_scaled_asymptotic(large)
        return tf.where(small, series, asymptotic)


def log_bessel_and_ratio(first: BesselFirstKind, next_order: BesselFirstKind,
                         k: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``log I_v(k)`` and ``I_{v+1}(k) / I_v(k)`` from the two orders' functions (``next_order``
    is order v + 1). Above both switch points the ratio is the quotient of the two expansions,
    so the exponentials cancel exactly instead of in a difference of two large logs."""
    log_i = first.log(k)
    switch = max(first.switch, next_order.switch)
    above = k > switch
    safe = tf.where(above, k, tf.fill(tf.shape(k), tf.constant(switch + 1.0, tf.float64)))
    quotient = tf.exp(next_order.log_scaled_asymptotic(safe) - first.log_scaled_asymptotic(safe))
    ratio = tf.where(above, quotient, tf.exp(next_order.log(k) - log_i))
    return log_i, ratio
