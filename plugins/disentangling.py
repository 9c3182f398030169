"""Divergences for disentangled codes: beta-TC-VAE, FactorVAE, DIP-VAE, capacity-controlled
beta-VAE and InfoVAE.

Each is the KL (or a decomposition of it) plus a pressure towards codes whose dimensions are
independent, and each reports its parts as metrics, so a run shows what the pressure did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import tensorflow as tf
from genkit_plugins.adversarial import AdversarialGame, mlp_discriminator
from genkit_plugins.divergences import Weighted, mmd_per_example
from tensorflow_probability import distributions as tfd

from genkit import Batch, Divergence, ModelSurface, OptimizerSpec, Phase, split_seed


def _factorised_posterior(q: tfd.Distribution, who: str) -> tfd.Distribution:
    """The per-dimension distribution of an ``Independent`` posterior over flat codes ``[batch, d]``."""
    if len(q.event_shape) != 1 or len(q.batch_shape) != 1 or not isinstance(q, tfd.Independent):
        raise ValueError(f"{who} needs one flat code per example from a factorised (Independent) posterior, "
                         "such as diagonal_gaussian")
    return q.distribution


def stratified_log_weights(batch: tf.Tensor, size: int) -> tf.Tensor:
    """Log weights ``[B, B]`` of minibatch stratified sampling (Chen et al. 2018, appendix C.2):
    how much example j's q(z|x_j) counts in the estimate of q(z_i), for a batch of B drawn from
    ``size`` examples."""
    m = tf.cast(batch, tf.float32) - 1.0
    n = float(size)
    rows = tf.range(batch)
    diagonal = tf.cast(rows[:, None] == rows[None, :], tf.float32)
    following = tf.cast(tf.math.floormod(rows[:, None] + 1, batch) == rows[None, :], tf.float32)
    stratum = (n - m) / (n * m)
    weights = diagonal / n + following * stratum + (1.0 - diagonal - following) / m
    return tf.math.log(weights)


class TotalCorrelation(Divergence):
    """beta-TC-VAE (Chen et al. 2018): the KL split into index-code mutual information, total
    correlation and dimension-wise KL, weighted ``alpha * mi + beta * tc + gamma * dimension_wise_kl``.

    q(z) and its marginals are estimated on the batch: by minibatch-weighted sampling (``mws``), or
    by minibatch-stratified sampling (``mss``, less biased); both need the number of training
    examples, which genkit supplies. Reports ``mi``, ``tc`` and ``dimension_wise_kl``; their sum is
    the one-sample KL estimate ``log q(z|x) - log p(z)``. Needs a diagonal Gaussian posterior.

    Args:
        alpha: weight of the index-code mutual information.
        beta: weight of the total correlation (6 in the paper's MNIST-like experiments).
        gamma: weight of the dimension-wise KL.
        estimator: mws (minibatch weighted) or mss (minibatch stratified).
    """

    def __init__(self, latent_dim: int, num_train_examples: int = 0, alpha: float = 1.0, beta: float = 6.0,
                 gamma: float = 1.0, estimator: Literal["mws", "mss"] = "mss"):
        super().__init__(latent_dim)
        if min(alpha, beta, gamma) < 0:
            raise ValueError(f"alpha, beta and gamma must be >= 0, got {alpha}, {beta}, {gamma}")
        self.size = max(int(num_train_examples), 2)
        self.alpha, self.beta, self.gamma, self.estimator = alpha, beta, gamma, estimator

    def decomposition(self, q: tfd.Distribution, prior: tfd.Distribution, z: tf.Tensor) -> dict[str, tf.Tensor]:
        """Per-example ``mi``, ``tc`` and ``dimension_wise_kl`` of codes ``z`` ``[B, d]``."""
        marginals = _factorised_posterior(q, "beta_tc")
        pairwise = marginals.log_prob(z[:, None, :])  # log q(z_i,d | x_j): [B, B, d]
        batch = tf.shape(z)[0]
        if self.estimator == "mss":
            log_weights = stratified_log_weights(batch, self.size)
        else:
            log_weights = -tf.math.log(tf.cast(batch, tf.float32) * self.size) * tf.ones([batch, batch])
        log_qz = tf.reduce_logsumexp(log_weights + tf.reduce_sum(pairwise, axis=-1), axis=1)
        log_product = tf.reduce_sum(tf.reduce_logsumexp(log_weights[..., None] + pairwise, axis=1), axis=-1)
        return {"mi": q.log_prob(z) - log_qz, "tc": log_qz - log_product,
                "dimension_wise_kl": log_product - prior.log_prob(z)}

    def per_example(self, q, prior, z, seed):
        parts = self.decomposition(q, prior, z)
        for name, value in parts.items():
            self.log_metric(name, value)
        return self.alpha * parts["mi"] + self.beta * parts["tc"] + self.gamma * parts["dimension_wise_kl"]


def permute_dimensions(z: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Each column of ``z`` ``[B, d]`` shuffled across the batch on its own: samples of the product of
    the marginals of the codes (FactorVAE's Algorithm 2)."""
    order = tf.argsort(tf.random.stateless_uniform(tf.shape(z), seed), axis=0)  # one permutation per column
    return tf.transpose(tf.gather(tf.transpose(z), tf.transpose(order), batch_dims=1))


def _half_rows(size: tf.Tensor, part: str) -> slice:
    """The rows of a batch of ``size`` that ``part`` names: ``all``, the ``first`` half or the
    ``second`` (the larger when ``size`` is odd); a batch of one example is both halves."""
    if part == "all":
        return slice(None)
    split = size // 2
    return slice(None, tf.maximum(split, 1)) if part == "first" else slice(tf.minimum(split, size - 1), None)


class FactorVAE(Divergence):
    """FactorVAE (Kim and Mnih 2018): the KL plus ``gamma`` times the total correlation of the codes,
    estimated by a discriminator that tells codes from q(z) apart from codes whose dimensions were
    shuffled across the batch (``TC ~ E[log D(z) / (1 - D(z))]``, the discriminator's logit).

    The discriminator trains in a phase of its own (binary cross-entropy, reported as
    ``discriminator_loss`` and ``discriminator_accuracy``); the main phase reports ``tc``.

    Args:
        gamma: weight of the total correlation.
        hidden: hidden widths of the discriminator MLP (the paper: six layers of 1000).
        activation: any Keras activation of its hidden layers.
        discriminator_optimizer: optimizer of the discriminator phase (the paper: Adam, 1e-4).
        discriminator_codes: what the discriminator phase compares. ``batch``: the batch's codes
            against a second draw of them with the dimensions permuted. ``halves``: the first half's
            codes against the second half's, permuted within that half, so the real and the shuffled
            codes come from different examples, as Kim and Mnih's Algorithm 1 draws them from two
            minibatches (Pythae splits each batch so); the discriminator then sees one batch's worth
            of codes per step, half the work.
    """

    def __init__(
        self,
        latent_dim: int,
        gamma: float = 10.0,
        hidden: list[int] = [256, 256],  # noqa: B006 - read-only default
        activation: str = "relu",
        discriminator_optimizer: OptimizerSpec = OptimizerSpec(type="adam", learning_rate=1e-4),
        discriminator_codes: Literal["batch", "halves"] = "batch",
    ):
        super().__init__(latent_dim)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma, self.discriminator_codes = gamma, discriminator_codes
        self.discriminator = mlp_discriminator(latent_dim, hidden, activation)
        self.discriminator_optimizer = OptimizerSpec.model_validate(discriminator_optimizer).model_dump()

    def _logits(self, z: tf.Tensor, batch: Batch | None = None) -> tf.Tensor:
        return tf.cast(self.discriminator(z, training=True)[:, 0], tf.float32)

    def per_example(self, q, prior, z, seed):
        tc = self._logits(z)
        self.log_metric("tc", tc)
        return tfd.kl_divergence(q, prior) + self.gamma * tc

    def phases(self, model: ModelSurface) -> list[Phase]:
        def codes(batch: Batch, seed: tf.Tensor, part: str) -> tf.Tensor:
            """Codes drawn from q(z|x) of the batch, or of its first or second half (``part``)."""
            data_seed, z_seed = split_seed(seed, 2)
            batch = model.preprocess(batch, data_seed)
            x, condition = batch.get("x_input", batch["x"]), model.condition_of(batch.get("y"))
            rows = _half_rows(tf.shape(x)[0], part)
            if condition is not None:
                condition = condition[rows]
            return model.posterior_distribution(x[rows], condition, True).sample(seed=z_seed)

        halves = self.discriminator_codes == "halves"

        def shuffled(batch: Batch, seed: tf.Tensor) -> tf.Tensor:
            code_seed, order_seed = split_seed(seed, 2)
            return permute_dimensions(codes(batch, code_seed, "second" if halves else "all"), order_seed)

        # "real" for the discriminator: the joint q(z); "fake": the product of its marginals
        game = AdversarialGame(
            discriminate=self._logits, real=lambda batch, n, seed: codes(batch, seed, "first" if halves else "all"),
            fake=shuffled,
            discriminator_variables=lambda: self.discriminator.trainable_variables,
            generator_variables=lambda: [], weight=lambda: tf.constant(0.0),
            discriminator_optimizer=self.discriminator_optimizer,
        )
        return game.phases()[:1]  # the TC enters the main phase's loss; there is no generator phase


class DIPVAE(Divergence):
    """DIP-VAE (Kumar et al. 2018): the KL plus a penalty that moves the covariance of the codes
    towards the identity: ``lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2``.

    Type ``i`` penalises the covariance of the posterior means over the batch; type ``ii`` the
    covariance of q(z) itself (that plus the mean posterior variance). The penalty is a batch-level
    quantity, added equally to every example; reported as ``off_diagonal`` and ``diagonal``.
    Needs a diagonal Gaussian posterior.

    Args:
        kind: i or ii.
        lambda_od: weight of the off-diagonal entries (10 in the paper for type i).
        lambda_d: weight of the diagonal entries (the paper: 10 x lambda_od for type i, lambda_od for ii).
    """

    def __init__(self, latent_dim: int, kind: Literal["i", "ii"] = "i", lambda_od: float = 10.0,
                 lambda_d: float = 100.0):
        super().__init__(latent_dim)
        if min(lambda_od, lambda_d) < 0:
            raise ValueError(f"lambda_od and lambda_d must be >= 0, got {lambda_od} and {lambda_d}")
        self.kind, self.lambda_od, self.lambda_d = kind, lambda_od, lambda_d

    def covariance(self, q: tfd.Distribution) -> tf.Tensor:
        """The covariance ``[d, d]`` type i or ii penalises, from a batch's posteriors."""
        marginals = _factorised_posterior(q, "dip_vae")
        means = marginals.mean()
        centred = means - tf.reduce_mean(means, axis=0, keepdims=True)
        covariance = tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(means)[0], means.dtype)
        if self.kind == "ii":
            covariance += tf.linalg.diag(tf.reduce_mean(marginals.variance(), axis=0))
        return covariance

    def per_example(self, q, prior, z, seed):
        covariance = self.covariance(q)
        diagonal = tf.linalg.diag_part(covariance)
        off_diagonal = tf.reduce_sum(covariance**2) - tf.reduce_sum(diagonal**2)
        on_diagonal = tf.reduce_sum((diagonal - 1.0) ** 2)
        self.log_metric("off_diagonal", off_diagonal)
        self.log_metric("diagonal", on_diagonal)
        return tfd.kl_divergence(q, prior) + self.lambda_od * off_diagonal + self.lambda_d * on_diagonal


