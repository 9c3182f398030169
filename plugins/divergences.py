"""Divergences between q(z|x) and p(z): analytic and Monte Carlo KL, MMD, adversarial.

All weighted divergences share one weighting scheme (:class:`Weighted`): ``beta`` times an
optional warm-up schedule (linear, or cyclical as in Fu et al. 2019) of the training step. The
KL divergences add free bits (Kingma et al. 2016): a floor on the batch-mean KL of each latent
dimension, below which that dimension is not pushed towards the prior.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Literal

import pydantic
import tensorflow as tf
from genkit_plugins.adversarial import AdversarialGame, mlp_discriminator
from tensorflow_probability import distributions as tfd

from genkit import Divergence, GenkitError, ModelSurface, OptimizerSpec, Phase, split_seed


class Warmup(pydantic.BaseModel):
    """A warm-up of the divergence weight from 0 to beta over training steps.

    ``linear``: ``beta * min(1, step / steps)``. ``cyclical``: the same ramp restarted every
    ``cycle`` steps (``steps`` <= ``cycle``), which helps against posterior collapse.
    """

    model_config = pydantic.ConfigDict(extra="forbid")
    type: Literal["linear", "cyclical"] = "linear"
    steps: pydantic.PositiveInt = 1000
    cycle: pydantic.PositiveInt | None = None

    @pydantic.model_validator(mode="after")
    def _cycle_fits(self) -> Warmup:
        if self.type == "cyclical" and (self.cycle is None or self.cycle < self.steps):
            raise ValueError("a cyclical warm-up needs 'cycle' (steps per cycle) >= 'steps' (ramp length)")
        if self.type == "linear" and self.cycle is not None:
            raise ValueError("'cycle' is only for the cyclical warm-up")
        return self


def warmup_weight(step: tf.Tensor, beta: float, warmup: Warmup | None) -> tf.Tensor:
    """The weight ``beta * ramp(step)`` at a training step (0-based), as a float32 scalar."""
    beta_tensor = tf.constant(beta, tf.float32)
    if warmup is None:
        return beta_tensor
    step = tf.cast(step, tf.float32)
    if warmup.cycle is not None:  # cyclical (validated: only the cyclical warm-up has a cycle)
        step = tf.math.floormod(step, float(warmup.cycle))
    return beta_tensor * tf.minimum(1.0, step / float(warmup.steps))


def free_bits_floor(kl: tf.Tensor, free_bits: float) -> tf.Tensor:
    """Per-example KL ``[batch]`` from KL terms ``[batch, groups]``, each group's batch mean floored.

    A group (a latent dimension, or the whole vector when q and p do not factorise) whose batch-mean
    KL is below ``free_bits`` nats contributes that constant instead (so no gradient pushes it
    further towards the prior); the batch mean of the result is ``sum_j max(free_bits, mean_b KL_bj)``.
    """
    if free_bits <= 0:
        return tf.reduce_sum(kl, axis=-1)
    below = tf.reduce_mean(kl, axis=0, keepdims=True) < free_bits
    return tf.reduce_sum(tf.where(below, tf.constant(free_bits, kl.dtype), kl), axis=-1)


def factorised(q: tfd.Distribution, prior: tfd.Distribution) -> tuple[tfd.Distribution, tfd.Distribution] | None:
    """The per-dimension distributions of q and p when both are ``Independent`` over the latent vector."""
    both = isinstance(q, tfd.Independent) and isinstance(prior, tfd.Independent)
    over_vector = both and all(tf.get_static_value(d.reinterpreted_batch_ndims) == 1 for d in (q, prior))
    return (q.distribution, prior.distribution) if over_vector else None


class Weighted(Divergence):
    """Base of divergences weighted by ``beta`` and an optional warm-up (shared ``weight(step)``)."""

    def __init__(self, latent_dim: int, beta: float = 1.0, warmup: Warmup | dict | None = None):
        super().__init__(latent_dim)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = float(beta)
        self.warmup = Warmup.model_validate(warmup) if isinstance(warmup, dict) else warmup

    def weight(self, step):
        return warmup_weight(step, self.beta, self.warmup)


class KLFamily(Weighted):
    """Base of the KL divergences: weighting plus free bits over :meth:`kl_terms`.

    ``kl_terms`` returns per-dimension KL ``[batch, latent_dim]`` when q and p factorise over the
    latent dimensions and free bits are on, else the total ``[batch]``.
    """

    def __init__(self, latent_dim: int, beta: float = 1.0, warmup: Warmup | dict | None = None, free_bits: float = 0.0):
        super().__init__(latent_dim, beta, warmup)
        if free_bits < 0:
            raise ValueError(f"free_bits must be >= 0, got {free_bits}")
        self.free_bits = float(free_bits)

    def kl_terms(self, q: tfd.Distribution, prior: tfd.Distribution, z: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def per_example(self, q, prior, z, seed):
        kl = self.kl_terms(q, prior, z, seed)
        if kl.shape.rank == 2:
            return free_bits_floor(kl, self.free_bits)
        return free_bits_floor(kl[:, None], self.free_bits * self.latent_dim)


#: Distribution pairs for which the Monte Carlo fallback has already been announced.
_ANNOUNCED_FALLBACKS: set[tuple[str, str]] = set()


class MonteCarloFallbackWarning(UserWarning):
    """The analytic KL divergence fell back to a Monte Carlo estimate for a distribution pair."""


def announce_fallback(q: tfd.Distribution, prior: tfd.Distribution) -> None:
    """Warn once per process and distribution pair that the KL is estimated by Monte Carlo."""
    pair = (type(q).__name__, type(prior).__name__)
    if pair in _ANNOUNCED_FALLBACKS:
        return
    _ANNOUNCED_FALLBACKS.add(pair)
    warnings.warn(
        f"kl: TFP has no closed form for KL({pair[0]} || {pair[1]}); using the one-sample Monte Carlo "
        "estimate log q(z) - log p(z) (set divergence.fallback: error to refuse, or use mc_kl for more samples)",
        MonteCarloFallbackWarning,
        stacklevel=2,
    )


class AnalyticKL(KLFamily):
    """KL(q(z|x) || p(z)) in closed form through ``tfd.kl_divergence``, weighted by beta.

    beta = 1 gives the VAE's ELBO; beta > 1 the beta-VAE. Where TFP has no closed form for the
    pair (a mixture, flow or VampPrior prior), ``fallback`` decides: ``monte_carlo`` uses the
    one-sample estimate ``log q(z) - log p(z)`` with the model's own z and warns once per process;
    ``error`` refuses when the model is built.

    Args:
        beta: weight of the KL term in the loss.
        warmup: optional warm-up of the weight, e.g. ``{type: linear, steps: 2000}`` or
            ``{type: cyclical, steps: 500, cycle: 2000}``.
        free_bits: floor in nats on each latent dimension's batch-mean KL (0 = off).
        fallback: monte_carlo or error, when there is no closed form.
    """

    def __init__(
        self,
        latent_dim: int,
        beta: float = 1.0,
        warmup: Warmup | None = None,
        free_bits: float = 0.0,
        fallback: Literal["monte_carlo", "error"] = "monte_carlo",
    ):
        super().__init__(latent_dim, beta, warmup, free_bits)
        self.fallback = fallback

    def kl_terms(self, q, prior, z, seed):
        pair = factorised(q, prior) if self.free_bits > 0 else None
        try:
            return tfd.kl_divergence(*pair) if pair else tfd.kl_divergence(q, prior)
        except NotImplementedError:
            if self.fallback == "error":
                raise GenkitError(
                    f"divergence 'kl': TFP has no closed-form KL({type(q).__name__} || {type(prior).__name__}) "
                    "and divergence.fallback is 'error'; set fallback: monte_carlo or use divergence 'mc_kl'"
                ) from None
        announce_fallback(q, prior)
        if pair:
            return pair[0].log_prob(z) - pair[1].log_prob(z)
        return q.log_prob(z) - prior.log_prob(z)


class MonteCarloKL(KLFamily):
    """KL(q(z|x) || p(z)) estimated with ``samples`` reparameterized draws from q per example.

    Works with any prior that has a log_prob (mixtures, flows, VampPrior); unbiased, and the
    variance falls as 1/samples.

    Args:
        samples: number of draws from q per example.
        code: ``fresh`` draws the ``samples`` codes for the estimate; ``reconstruction`` uses the
            one code the reconstruction term was computed from (``samples`` must be 1): the
            single-sample ELBO ``log p(x|z) + log p(z) - log q(z|x)`` of one z, as Kingma and
            Welling's first estimator and Pythae's flow VAEs have it, which spares a pass through
            a flow posterior per step (its log-density reuses the sample's cached inverse).
        beta: weight of the KL term in the loss.
        warmup: optional warm-up of the weight (see ``kl``).
        free_bits: floor in nats on each latent dimension's batch-mean KL (0 = off).
    """

    def __init__(
        self,
        latent_dim: int,
        samples: int = 1,
        code: Literal["fresh", "reconstruction"] = "fresh",
        beta: float = 1.0,
        warmup: Warmup | None = None,
        free_bits: float = 0.0,
    ):
        super().__init__(latent_dim, beta, warmup, free_bits)
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        if code == "reconstruction" and samples != 1:
            raise ValueError(f"code: reconstruction uses the reconstruction's one code, so samples must be 1, "
                             f"got {samples}")
        self.samples, self.code = samples, code

    def kl_terms(self, q, prior, z, seed):
        pair = factorised(q, prior) if self.free_bits > 0 else (q, prior)
        if self.code == "reconstruction":  # z itself, not a reshaped copy: q's bijectors know its inverse
            return pair[0].log_prob(z) - pair[1].log_prob(z)
        draws = q.sample(self.samples, seed=seed)
        return tf.reduce_mean(pair[0].log_prob(draws) - pair[1].log_prob(draws), axis=0)


def kernel_matrix(a: tf.Tensor, b: tf.Tensor, kernel: str, scales: list[float]) -> tf.Tensor:
    """Kernel values ``[n, m]`` between rows of a and b, summed over bandwidth ``scales``.

    With ``c = 2 * dim * s`` for each scale s: ``rbf`` is ``exp(-|a - b|^2 / c)``, ``imq`` (inverse
    multiquadratic, as in WAE) is ``c / (c + |a - b|^2)``.
    """
    distance = tf.reduce_sum(tf.square(a[:, None, :] - b[None, :, :]), axis=-1)
    dim = tf.cast(tf.shape(a)[-1], a.dtype)
    total = tf.zeros_like(distance)
    for scale in scales:
        c = 2.0 * dim * scale
        total += tf.exp(-distance / c) if kernel == "rbf" else c / (c + distance)
    return total


def _off_diagonal_mean(k: tf.Tensor) -> tf.Tensor:
    """Row means of a square kernel matrix without its diagonal, ``[n]``."""
    n = tf.cast(tf.shape(k)[0], k.dtype)
    return (tf.reduce_sum(k, axis=1) - tf.linalg.diag_part(k)) / tf.maximum(n - 1.0, 1.0)


def mmd_per_example(z: tf.Tensor, p: tf.Tensor, kernel: str, scales: list[float]) -> tf.Tensor:
    """The unbiased MMD^2 estimate between samples z and p, split into ``[n]`` terms whose mean it is.

    Example i contributes its mean kernel to the other z's, minus twice its mean kernel to the
    prior draws, plus the (constant) prior-prior term.
    """
    prior_term = tf.reduce_mean(_off_diagonal_mean(kernel_matrix(p, p, kernel, scales)))
    cross = tf.reduce_mean(kernel_matrix(z, p, kernel, scales), axis=1)
    return _off_diagonal_mean(kernel_matrix(z, z, kernel, scales)) - 2.0 * cross + prior_term


class MMD(Weighted):
    """Maximum mean discrepancy between the batch's codes z and as many prior draws (WAE, InfoVAE).

    Needs only ``prior.sample()``, so it works with sample-only priors and deterministic
    encoders. The unbiased MMD^2 estimate is split into per-example terms whose batch mean it is.
    WAE uses ``imq`` with ``scales: [0.1, 0.2, 0.5, 1, 2, 5, 10]`` and beta about 10.

    Args:
        kernel: rbf or imq (inverse multiquadratic).
        scales: bandwidth multipliers; the kernel is summed over them (base bandwidth 2 * latent_dim).
        beta: weight of the MMD term in the loss.
        warmup: optional warm-up of the weight (see ``kl``).
    """

    sample_only_prior_ok = True

    def __init__(
        self,
        latent_dim: int,
        kernel: Literal["rbf", "imq"] = "imq",
        scales: list[float] = [1.0],  # noqa: B006 - read-only default
        beta: float = 1.0,
        warmup: Warmup | None = None,
    ):
        super().__init__(latent_dim, beta, warmup)
        if not scales or min(scales) <= 0:
            raise ValueError(f"scales must be one or more positive bandwidth multipliers, got {scales}")
        self.kernel, self.scales = kernel, [float(s) for s in scales]

    def per_example(self, q, prior, z, seed):
        p = tf.cast(prior.sample(tf.shape(z)[0], seed=seed), z.dtype)
        return mmd_per_example(z, p, self.kernel, self.scales)


class Adversarial(Weighted):
    """Adversarial regulariser (AAE, Makhzani et al. 2016): a discriminator on z tells prior draws from codes.

    Two phases run after the main (reconstruction) phase in every step: the discriminator phase
    (only the discriminator's variables; prior draws labelled real, codes from q fake, binary
    cross-entropy), then the generator phase (only the encoder's and posterior head's variables;
    the codes labelled real, loss ``weight(step) * BCE``). Its main-phase ``per_example`` is zero, so
    the main phase is pure reconstruction and ``beta``/warm-up act on the generator loss; the two
    losses are reported as ``discriminator_loss`` and ``generator_loss``. Needs only ``prior.sample()``.

    With ``generator: main`` there is no generator phase: each example's fooling loss (its code
    labelled real) is the main phase's divergence term instead, added to the reconstruction with
    weight ``beta`` and trained by the main optimizer with the encoder and decoder, as Pythae's
    Adversarial_AE does. The separate phase (Makhzani et al.'s) gives the fooling loss its own
    optimizer, whose step size does not shrink when the loss is small beside the reconstruction.

    ``input_noise`` adds N(0, input_noise^2) noise to everything the discriminator sees, prior
    draws and codes alike (instance noise; 0.3 in Makhzani et al.'s reference setups for the
    categorical AAE). Without it a discriminator on a categorical part tells a softmax from an
    exact one-hot vector by any non-zero entry, and its gradient only pushes codes into the
    corners; with it both are blurred alike and the discriminator has to compare where the codes
    lie, not how exact they are.

    Args:
        hidden: hidden widths of the discriminator MLP.
        activation: any Keras activation of its hidden layers.
        discriminator_optimizer: optimizer of the discriminator phase.
        generator_optimizer: optimizer of the generator phase (default: the spec's train.optimizer).
        beta: weight of the generator loss.
        warmup: optional warm-up of that weight (see ``kl``).
        generator: ``phase`` (the generator phase above) or ``main`` (the fooling loss in the main phase).
        input_noise: standard deviation of the instance noise on the discriminator's input (0: none).
    """

    sample_only_prior_ok = True

    def __init__(
        self,
        latent_dim: int,
        hidden: list[int] = [256, 256],  # noqa: B006 - read-only default
        activation: str = "relu",
        discriminator_optimizer: OptimizerSpec = OptimizerSpec(type="adam", learning_rate=1e-4),
        generator_optimizer: OptimizerSpec | None = None,
        beta: float = 1.0,
        warmup: Warmup | None = None,
        generator: Literal["phase", "main"] = "phase",
        input_noise: float = 0.0,
    ):
        super().__init__(latent_dim, beta, warmup)
        if not 0.0 <= input_noise < math.inf:
            raise ValueError(f"input_noise must be a finite standard deviation >= 0, got {input_noise}")
        self.generator = generator
        self.input_noise = input_noise
        self.optimizer_specs = {
            name: None if spec is None else OptimizerSpec.model_validate(spec).model_dump()
            for name, spec in (("discriminator", discriminator_optimizer), ("generator", generator_optimizer))
        }
        self.discriminator = mlp_discriminator(latent_dim + self.label_width, hidden, activation)

    def per_example(self, q, prior, z, seed):
        if self.generator == "phase":
            return tf.zeros(tf.shape(z)[:1], dtype=z.dtype)
        logits = self._logits(self._noisy(lambda _: z, seed), {})  # only the plain variant has generator: main
        return tf.cast(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(logits), logits), z.dtype)

    def _noisy(self, draw: Callable[[tf.Tensor], tf.Tensor], seed: tf.Tensor) -> tf.Tensor:
        """``draw(seed)`` (codes or prior draws) plus the instance noise; with no noise, exactly
        ``draw(seed)``, so runs without it draw the same numbers as before the option existed."""
        if not self.input_noise:
            return draw(seed)
        draw_seed, noise_seed = split_seed(seed, 2)
        samples = draw(draw_seed)
        noise = tf.random.stateless_normal(tf.shape(samples), noise_seed, dtype=samples.dtype)
        return samples + tf.cast(self.input_noise, samples.dtype) * noise

    def _codes(self, model: ModelSurface, batch: dict[str, tf.Tensor], seed: tf.Tensor) -> tf.Tensor:
        """z ~ q(z|x) for the batch, preprocessed the way the main phase does it."""
        data_seed, z_seed = split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)
        q = model.posterior_distribution(batch.get("x_input", batch["x"]), training=True)
        return q.sample(seed=z_seed)

    #: Width of what the discriminator sees beside z (the supervised variant's one-hot label).
    label_width: int = 0

    def discriminator_input(self, z: tf.Tensor, batch: dict[str, tf.Tensor]) -> tf.Tensor:
        """What the discriminator sees for codes ``z`` of ``batch``: z itself here."""
        return z

    def real_codes(self, model: ModelSurface, batch: dict[str, tf.Tensor], n: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """The discriminator's real samples for a batch: ``n`` prior draws here."""
        return model.prior_distribution().sample(n, seed=seed)

    def _logits(self, z: tf.Tensor, batch: dict[str, tf.Tensor]) -> tf.Tensor:
        logits = self.discriminator(self.discriminator_input(z, batch), training=True)[:, 0]
        return tf.cast(logits, tf.float32)  # float32 losses under train.mixed_precision too

    def phases(self, model: ModelSurface) -> list[Phase]:
        game = AdversarialGame(
            discriminate=self._logits,
            real=lambda batch, n, seed: self._noisy(lambda s: self.real_codes(model, batch, n, s), seed),
            fake=lambda batch, seed: self._noisy(lambda s: self._codes(model, batch, s), seed),
            discriminator_variables=lambda: self.discriminator.trainable_variables,
            generator_variables=model.encoder_variables,
            weight=lambda: self.weight(model.step),
            discriminator_optimizer=self.optimizer_specs["discriminator"],
            generator_optimizer=self.optimizer_specs["generator"],
        )
        return game.phases() if self.generator == "phase" else game.phases()[:1]


class SupervisedAdversarial(Adversarial):
    """Supervised AAE (Makhzani et al. 2016, Fig. 4): the label enters the discriminator.

    The discriminator sees ``[z, one_hot(y)]``; its real samples for an example of class y are
    drawn from the prior's region of that class (``prior.sample_for_labels``: the mixture's
    component, the swiss roll's arm), so the encoder learns to put each class in its own region.
    Unlabelled examples (label -1, e.g. with ``data.labelled``) get an all-zero label input and
    draws from the whole prior, which makes the same divergence semi-supervised (a batch without
    labels is all unlabelled). The prior needs a label layout (``mixture``, ``swiss_roll``).

    Args:
        classes: number of classes of the data labels (the one-hot width).
        hidden: hidden widths of the discriminator MLP.
        activation: any Keras activation of its hidden layers.
        discriminator_optimizer: optimizer of the discriminator phase.
        generator_optimizer: optimizer of the generator phase (default: the spec's train.optimizer).
        beta: weight of the generator loss.
        warmup: optional warm-up of that weight (see ``kl``).
        input_noise: standard deviation of the instance noise on the code part of the
            discriminator's input (see ``adversarial``; 0: none).
    """

    def __init__(
        self,
        latent_dim: int,
        classes: int = 10,
        hidden: list[int] = [256, 256],  # noqa: B006 - read-only default
        activation: str = "relu",
        discriminator_optimizer: OptimizerSpec = OptimizerSpec(type="adam", learning_rate=1e-4),
        generator_optimizer: OptimizerSpec | None = None,
        beta: float = 1.0,
        warmup: Warmup | None = None,
        input_noise: float = 0.0,
    ):
        if classes < 2:
            raise ValueError(f"classes must be >= 2, got {classes}")
        self.label_width = classes  # read by Adversarial.__init__ to size the discriminator
        super().__init__(latent_dim, hidden, activation, discriminator_optimizer, generator_optimizer, beta, warmup,
                         input_noise=input_noise)

    @staticmethod
    def _labels(batch: dict[str, tf.Tensor]) -> tf.Tensor:
        """Class indices of the batch; a batch without labels counts as unlabelled (-1)."""
        if "y" not in batch:
            return -tf.ones(tf.shape(batch["x"])[:1], tf.int32)
        y = tf.convert_to_tensor(batch["y"])
        return tf.argmax(y, axis=-1, output_type=tf.int32) if y.shape.rank == 2 else tf.cast(y, tf.int32)

    def discriminator_input(self, z, batch):
        return tf.concat([z, tf.one_hot(self._labels(batch), self.label_width, dtype=z.dtype)], axis=-1)

    def real_codes(self, model, batch, n, seed):
        labels = self._labels(batch)
        if model.prior is None or model.prior.num_classes == 0:
            raise GenkitError("the supervised adversarial divergence needs a prior with a label layout "
                              "(e.g. mixture or swiss_roll)")
        class_seed, free_seed = split_seed(seed, 2)
        by_class = model.prior.sample_for_labels(tf.maximum(labels, 0), class_seed)
        anywhere = tf.cast(model.prior_distribution().sample(n, seed=free_seed), by_class.dtype)
        return tf.where((labels >= 0)[:, None], by_class, anywhere)


class NoDivergence(Divergence):
    """No regulariser: the plain (or denoising) autoencoder. Needs no prior."""

    requires_prior = False

    def per_example(self, q, prior, z, seed):
        return tf.zeros(tf.shape(z)[:1], dtype=z.dtype)
