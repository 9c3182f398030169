"""beta-TC-VAE's decomposed KL (Chen, Li, Grosse and Duvenaud 2018), minibatch-weighted sampling."""

from __future__ import annotations

import tensorflow as tf

import genkit


class BetaTC(genkit.Divergence):
    """KL(q(z|x) || p(z)) split into index-code MI, total correlation and dimension-wise KL, weighted
    ``alpha * mi + beta * tc + gamma * dimension_wise_kl`` per example.

    The aggregate posterior q(z) and its marginals are estimated on the batch by minibatch-weighted
    sampling, which needs the number of training examples N (asked from genkit's context). Reports
    ``mi``, ``tc`` and ``dimension_wise_kl`` as metrics. Needs a factorised posterior (a diagonal
    Gaussian) and a prior with a density.

    Args:
        alpha: weight of the index-code mutual information.
        beta: weight of the total correlation (beta-TC-VAE uses 6).
        gamma: weight of the dimension-wise KL.
    """

    def __init__(self, latent_dim: int, num_train_examples: int, alpha: float = 1.0, beta: float = 6.0,
                 gamma: float = 1.0):
        super().__init__(latent_dim)
        if num_train_examples < 1:
            raise ValueError("beta_tc needs the number of training examples (train it from a spec)")
        if min(alpha, beta, gamma) < 0:
            raise ValueError(f"alpha, beta and gamma must be >= 0, got {alpha}, {beta}, {gamma}")
        self.size, self.alpha, self.beta, self.gamma = num_train_examples, alpha, beta, gamma

    def per_example(self, q, prior, z, seed):
        if z.shape.rank != 2 or not hasattr(q, "distribution"):
            raise ValueError("beta_tc needs one flat code per example from a factorised (Independent) posterior")
        batch = tf.cast(tf.shape(z)[0], z.dtype)
        # log q(z_i,d | x_j,d) for every pair (i, j) and dimension d: [batch, batch, latent]
        pairwise = q.distribution.log_prob(z[:, None, :])
        log_norm = tf.math.log(batch * self.size)
        log_qz = tf.reduce_logsumexp(tf.reduce_sum(pairwise, axis=-1), axis=1) - log_norm
        log_marginals = tf.reduce_sum(tf.reduce_logsumexp(pairwise, axis=1) - log_norm, axis=-1)
        mi = q.log_prob(z) - log_qz
        tc = log_qz - log_marginals
        dimension_wise = log_marginals - prior.log_prob(z)
        for name, value in (("mi", mi), ("tc", tc), ("dimension_wise_kl", dimension_wise)):
            self.log_metric(name, value)
        return self.alpha * mi + self.beta * tc + self.gamma * dimension_wise