class CapacityKL(Divergence):
    """Capacity-controlled beta-VAE (Burgess et al. 2018): ``gamma * |KL - C|`` with a capacity C
    that grows linearly from 0 to ``capacity`` nats over ``steps`` training steps, so the code is
    allowed to carry more information as training goes on.

    ``reduce: batch`` (as disentanglement_lib's annealed VAE) holds the batch-mean KL at C: a
    batch-level term added equally to every example, so single examples may carry more or less.
    ``reduce: example`` (the paper's formula per x, and Pythae's ``DisentangledBetaVAE``) holds each
    example's KL at C. ``capacity_now`` (C at this step) and ``kl`` are reported.

    Args:
        capacity: the final capacity C in nats (the paper: 25 for dSprites).
        steps: training steps over which C grows from 0 to ``capacity``.
        gamma: weight of the penalty (the paper: 1000).
        reduce: whose KL is held at C: the batch mean's or every example's.
    """

    def __init__(self, latent_dim: int, capacity: float = 25.0, steps: int = 100_000, gamma: float = 1000.0,
                 reduce: Literal["batch", "example"] = "batch"):
        super().__init__(latent_dim)
        if capacity < 0 or steps < 1 or gamma < 0:
            raise ValueError(f"capacity and gamma must be >= 0 and steps >= 1, got {capacity}, {steps}, {gamma}")
        self.capacity, self.steps, self.gamma, self.reduce = capacity, steps, gamma, reduce
        self._current_step: Callable[[], tf.Tensor] = lambda: tf.constant(0, tf.int64)

    def attach(self, model: ModelSurface) -> None:
        self._current_step = lambda: model.step  # a function, so Keras does not track the model

    def capacity_at(self, step: tf.Tensor) -> tf.Tensor:
        """C at a training step: ``capacity * min(1, step / steps)``."""
        return self.capacity * tf.minimum(1.0, tf.cast(step, tf.float32) / float(self.steps))

    def per_example(self, q, prior, z, seed):
        kl = tfd.kl_divergence(q, prior)
        capacity = self.capacity_at(self._current_step())
        self.log_metric("capacity_now", capacity)
        self.log_metric("kl", kl)
        if self.reduce == "example":
            return self.gamma * tf.abs(kl - capacity)
        return self.gamma * tf.abs(tf.reduce_mean(kl) - capacity) * tf.ones_like(kl)


