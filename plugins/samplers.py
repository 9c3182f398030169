"""Latent samplers fitted after training on the aggregate posterior (the training data's codes)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import tensorflow as tf
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
