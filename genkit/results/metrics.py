"""Metrics on plain arrays: latent metrics, disentanglement scores and sample quality in a feature space.

Latent metrics: active units, MMD, cluster accuracies, a linear probe. Disentanglement: MIG, SAP
and DCI on codes of known factors; the beta-VAE and FactorVAE scores on a function from factor
combinations to codes (they need examples that share one factor). Sample quality: the Fréchet
distance and k-NN precision and recall between two sets of features. Each function takes numpy
arrays (or a function returning them) and returns numbers, so it can be tested on synthetic
codes and features with known answers and reused on any model's outputs. The classifiers and
regressions they fit are small linear models solved with scipy's L-BFGS-B.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class LinearModel:
    """A fitted linear map on standardised inputs: scores ``((x - mean) / std) @ weights + bias``.

    A classifier when ``classes`` is set (it predicts the class of the highest score), else a
    regression (it predicts the scores). ``weights`` are per standardised input, so their sizes
    compare across inputs (the DCI importances).
    """

    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    classes: np.ndarray | None = None

    def scores(self, x: np.ndarray) -> np.ndarray:
        """``[N, outputs]`` scores (class logits or regression predictions)."""
        return ((np.asarray(x, np.float64) - self.mean) / self.std) @ self.weights + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted classes ``[N]`` of a classifier, predictions ``[N, outputs]`` of a regression."""
        scores = self.scores(x)
        return scores if self.classes is None else self.classes[np.argmax(scores, axis=1)]

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Fraction of ``x`` a classifier labels right."""
        return float(np.mean(self.predict(x) == np.asarray(labels)))


def _fit_linear(
    x: np.ndarray,
    loss: Callable[[np.ndarray], tuple[float, np.ndarray]],
    outputs: int,
    l1: float,
    l2: float,
    max_iterations: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardise ``x`` and minimise ``loss(scores) + l1 |W|_1 + l2 |W|^2`` over ``W`` and ``b``.

    ``loss`` maps the scores ``x W + b`` to (value, gradient with respect to the scores). With
    ``l1 > 0`` the weights are written as ``W = P - N`` with ``P, N >= 0``, which makes the L1 term
    linear, so L-BFGS-B (scipy) with bounds solves lasso-type problems exactly (unneeded weights
    end at 0); without L1 the weights are free (the split would converge slowly along P + N).
    Returns (mean, std, W, b).
    """
    from scipy.optimize import minimize

    x = np.asarray(x, np.float64)
    mean, std = x.mean(0), x.std(0) + 1e-8
    x = (x - mean) / std
    size, parts = x.shape[1] * outputs, 2 if l1 > 0 else 1
    signs = np.array([1.0, -1.0])[:parts, None, None]

    def weights_of(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        blocks = theta[: parts * size].reshape(parts, -1, outputs)
        return blocks, np.sum(signs * blocks, axis=0)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        blocks, weights = weights_of(theta)
        value, gradient = loss(x @ weights + theta[parts * size :])
        value += l1 * blocks.sum() + l2 * np.sum(blocks**2)  # blocks >= 0 when l1 > 0
        block_gradient = signs * (x.T @ gradient) + l1 + 2 * l2 * blocks
        return value, np.concatenate([block_gradient.ravel(), gradient.sum(0)])

    bounds = [(0.0 if parts == 2 else None, None)] * (parts * size) + [(None, None)] * outputs
    theta = minimize(objective, np.zeros(parts * size + outputs), jac=True, method="L-BFGS-B", bounds=bounds,
                     options={"maxiter": max_iterations}).x
    return mean, std, weights_of(theta)[1], theta[parts * size :]


def fit_logistic_regression(
    x: np.ndarray, labels: np.ndarray, l2: float = 1e-4, l1: float = 0.0, max_iterations: int = 500
) -> LinearModel:
    """Multinomial logistic regression of ``labels`` on standardised ``x``: mean cross-entropy plus
    ``l2 |W|^2`` and ``l1 |W|_1``, fitted with L-BFGS-B (see :func:`_fit_linear`)."""
    from scipy.special import log_softmax

    classes, y = np.unique(labels, return_inverse=True)
    onehot = np.eye(len(classes))[y]
    n = len(onehot)

    def cross_entropy(scores: np.ndarray) -> tuple[float, np.ndarray]:
        log_p = log_softmax(scores, axis=1)
        return -float(np.sum(onehot * log_p)) / n, (np.exp(log_p) - onehot) / n

    return LinearModel(*_fit_linear(x, cross_entropy, len(classes), l1, l2, max_iterations), classes=classes)


def fit_lasso(x: np.ndarray, targets: np.ndarray, l1: float, max_iterations: int = 500) -> LinearModel:
    """Lasso regression of ``targets`` ``[N]`` (or ``[N, k]``) on standardised ``x``: half the mean
    squared error plus ``l1 |W|_1`` (scikit-learn's ``Lasso`` objective)."""
    targets = np.asarray(targets, np.float64).reshape(len(targets), -1)
    n = len(targets)

    def half_squared_error(scores: np.ndarray) -> tuple[float, np.ndarray]:
        residual = scores - targets
        return 0.5 * float(np.sum(residual**2)) / n, residual / n

    return LinearModel(*_fit_linear(x, half_squared_error, targets.shape[1], l1, 0.0, max_iterations))


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
    return fit_logistic_regression(train_codes, train_labels, l2, max_iterations=max_iterations).accuracy(
        test_codes, test_labels)


def pca_2d(codes: np.ndarray) -> np.ndarray:
    """Project ``[N, d]`` codes onto their first two principal components (codes of width <= 2 as they are)."""
    codes = np.asarray(codes, np.float64)
    if codes.shape[1] <= 2:
        return codes
    centred = codes - codes.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


# --- disentanglement scores on factors with known values ----------------------------------------
#
# The beta-VAE and FactorVAE scores need groups of examples that share one factor's value, so they
# take ``represent``: factor index rows [n, F] -> codes [n, d] (render, then encode), and ``sizes``,
# the number of values of each factor. SAP and DCI take codes of independently drawn factors.
# Hyper-parameters follow google-research/disentanglement_lib (evaluation/metrics/*.py and its
# unsupervised_study_v1 metric configs) unless said otherwise.

#: Examples in each group sharing one factor's value (disentanglement_lib: 64 for both scores).
GROUP_SIZE = 64
#: FactorVAE score: code dimensions whose standard deviation over the data is below this are
#: collapsed and cannot vote (disentanglement_lib's prune_dims.threshold).
PRUNE_THRESHOLD = 0.05
#: Factor rows per ``represent`` call, so that rendering and encoding use bounded memory.
ROWS_PER_CALL = 4096
#: DCI lasso strength, on standardised codes and factors scaled to [0, 1] (Eastwood and Williams' value).
DCI_L1 = 0.02
#: DCI: a factor predicted less well than this (test R^2 or chance-corrected accuracy) has no importance
#: to distribute: its fitted weights are noise, which the lasso leaves on one or two dimensions.
DCI_MIN_INFORMATIVENESS = 0.1


def _represent_in_chunks(represent: Callable[[np.ndarray], np.ndarray], factors: np.ndarray) -> np.ndarray:
    """``represent`` applied ``ROWS_PER_CALL`` rows at a time: codes ``[n, d]`` (float64)."""
    parts = [np.asarray(represent(factors[i : i + ROWS_PER_CALL]), np.float64).reshape(
        min(ROWS_PER_CALL, len(factors) - i), -1) for i in range(0, len(factors), ROWS_PER_CALL)]
    return np.concatenate(parts)


def _uniform(sizes: tuple[int, ...], shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Factor index rows ``[*shape, F]``, each factor uniform over its values and independent."""
    return np.stack([rng.integers(0, size, shape) for size in sizes], axis=-1)


def _grouped_factors(sizes: tuple[int, ...], groups: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(the factor each group fixes ``[groups]``, uniform factor draws ``[groups, GROUP_SIZE, F]``).

    Only factors with more than one value are fixed: fixing a constant factor changes nothing, so
    no score could tell it apart.
    """
    varying = np.flatnonzero(np.asarray(sizes) > 1)
    if len(varying) < 2:
        raise ValueError(f"the scores need at least two factors with more than one value, got sizes {sizes}")
    return rng.choice(varying, groups), _uniform(sizes, (groups, GROUP_SIZE), rng)


def _split(n: int, train_fraction: float) -> int:
    """How many of ``n`` items train (at least one on each side)."""
    return min(max(int(round(n * train_fraction)), 1), n - 1)


def beta_vae_score(
    represent: Callable[[np.ndarray], np.ndarray],
    sizes: tuple[int, ...],
    rng: np.random.Generator,
    groups: int = 1500,
    train_fraction: float = 2 / 3,
) -> float:
    """The beta-VAE disentanglement score (Higgins et al., 2017): how well a linear classifier tells
    which factor a pair of batches shares, from their mean absolute code difference.

    Each of ``groups`` points draws a factor k and two batches of ``GROUP_SIZE`` factor rows that
    agree on factor k (and are independent otherwise); its feature is the mean over the batch of
    ``|code(a) - code(b)|``, its label k. A logistic regression fitted on the first
    ``train_fraction`` of the points (with scikit-learn's default penalty, C = 1, as in the
    reference) is scored on the rest: the test accuracy. 1 when a code dimension ignores every
    factor but one; chance (1 / number of factors) when the code carries no factor.
    disentanglement_lib uses 10,000 training and 5,000 test points.
    """
    fixed, first = _grouped_factors(sizes, groups, rng)
    second = _uniform(sizes, (groups, GROUP_SIZE), rng)
    second[np.arange(groups), :, fixed] = first[np.arange(groups), :, fixed]
    rows = groups * GROUP_SIZE
    difference = np.abs(_represent_in_chunks(represent, first.reshape(rows, -1))
                        - _represent_in_chunks(represent, second.reshape(rows, -1)))
    features = difference.reshape(groups, GROUP_SIZE, -1).mean(axis=1)
    n_train = _split(groups, train_fraction)
    classifier = fit_logistic_regression(features[:n_train], fixed[:n_train], l2=0.5 / n_train)
    return classifier.accuracy(features[n_train:], fixed[n_train:])


def factor_vae_score(
    represent: Callable[[np.ndarray], np.ndarray],
    sizes: tuple[int, ...],
    rng: np.random.Generator,
    groups: int = 1500,
    variance_points: int = 10_000,
    train_fraction: float = 2 / 3,
    prune_threshold: float = PRUNE_THRESHOLD,
) -> float:
    """The FactorVAE disentanglement score (Kim and Mnih, 2018): how well a majority vote tells the
    factor a batch shares from the code dimension that varies least over the batch.

    Each code dimension is divided by its standard deviation over ``variance_points`` independent
    draws (dimensions with a standard deviation below ``prune_threshold`` are collapsed and left
    out). Each of ``groups`` points draws a factor k and a batch of ``GROUP_SIZE`` rows sharing
    factor k's value; its vote is the dimension of least normalised variance over the batch. Each
    dimension is assigned the factor it got most votes for on the first ``train_fraction`` of the
    points; the score is the fraction of the other points whose vote maps to their factor. 1 when
    fixing a factor freezes one dimension of its own; about chance (1 / number of factors) for a
    code unrelated to the factors; 0 when every dimension is collapsed. disentanglement_lib uses
    10,000 variance points, 10,000 training and 5,000 test points.
    """
    variances = np.var(_represent_in_chunks(represent, _uniform(sizes, (variance_points,), rng)), axis=0, ddof=1)
    active = np.flatnonzero(np.sqrt(variances) >= prune_threshold)
    if len(active) == 0:
        return 0.0
    fixed, factors = _grouped_factors(sizes, groups, rng)
    factors[np.arange(groups), :, fixed] = factors[np.arange(groups), :1, fixed]
    codes = _represent_in_chunks(represent, factors.reshape(groups * GROUP_SIZE, -1))
    local = np.var(codes.reshape(groups, GROUP_SIZE, -1)[:, :, active], axis=1, ddof=1)
    vote = np.argmin(local / variances[active], axis=1)  # an index into ``active``
    n_train = _split(groups, train_fraction)
    votes = np.zeros((len(sizes), len(active)), np.int64)
    np.add.at(votes, (fixed[:n_train], vote[:n_train]), 1)
    assigned = np.argmax(votes, axis=0)  # dimension -> factor
    return float(np.mean(assigned[vote[n_train:]] == fixed[n_train:]))


def _chance_corrected(accuracy: float, classes: int) -> float:
    """Accuracy rescaled so that guessing the classes at random gives 0 and being always right 1."""
    chance = 1.0 / classes
    return (accuracy - chance) / (1.0 - chance)


def sap_score(
    codes: np.ndarray, factors: np.ndarray, categorical: tuple[bool, ...], train_fraction: float = 2 / 3
) -> tuple[float, np.ndarray]:
    """SAP, the separated attribute predictability score (Kumar et al., 2018), and its per-factor gaps.

    A score matrix S[i, k] says how well code dimension i alone predicts factor k: for an ordered
    factor the squared correlation (the R^2 of a linear fit), for a categorical factor the test
    accuracy of a one-dimensional logistic regression fitted on the first ``train_fraction`` of the
    examples, chance-corrected (0 for guessing, 1 for always right) so that both kinds share one
    scale. A factor's gap is its best dimension's score minus its second best's; SAP is the mean
    gap. 1 when each factor is predicted by one dimension alone, 0 when by none or by two equally.
    disentanglement_lib treats every factor as categorical with raw accuracies and a linear SVM,
    which makes a perfect code score below 1 (its second-best dimension is at chance, not 0).
    Constant factors are skipped (their gap is NaN).
    """
    codes, factors = np.asarray(codes, np.float64), np.asarray(factors)
    if codes.shape[1] < 2:
        raise ValueError("SAP needs at least two code dimensions")
    n_train = _split(len(codes), train_fraction)
    gaps = np.full(factors.shape[1], np.nan)
    for k in range(factors.shape[1]):
        factor = factors[:, k]
        if np.unique(factor).size < 2:
            continue
        if categorical[k]:
            column = np.array([_chance_corrected(
                fit_logistic_regression(codes[:n_train, i : i + 1], factor[:n_train])
                .accuracy(codes[n_train:, i : i + 1], factor[n_train:]), np.unique(factor).size)
                for i in range(codes.shape[1])])
        else:
            centred, target = codes - codes.mean(0), factor - factor.mean()
            spread = np.sum(centred**2, 0)
            column = np.where(spread > 1e-12, (centred.T @ target) ** 2 / (np.maximum(spread, 1e-12)
                                                                            * np.sum(target**2)), 0.0)
        second, best = np.sort(column)[-2:]
        gaps[k] = best - second
    return float(np.nanmean(gaps)), gaps


def _normalised_entropy(p: np.ndarray, axis: int) -> np.ndarray:
    """Entropy of the distributions ``p`` along ``axis`` (normalised there), in units of log(size)."""
    p = p / np.maximum(p.sum(axis, keepdims=True), 1e-300)
    return -np.sum(p * np.log(np.maximum(p, 1e-300)), axis=axis) / np.log(p.shape[axis])


def dci(
    codes: np.ndarray,
    factors: np.ndarray,
    categorical: tuple[bool, ...],
    train_fraction: float = 2 / 3,
    l1: float = DCI_L1,
) -> tuple[dict[str, float], np.ndarray]:
    """DCI disentanglement, completeness and informativeness (Eastwood and Williams, 2018), lasso variant.

    For each factor, a linear model on the standardised codes is fitted on the first
    ``train_fraction`` of the examples: a lasso regression (L1 ``l1``) of the factor scaled to
    [0, 1] for an ordered factor, an L1-penalised multinomial logistic regression for a
    categorical one. Its absolute weights (summed over classes), normalised to sum to 1 per factor
    (as the tree importances of disentanglement_lib's gradient-boosted variant do), are the
    importance matrix R[dimension, factor]; a factor predicted with an informativeness below
    ``DCI_MIN_INFORMATIVENESS`` gets a column of zeros, since what is left of its weights fits
    noise and would look concentrated. Disentanglement is the mean over dimensions, weighted
    by their share of the importance, of 1 - the entropy of the dimension's row (normalised, base
    number of factors); completeness likewise per factor, over its column (base number of
    dimensions); informativeness the mean over factors of the test R^2 (ordered) or
    chance-corrected test accuracy (categorical), clipped to [0, 1]. All three are 1 for a code
    holding each factor in a dimension of its own; disentanglement and completeness fall by
    log 2 / log(size) where two dimensions share two factors evenly; all three are 0 for a code
    that predicts no factor. A linear model reads only what
    the code holds linearly, so a factor held in a curved code counts as partly missing.
    Constant factors are left out (R has a column per factor that varies). Returns the three
    scores and R.
    """
    codes, factors = np.asarray(codes, np.float64), np.asarray(factors)
    varying = [k for k in range(factors.shape[1]) if np.unique(factors[:, k]).size > 1]
    if codes.shape[1] < 2 or len(varying) < 2:
        raise ValueError("DCI needs at least two code dimensions and two factors that vary")
    n_train = _split(len(codes), train_fraction)
    train, test = codes[:n_train], codes[n_train:]
    columns, informativeness = [], []
    for k in varying:
        factor = factors[:, k]
        if categorical[k]:
            model = fit_logistic_regression(train, factor[:n_train], l2=0.0, l1=l1)
            informativeness.append(_chance_corrected(model.accuracy(test, factor[n_train:]), np.unique(factor).size))
        else:
            low, high = factor.min(), factor.max()
            scaled = (factor - low) / (high - low)
            model = fit_lasso(train, scaled[:n_train], l1)
            error = np.mean((model.predict(test)[:, 0] - scaled[n_train:]) ** 2)
            informativeness.append(1.0 - error / max(float(np.var(scaled[n_train:])), 1e-12))
        weight = np.abs(model.weights).sum(axis=1)
        predicted = informativeness[-1] >= DCI_MIN_INFORMATIVENESS and weight.sum() > 0
        columns.append(weight / weight.sum() if predicted else np.zeros_like(weight))
    importance = np.stack(columns, axis=1)
    total = max(float(importance.sum()), 1e-300)  # 0 when no code dimension predicts anything: scores 0
    scores = {
        "disentanglement": float(np.sum((1 - _normalised_entropy(importance, 1)) * importance.sum(1)) / total),
        "completeness": float(np.sum((1 - _normalised_entropy(importance, 0)) * importance.sum(0)) / total),
        "informativeness": float(np.mean(np.clip(informativeness, 0.0, 1.0))),
    }
    return scores, importance


# --- sample quality in a feature space ---------------------------------------------------------

#: Precision and recall: a point's neighbourhood radius is the distance to its k-th nearest
#: neighbour in its own set (Kynkäänniemi et al. 2019 use k = 3).
NEIGHBOURS = 3
#: Rows of one block of pairwise distances (a block of 1000 x N float64 distances in memory).
DISTANCE_BLOCK = 1000


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to features ``a`` [N, d] and ``b`` [M, d].

        |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))

    FID (Heusel et al., 2017) when the features are a network's. The trace of the matrix square
    root is the sum of the square roots of the eigenvalues of ``S_a^(1/2) S_b S_a^(1/2)`` (symmetric,
    positive semi-definite), which stays real and stable where ``scipy.linalg.sqrtm`` of the
    non-symmetric product can return complex noise. 0 for identical samples; grows as the
    distributions part.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)))
    distance = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    return float(max(distance, 0.0))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[len(a), len(b)]`` squared Euclidean distances."""
    return np.maximum(np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2.0 * a @ b.T, 0.0)


def _neighbourhood_radii(points: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of each point to its ``k``-th nearest other point of the same set."""
    radii = np.empty(len(points))
    for start in range(0, len(points), DISTANCE_BLOCK):
        block = _squared_distances(points[start : start + DISTANCE_BLOCK], points)
        radii[start : start + len(block)] = np.partition(block, k, axis=1)[:, k]  # index 0 is the point itself
    return radii


def _covered(queries: np.ndarray, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each query lies within some point's neighbourhood (the k-NN manifold of ``points``)."""
    inside = np.empty(len(queries), bool)
    for start in range(0, len(queries), DISTANCE_BLOCK):
        block = _squared_distances(queries[start : start + DISTANCE_BLOCK], points)
        inside[start : start + len(block)] = np.any(block <= radii[None, :], axis=1)
    return inside


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) of ``generated`` against ``real`` features.

    Each set's manifold is the union of balls around its points, each ball reaching the point's
    ``k``-th nearest neighbour in the set. Precision is the fraction of generated points inside the
    real manifold (are the samples realistic?); recall the fraction of real points inside the
    generated manifold (is all of the data covered?). Both about 1 for two samples of one
    distribution, 0 for disjoint ones.
    """
    real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)
    if min(len(real), len(generated)) <= k:
        raise ValueError(f"precision and recall with k = {k} need more than {k} points in each set")
    precision = _covered(generated, real, _neighbourhood_radii(real, k)).mean()
    recall = _covered(real, generated, _neighbourhood_radii(generated, k)).mean()
    return float(precision), float(recall)