class InfoVAE(Weighted):
    """InfoVAE (Zhao et al. 2019): ``(1 - alpha) * KL + (alpha + lambda - 1) * MMD(q(z) || p(z))``,
    which keeps the code informative (alpha near 1) while the aggregate posterior still matches the
    prior through the MMD. Reports ``kl`` and ``mmd``.

    Args:
        alpha: the information preference (0 gives the VAE's KL term; 1 removes it).
        lambda_: weight of the divergence between q(z) and p(z) (the paper: 1000 for MMD).
        kernel: rbf or imq (inverse multiquadratic) for the MMD.
        scales: bandwidth multipliers of the kernel.
    """

    def __init__(self, latent_dim: int, alpha: float = 0.0, lambda_: float = 1000.0,
                 kernel: Literal["rbf", "imq"] = "rbf", scales: list[float] = [1.0]):  # noqa: B006
        super().__init__(latent_dim)
        if not 0 <= alpha <= 1 or lambda_ < 0 or not scales or min(scales) <= 0:
            raise ValueError("alpha must be in [0, 1], lambda_ >= 0 and scales positive")
        self.alpha, self.lambda_, self.kernel, self.scales = alpha, lambda_, kernel, [float(s) for s in scales]

    def per_example(self, q, prior, z, seed):
        kl = tfd.kl_divergence(q, prior)
        mmd = mmd_per_example(z, tf.cast(prior.sample(tf.shape(z)[0], seed=seed), z.dtype), self.kernel, self.scales)
        self.log_metric("kl", kl)
        self.log_metric("mmd", mmd)
        return (1.0 - self.alpha) * kl + (self.alpha + self.lambda_ - 1.0) * mmd

