"""Latent samplers fitted after training on the aggregate posterior (the training data's codes)."""

from __future__ import annotations

import math
from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf
from genkit_plugins.made import MaskedMLP, reversing_chain, shift_and_log_scale
from genkit_plugins.posteriors import diagonal_normal
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from genkit import Sampler


def _kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k starting centres, each drawn with probability proportional to its squared distance to the
    centres already chosen (Arthur and Vassilvitskii 2007)."""
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        distances = np.min([np.sum((x - c) ** 2, axis=1) for c in centres], axis=0)
        total = distances.sum()
        centres.append(x[rng.choice(len(x), p=distances / total)] if total > 0 else x[rng.integers(len(x))])
    return np.stack(centres)


class GaussianMixtureSampler(Sampler):
    """A Gaussian mixture fitted to the codes by expectation-maximisation, then sampled.

    The ex-post density estimate of RAE (Ghosh et al. 2020): a deterministic or regularised
    autoencoder has no prior worth sampling, but a mixture fitted to its training codes is. Codes of
    any shape are flattened; ``covariance: full`` fits a full covariance per component, ``diagonal``
    a diagonal one. Fitting starts from k-means++ centres drawn with the run's seed, so it is
    deterministic.

    Args:
        components: number of mixture components.
        covariance: full or diagonal.
        iterations: EM iterations.
        regularisation: added to every covariance's diagonal, for numerical safety.
    """

    def __init__(self, latent_shape: tuple[int, ...], components: int = 10,
                 covariance: Literal["full", "diagonal"] = "full", iterations: int = 100,
                 regularisation: float = 1e-6):
        super().__init__(latent_shape)
        if components < 1 or iterations < 1 or regularisation < 0:
            raise ValueError("components and iterations must be >= 1 and regularisation >= 0")
        self.components, self.covariance, self.iterations = components, covariance, iterations
        self.regularisation = regularisation

    def fit(self, codes: np.ndarray, seed: int) -> None:
        x = codes.reshape(len(codes), -1).astype(np.float64)
        k, d = min(self.components, len(x)), x.shape[1]
        means = _kmeans_plus_plus(x, k, np.random.default_rng(seed))
        covariances = np.repeat(np.cov(x.T, bias=True).reshape(d, d)[None] + self.regularisation * np.eye(d), k, 0)
        weights = np.full(k, 1.0 / k)
        for _ in range(self.iterations):
            responsibilities = self._responsibilities(x, weights, means, covariances)
            counts = responsibilities.sum(axis=0) + 1e-12
            weights, means = counts / len(x), responsibilities.T @ x / counts[:, None]
            for j in range(k):
                centred = x - means[j]
                covariances[j] = (responsibilities[:, j, None] * centred).T @ centred / counts[j]
                if self.covariance == "diagonal":
                    covariances[j] = np.diag(np.diag(covariances[j]))
                covariances[j] += self.regularisation * np.eye(d)
        self.weights, self.means = weights, means
        self.scale_tril = np.linalg.cholesky(covariances)

    @staticmethod
    def _responsibilities(x: np.ndarray, weights: np.ndarray, means: np.ndarray,
                          covariances: np.ndarray) -> np.ndarray:
        """p(component | x) for every code ``[N, k]``."""
        log = np.empty((len(x), len(weights)))
        for j in range(len(weights)):
            lower = np.linalg.cholesky(covariances[j])
            solved = np.linalg.solve(lower, (x - means[j]).T)
            log[:, j] = (np.log(weights[j]) - np.sum(np.log(np.diag(lower)))
                         - 0.5 * np.sum(solved**2, axis=0) - 0.5 * x.shape[1] * np.log(2 * np.pi))
        log -= log.max(axis=1, keepdims=True)
        probabilities = np.exp(log)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def distribution(self) -> tfd.Distribution:
        """The fitted mixture over flattened codes."""
        return tfd.MixtureSameFamily(
            tfd.Categorical(probs=tf.constant(self.weights, tf.float32)),
            tfd.MultivariateNormalTriL(tf.constant(self.means, tf.float32), tf.constant(self.scale_tril, tf.float32)),
        )

    def sample(self, n, seed):
        return tf.reshape(self.distribution().sample(n, seed=seed), [n, *self.latent_shape])

    def state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights, "means": self.means, "scale_tril": self.scale_tril}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.weights, self.means, self.scale_tril = state["weights"], state["means"], state["scale_tril"]


class TrainedSampler(Sampler):
    """Base of samplers whose density is a small network fitted to the codes with Adam.

    A subclass turns the codes into training arrays in :meth:`training_data` (also setting
    ``self.arrays``, the fitted numbers besides the weights, e.g. a standardization), creates its
    networks in :meth:`make_networks` (seeded initializers) and defines :meth:`loss`, the batch mean
    of a negative log-likelihood or of a negative ELBO. :meth:`fit` makes ``fit_epochs`` passes over the
    codes in mini-batches (Adam steps; the order shuffled by a generator seeded with the run's seed,
    a last partial batch dropped), with stateless seeds for any draw inside the loss, so fitting is
    deterministic for the seed and its cost grows with the number of codes. ``state()`` holds
    ``self.arrays`` and every weight; ``load_state`` rebuilds the networks and assigns the weights.
    """

    def __init__(self, latent_shape: tuple[int, ...], fit_epochs: int, fit_batch_size: int, learning_rate: float):
        super().__init__(latent_shape)
        if fit_epochs < 1 or fit_batch_size < 1 or learning_rate <= 0:
            raise ValueError("fit_epochs and fit_batch_size must be >= 1 and learning_rate > 0, got "
                             f"{fit_epochs}, {fit_batch_size}, {learning_rate}")
        self.epochs, self.batch_size, self.learning_rate = fit_epochs, fit_batch_size, learning_rate
        self.arrays: dict[str, np.ndarray] = {}
        self.weights: list[Any] = []

    def training_data(self, codes: np.ndarray) -> np.ndarray:
        """The array the loss reads, one row per code (and ``self.arrays`` set from the codes)."""
        raise NotImplementedError

    def make_networks(self, seed: int) -> list[Any]:
        """Create the networks with initializers seeded by ``seed``; return their trainable variables."""
        raise NotImplementedError

    def loss(self, batch: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """The scalar minimised on a mini-batch of training rows (``seed``: a stateless ``[2]`` seed)."""
        raise NotImplementedError

    def fit(self, codes: np.ndarray, seed: int) -> None:
        data = self.training_data(codes)
        self.weights = self.make_networks(seed)
        optimizer = keras.optimizers.Adam(self.learning_rate)
        optimizer.build(self.weights)

        @tf.function(autograph=False)  # plain tensor code: no Python control flow to convert
        def step(batch: tf.Tensor, step_seed: tf.Tensor) -> None:
            with tf.GradientTape() as tape:
                loss = self.loss(batch, step_seed)
            optimizer.apply_gradients(zip(tape.gradient(loss, self.weights), self.weights, strict=True))

        rng, size = np.random.default_rng(seed), min(self.batch_size, len(data))
        counter = 0
        for _ in range(self.epochs):
            order = rng.permutation(len(data))
            for start in range(0, len(data) - size + 1, size):
                step(tf.constant(data[order[start : start + size]]), tf.constant([seed % (2**31 - 1), counter]))
                counter += 1

    def state(self) -> dict[str, np.ndarray]:
        return {**self.arrays, **{f"weight_{index:03d}": np.asarray(w.numpy()) for index, w in enumerate(self.weights)}}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.arrays = {key: value for key, value in state.items() if not key.startswith("weight_")}
        self.weights = self.make_networks(0)
        for index, weight in enumerate(self.weights):
            weight.assign(state[f"weight_{index:03d}"])


class _StandardizedSampler(TrainedSampler):
    """A trained density over the flattened codes, each dimension standardized to mean 0 and
    standard deviation 1 first (``mean`` and ``std`` saved with the state); the density of a code is
    the network's density of its standardized form times the standardization's Jacobian."""

    @property
    def size(self) -> int:
        """The number of values in one code."""
        return math.prod(self.latent_shape)

    def training_data(self, codes: np.ndarray) -> np.ndarray:
        flat = codes.reshape(len(codes), -1).astype(np.float64)
        self.arrays = {"mean": flat.mean(axis=0).astype(np.float32),
                       "std": (flat.std(axis=0) + 1e-6).astype(np.float32)}
        return self.standardized(flat)

    def standardized(self, codes: np.ndarray) -> np.ndarray:
        """Codes (any shape with the code axes last) as standardized flat rows ``[N, size]``."""
        return ((codes.reshape(len(codes), -1) - self.arrays["mean"]) / self.arrays["std"]).astype(np.float32)

    def to_codes(self, standardized: tf.Tensor) -> tf.Tensor:
        """Standardized rows ``[n, size]`` back to codes ``[n, *latent_shape]``."""
        codes = standardized * self.arrays["std"] + self.arrays["mean"]
        return tf.reshape(codes, [-1, *self.latent_shape])

    def log_jacobian(self) -> float:
        """log |d standardized / d code|, added to the standardized codes' log-density."""
        return -float(np.sum(np.log(self.arrays["std"])))


