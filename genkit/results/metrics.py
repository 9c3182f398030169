"""Latent-space metrics on plain arrays: active units, MMD, MIG, cluster accuracies, linear probe.

Each function takes numpy arrays (codes, labels, factors) and returns numbers, so it can be
tested on synthetic codes with known answers and reused on any model's ``encode`` output.
"""

from __future__ import annotations

import numpy as np

#: Burda et al. (2016): a latent unit is active when Cov_x(E_q[z_u | x]) exceeds this.
ACTIVE_UNIT_THRESHOLD = 0.01


def active_units(means: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> tuple[int, np.ndarray]:
    """Number of active units and the per-dimension variance over examples of the posterior mean.

    ``means`` is ``[N, latent_dim]``: E_q[z|x] for each example (Burda et al., Section 5.2).
    """
    variances = np.var(np.asarray(means, np.float64), axis=0)
    return int(np.sum(variances > threshold)), variances


def mmd_squared(a: np.ndarray, b: np.ndarray, scale: float | None = None) -> float:
    """Unbiased estimate of MMD^2 between samples ``a`` [N, d] and ``b`` [M, d].

    Uses the inverse multiquadratic kernel k(x, y) = C / (C + |x - y|^2) with C = 2 d by default,
    the choice of the WAE paper (Tolstikhin et al., 2018) for a unit-variance prior. The estimate
    is 0 in expectation when both samples come from one distribution (so it can be slightly
    negative).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c = float(scale if scale is not None else 2.0 * a.shape[1])

    def kernel(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        distances = np.sum(u**2, 1)[:, None] + np.sum(v**2, 1)[None, :] - 2.0 * u @ v.T
        return c / (c + np.maximum(distances, 0.0))

    n, m = len(a), len(b)
    k_aa, k_bb = kernel(a, a), kernel(b, b)
    within_a = (k_aa.sum() - np.trace(k_aa)) / (n * (n - 1))
    within_b = (k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return float(within_a + within_b - 2.0 * kernel(a, b).mean())


def discretize(values: np.ndarray, bins: int = 20) -> np.ndarray:
    """Integer codes per column: equal-width histogram bins, as in disentanglement_lib.

    A column with at most ``bins`` distinct values (a categorical factor) keeps one bin per value.
    """
    values = np.asarray(values)
    out = np.zeros(values.shape, np.int64)
    for j in range(values.shape[1]):
        column = values[:, j]
        distinct = np.unique(column)
        if len(distinct) <= bins:
            out[:, j] = np.searchsorted(distinct, column)
        else:
            edges = np.histogram(column, bins)[1][:-1]
            out[:, j] = np.digitize(column, edges) - 1
    return out


def entropy(labels: np.ndarray) -> float:
    """Entropy (nats) of a discrete variable from its samples."""
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Mutual information (nats) of two discrete variables from paired samples (plug-in estimate)."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    nonzero = joint > 0
    return float(np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])))


def mutual_information_gap(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> tuple[float, np.ndarray]:
    """MIG (Chen et al., 2018) with discretised codes and factors, and its per-factor gaps.

    For each factor v_k: (I(z_a; v_k) - I(z_b; v_k)) / H(v_k), where z_a and z_b are the two code
    dimensions sharing most information with v_k; MIG is the mean over factors. 1 means each
    factor is captured by exactly one code dimension, 0 that no dimension stands out. Codes and
    continuous factors are discretised into ``bins`` equal-width bins (disentanglement_lib's
    ``discrete_mig``); constant factors are skipped.
    """
    codes, factors = discretize(codes, bins), discretize(factors, bins)
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least two code dimensions")
    gaps = []
    for k in range(factors.shape[1]):
        h = entropy(factors[:, k])
        if h <= 0:
            gaps.append(np.nan)
            continue
        information = sorted((mutual_information(codes[:, j], factors[:, k]) for j in range(codes.shape[1])),
                             reverse=True)
        gaps.append((information[0] - information[1]) / h)
    gaps_array = np.asarray(gaps)
    return float(np.nanmean(gaps_array)), gaps_array


def cluster_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Best-matching-cluster accuracy: the fraction right under the best one-to-one cluster -> label map.

    The map is found with the Hungarian algorithm on the cluster/label contingency table; it is
    the unsupervised clustering accuracy used for e.g. GMVAE and VaDE.
    """
    from scipy.optimize import linear_sum_assignment

    _, labels = np.unique(labels, return_inverse=True)
    _, clusters = np.unique(clusters, return_inverse=True)
    counts = np.zeros((clusters.max() + 1, labels.max() + 1))
    np.add.at(counts, (clusters, labels), 1.0)
    rows, columns = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, columns].sum() / len(labels))


def majority_cluster_accuracy(
    train_labels: np.ndarray, train_clusters: np.ndarray, test_labels: np.ndarray, test_clusters: np.ndarray
) -> float:
    """Test accuracy when each cluster predicts the majority label of the training examples in it.

    The many-to-one evaluation of Makhzani et al. (2016, section 6) for clusterings with more
    clusters than classes (16 clusters for 10 digits), where a one-to-one map (``cluster_accuracy``)
    would leave clusters unmatched. Test examples in a cluster no training example fell into count
    as wrong; training labels < 0 (unlabelled) are ignored.
    """
    train_labels, train_clusters = np.asarray(train_labels), np.asarray(train_clusters)
    labelled = train_labels >= 0
    majority = {
        cluster: np.bincount(train_labels[labelled & (train_clusters == cluster)]).argmax()
        for cluster in np.unique(train_clusters[labelled])
    }
    predicted = np.array([majority.get(cluster, -1) for cluster in np.asarray(test_clusters)])
    return float(np.mean(predicted == np.asarray(test_labels)))


def linear_probe_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    l2: float = 1e-4,
    max_iterations: int = 500,
) -> float:
    """Test accuracy of multinomial logistic regression fitted on (train_codes, train_labels).

    Features are standardised with the training statistics; the weights minimise the mean
    cross-entropy plus ``l2 * |W|^2`` with L-BFGS (scipy). A linearly separable code gives 1.0.
    """
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    classes, y = np.unique(train_labels, return_inverse=True)
    mean, std = train_codes.mean(0), train_codes.std(0) + 1e-8
    x = (np.asarray(train_codes, np.float64) - mean) / std
    n, d = x.shape
    c = len(classes)
    onehot = np.eye(c)[y]

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * c].reshape(d, c), theta[d * c :]
        log_p = log_softmax(x @ w + b, axis=1)
        residual = (np.exp(log_p) - onehot) / n
        loss = -np.sum(onehot * log_p) / n + l2 * np.sum(w**2)
        return loss, np.concatenate([(x.T @ residual + 2 * l2 * w).ravel(), residual.sum(0)])

    theta = minimize(loss_and_gradient, np.zeros(d * c + c), jac=True, method="L-BFGS-B",
                     options={"maxiter": max_iterations}).x
    w, b = theta[: d * c].reshape(d, c), theta[d * c :]
    predicted = classes[np.argmax(((np.asarray(test_codes, np.float64) - mean) / std) @ w + b, axis=1)]
    return float(np.mean(predicted == np.asarray(test_labels)))


def pca_2d(codes: np.ndarray) -> np.ndarray:
    """Project ``[N, d]`` codes onto their first two principal components (codes of width <= 2 as they are)."""
    codes = np.asarray(codes, np.float64)
    if codes.shape[1] <= 2:
        return codes
    centred = codes - codes.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T