class MAFSampler(_StandardizedSampler):
    """A masked autoregressive flow (Papamakarios et al. 2017) fitted by maximum likelihood to the
    standardized, flattened codes: a flexible density estimate of the aggregate posterior, sampled
    instead of the prior (or for a model that has none).

    ``layers`` MAF steps over a standard normal, each a MADE giving every dimension's shift and
    tanh-bounded log-scale from the dimensions before it, the order reversed between steps. Its
    log-density (``log_prob``) is one pass; sampling is one pass per code dimension, so it suits flat
    codes better than large grids.

    Args:
        layers: number of MAF steps.
        hidden: hidden widths of each step's MADE.
        fit_epochs: passes over the codes.
        fit_batch_size: codes per Adam step.
        learning_rate: Adam's learning rate.
    """

    def __init__(self, latent_shape: tuple[int, ...], layers: int = 4,
                 hidden: list[int] = [64, 64],  # noqa: B006 - read-only default
                 fit_epochs: int = 50, fit_batch_size: int = 256, learning_rate: float = 1e-3):
        super().__init__(latent_shape, fit_epochs, fit_batch_size, learning_rate)
        if layers < 1 or any(width < 1 for width in hidden):
            raise ValueError(f"layers and hidden widths must be >= 1, got {layers} and {hidden}")
        self.layers, self.hidden = layers, hidden

    def make_networks(self, seed: int) -> list[Any]:
        self.networks = [MaskedMLP(self.size, self.size, self.hidden, seed=seed + 10 * index)
                         for index in range(self.layers)]
        return [weight for network in self.networks for weight in network.trainable_variables]

    def flow(self) -> tfd.Distribution:
        """The fitted flow over standardized codes."""
        steps = [tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=shift_and_log_scale(network))
                 for network in self.networks]
        base = tfd.Independent(tfd.Normal(tf.zeros(self.size), 1.0), reinterpreted_batch_ndims=1)
        return tfd.TransformedDistribution(base, reversing_chain(steps, self.size))

    def loss(self, batch, seed):
        return -tf.reduce_mean(self.flow().log_prob(batch))

    def sample(self, n, seed):
        return self.to_codes(self.flow().sample(n, seed=seed))

    def log_prob(self, codes: np.ndarray) -> np.ndarray:
        """The fitted log-density of each code ``[N, *latent_shape]``, in nats."""
        return self.flow().log_prob(self.standardized(codes)).numpy() + self.log_jacobian()


def _mlp(inputs: int, hidden: list[int], outputs: int, seed: int) -> keras.Sequential:
    """A ReLU MLP with seeded initializers, built now."""
    network = keras.Sequential(
        [keras.layers.Dense(width, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed + i))
         for i, width in enumerate(hidden)]
        + [keras.layers.Dense(outputs, kernel_initializer=keras.initializers.GlorotUniform(seed + len(hidden)))])
    network.build((None, inputs))
    return network


class TwoStageVAESampler(_StandardizedSampler):
    """The two-stage VAE's second stage (Dai and Wipf 2019): a small VAE fitted to the codes, whose
    prior draws, decoded, are the codes sampled.

    A first-stage VAE's aggregate posterior q(z) often fills the latent space unevenly, so decoding
    prior draws lands in holes; the second VAE (MLP encoder and decoder, standard normal prior,
    Gaussian decoder with a learned variance gamma) learns q(z) itself, and its own aggregate
    posterior matches its prior far better. Trained on the negative ELBO of the standardized codes;
    ``sample`` decodes standard normal draws to the decoder mean. ``log_prob`` is an
    importance-weighted lower bound on the log-density (Burda et al. 2016).

    Args:
        latent_size: the second VAE's latent dimension (0: as many as the code has values, as in the paper).
        hidden: hidden widths of its encoder and decoder MLPs.
        fit_epochs: passes over the codes.
        fit_batch_size: codes per Adam step.
        learning_rate: Adam's learning rate.
    """

    def __init__(self, latent_shape: tuple[int, ...], latent_size: int = 0,
                 hidden: list[int] = [128, 128],  # noqa: B006 - read-only default
                 fit_epochs: int = 50, fit_batch_size: int = 256, learning_rate: float = 1e-3):
        super().__init__(latent_shape, fit_epochs, fit_batch_size, learning_rate)
        if latent_size < 0 or any(width < 1 for width in hidden):
            raise ValueError(f"latent_size must be >= 0 and hidden widths >= 1, got {latent_size} and {hidden}")
        self.latent_size, self.hidden = latent_size or self.size, hidden

    def make_networks(self, seed: int) -> list[Any]:
        self.encoder = _mlp(self.size, self.hidden, 2 * self.latent_size, seed)
        self.decoder = _mlp(self.latent_size, self.hidden, self.size, seed + 100)
        self.log_gamma = keras.Variable(math.log(0.1), name="log_gamma")  # log variance of the Gaussian decoder
        return [*self.encoder.trainable_variables, *self.decoder.trainable_variables, self.log_gamma]

    def _log_weights(self, u: tf.Tensor, seed: tf.Tensor, samples: int) -> tf.Tensor:
        """log p(u|z) + log p(z) - log q(z|u) for ``samples`` draws z ~ q(z|u) per row, ``[samples, n]``."""
        q = diagonal_normal(self.encoder(u), 1e-4)
        z = q.sample(samples, seed=seed)
        scale = tf.exp(0.5 * tf.maximum(tf.convert_to_tensor(self.log_gamma), -12.0))
        decoded = tf.reshape(self.decoder(tf.reshape(z, [-1, self.latent_size])), [samples, -1, self.size])
        log_px = tfd.Independent(tfd.Normal(decoded, scale), reinterpreted_batch_ndims=1).log_prob(u)
        prior = tfd.Independent(tfd.Normal(tf.zeros(self.latent_size), 1.0), reinterpreted_batch_ndims=1)
        return log_px + prior.log_prob(z) - q.log_prob(z)

    def loss(self, batch, seed):
        return -tf.reduce_mean(self._log_weights(batch, seed, 1))

    def sample(self, n, seed):
        z = tf.random.stateless_normal([n, self.latent_size], seed=seed)
        return self.to_codes(self.decoder(z))

    def log_prob(self, codes: np.ndarray, samples: int = 100, seed: int = 0) -> np.ndarray:
        """An importance-weighted lower bound (``samples`` draws) on each code's log-density, in nats."""
        log_weights = self._log_weights(tf.constant(self.standardized(codes)), tf.constant([seed, 0]), samples)
        bound = tf.reduce_logsumexp(log_weights, axis=0) - math.log(samples)
        return bound.numpy() + self.log_jacobian()
