"""Evaluation that can be compared with papers: ELBO, importance-weighted log p(x), latent metrics.

:func:`evaluate_model` computes, for a model and data, arrays or a stream read a batch at a time
(``genkit.evaluate(run_dir)`` and ``genkit evaluate RUN_DIR`` call it on a run's test split,
:mod:`genkit.runs.evaluate`):

- the ELBO and its two terms (reconstruction -E_q log p(x|z) and KL(q(z|x) || p(z)));
- the importance-weighted estimate of log p(x) with k samples (Burda et al., 2016), computed in
  chunks over examples *and* over samples so that k = 5000 on 10,000 MNIST images fits in memory;
- reconstruction error (MSE; binary cross-entropy for binary data), active units, and the MMD
  between the aggregate posterior and the prior;
- with labels: a linear probe on the posterior means and, for clustering models (those with a
  ``classify`` method), the best-matching-cluster accuracy; with known generative factors: MIG,
  and on a dataset that renders factor combinations the beta-VAE, FactorVAE, SAP and DCI scores;
- for models that sample images: FID and precision/recall in genkit's own feature network.

Data binarized during training are binarized once, with a fixed seed, for evaluation (the
standard stochastic binarization of the test set), so numbers are reproducible. A conditional
model (CVAE, M2) is evaluated under the split's own labels as its condition: its bounds are of
log p(x|y).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkit.assembly.model import GenerativeAutoencoder
from genkit.assembly.streaming import StreamedSplit, first_examples
from genkit.errors import GenkitError
from genkit.plugin.dataset import ArrayData, FactorDataset
from genkit.results import metrics as latent_metrics
from genkit.results.features import MAX_EXAMPLES, feature_network
from genkit.results.pictures import is_image
from genkit.training.callbacks import format_number

tfd = tfp.distributions

#: How many (example, importance sample) pairs one compiled pass decodes by default.
PAIRS_PER_PASS = 20_000
#: Evaluations of fewer (example, importance sample) pairs in all run their passes as plain graphs:
#: XLA's compilation of a pass takes about 2 s (2.3 of the 2.8 s of ``genkit evaluate -k 4`` on 50
#: shapes), which its ~1.5x faster passes repay only at around this much work (an estimate).
XLA_MIN_PAIRS = 1_000_000

#: Points drawn from the aggregate posterior and from the prior for the MMD.
MMD_POINTS = 2000

#: Per-example codes (posterior means, labels, factors, clusters) kept for the probe, the cluster
#: accuracies and MIG: those of the first this many examples, so memory stays bounded.
CODES_KEPT = 100_000

#: Default budgets of the metrics that render or sample (each 0 turns its metrics off): rendered
#: examples of independent factor combinations for SAP, DCI and the FactorVAE variances; groups of
#: 64 examples sharing one factor for the beta-VAE and FactorVAE scores (two batches per group for
#: beta-VAE); model samples and data images for FID and precision/recall. On 64 x 64 sprites these
#: render about 120,000 images: 20 s of CPU time with an MLP encoder.
FACTOR_POINTS = 6000
FACTOR_GROUPS = 600
QUALITY_SAMPLES = 2000

#: What each metric means, for the printed table and the report.
DESCRIPTIONS: dict[str, str] = {
    "examples": "examples evaluated",
    "elbo": "evidence lower bound, nats per example (higher is better)",
    "elbo_reconstruction": "-E_q[log p(x|z)], nats per example",
    "elbo_kl": "KL(q(z|x) || p(z)), nats per example",
    "log_likelihood": "importance-weighted estimate of log p(x) with k samples (Burda et al.)",
    "k": "importance samples per example",
    "reconstruction_mse": "mean squared error of decode(encode(x)), per value",
    "reconstruction_bce": "binary cross-entropy of decode(encode(x)), nats per example",
    "active_units": "latent dimensions with Cov_x(E_q[z|x]) > 0.01 (Burda et al.)",
    "latent_dim": "latent dimensions",
    "mmd": "MMD^2 between aggregate posterior and prior (IMQ kernel)",
    "linear_probe_accuracy": "logistic regression on posterior means, trained on the train split",
    "cluster_accuracy": "best-matching-cluster accuracy (Hungarian matching)",
    "majority_cluster_accuracy": "accuracy when each cluster predicts its training majority label",
    "mig": "mutual information gap (Chen et al. 2018), discretised, mean over factors",
    "beta_vae_score": "accuracy telling the factor two batches share from |z_a - z_b| (Higgins et al. 2017; "
                      "chance is 1/factors)",
    "factor_vae_score": "accuracy telling the fixed factor from the least-varying normalised dimension "
                        "(Kim and Mnih 2018; chance is 1/factors)",
    "sap": "separated attribute predictability: best minus second-best dimension per factor (Kumar et al. 2018)",
    "dci_disentanglement": "DCI: does each dimension capture one factor (Eastwood and Williams 2018, lasso)",
    "dci_completeness": "DCI: is each factor captured by one dimension",
    "dci_informativeness": "DCI: test R^2 or chance-corrected accuracy of linear predictions of the factors",
    "fid": "Frechet distance of samples to test images in genkit's feature network (comparable only within it)",
    "precision": "fraction of samples inside the k=3 NN manifold of test images (Kynkaanniemi et al. 2019)",
    "recall": "fraction of test images inside the k=3 NN manifold of samples (Kynkaanniemi et al. 2019)",
    "feature_accuracy": "test accuracy of the classifier whose features FID, precision and recall use",
    "quality_samples": "samples and test images compared by FID, precision and recall",
    "seconds": "wall time of the evaluation",
}


def _seed(seed: int, counter: int) -> tf.Tensor:
    return tf.constant([seed, counter], tf.int32)


def _progress_bar(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=True, disable=not enabled)


def condition_labels(model: GenerativeAutoencoder, arrays: ArrayData) -> np.ndarray | None:
    """The labels a conditional model sees ``arrays`` under (the data's own); None for unconditional models."""
    if not model.conditional:
        return None
    if arrays.y is None:
        raise GenkitError(_UNLABELLED)
    return arrays.y


_UNLABELLED = "this model is conditional: it needs data with labels (its condition), and these have none"


def _batch_condition(model: GenerativeAutoencoder, batch: dict[str, np.ndarray]) -> tf.Tensor | None:
    """The condition of one batch of :func:`data_batches`: its own labels (None for unconditional models)."""
    if not model.conditional:
        return None
    if "y" not in batch:
        raise GenkitError(_UNLABELLED)
    return model.condition_of(batch["y"])


def _conditions(model: GenerativeAutoencoder, labels: np.ndarray | None, start: int, size: int) -> tf.Tensor | None:
    """The condition of examples ``start .. start + size - 1`` (None for unconditional models)."""
    return None if labels is None else model.condition_of(labels[start : start + size])


def _require_density(model: GenerativeAutoencoder, what: str) -> None:
    if model.posterior.deterministic:
        raise GenkitError(f"{what} needs a stochastic posterior q(z|x); this model's encoder is deterministic")
    if model.prior is None or model.prior.sample_only:
        raise GenkitError(f"{what} needs a prior with a density p(z); this model has none")


def _iwae_plan(model: GenerativeAutoencoder, k: int, batch_size: int, samples_per_pass: int | None,
               examples: int) -> tuple[Callable[..., tf.Tensor], list[int]]:
    """The compiled pass and the number of samples of each pass, for k importance samples of each
    of ``examples`` examples (XLA-compiled from :data:`XLA_MIN_PAIRS` pairs in all)."""
    _require_density(model, "the importance-weighted log-likelihood")
    if k < 1:
        raise GenkitError(f"k must be at least 1, got {k}")
    per_pass = samples_per_pass or max(1, min(k, PAIRS_PER_PASS // batch_size))
    fn = _log_weights_logsumexp_fn(model)
    compiled = _compiled(fn) if examples * k >= XLA_MIN_PAIRS else tf.function(fn)
    return compiled, [min(per_pass, k - start) for start in range(0, k, per_pass)]


def _log_px_batch(log_weights_logsumexp: Callable[..., tf.Tensor], x: np.ndarray, condition: tf.Tensor | None,
                  passes: list[int], seed: int, batch_index: int, advance: Callable[[], None]) -> np.ndarray:
    """The k-sample estimate of log p(x) (log p(x|y) under ``condition``) for one batch (batch
    ``batch_index`` of its dataset): a running log-sum-exp over the passes, so memory does not grow with k."""
    chunk = tf.constant(x)
    total = np.full(len(x), -np.inf)
    for pass_index, samples in enumerate(passes):
        pass_seed = _seed(seed, batch_index * len(passes) + pass_index)
        total = np.logaddexp(total, log_weights_logsumexp(chunk, condition, samples, pass_seed).numpy())
        advance()
    return total - math.log(sum(passes))


def importance_weighted_log_likelihood(
    model: GenerativeAutoencoder,
    x: np.ndarray,
    k: int = 1000,
    batch_size: int = 100,
    samples_per_pass: int | None = None,
    seed: int = 0,
    progress: bool = False,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Per-example estimate of log p(x) (log p(x|y) under ``labels`` for a conditional model) with
    ``k`` importance samples from q(z|x) (Burda et al., 2016).

        log p(x) ~ logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)] - log k,   z_i ~ q(z|x)

    A lower bound in expectation that tightens as k grows; k = 1 is the (one-sample) ELBO.
    ``batch_size`` examples are taken at a time and their k samples are drawn
    ``samples_per_pass`` at a time (default: about 20,000 example-sample pairs per pass), each
    pass one vectorised call of a ``tf.function`` (XLA-compiled from :data:`XLA_MIN_PAIRS` pairs);
    the running log-sum-exp over passes is exact, so memory does not grow with k.
    """
    log_weights_logsumexp, passes = _iwae_plan(model, k, batch_size, samples_per_pass, len(x))
    x = np.asarray(x, np.float32)
    starts = range(0, len(x), batch_size)
    with _progress_bar(progress) as bar:
        task = bar.add_task(f"log p(x), k={k}", total=len(starts) * len(passes))
        parts = [_log_px_batch(log_weights_logsumexp, x[start : start + batch_size],
                               _conditions(model, labels, start, batch_size), passes, seed, index,
                               lambda: bar.advance(task)) for index, start in enumerate(starts)]
    return np.concatenate(parts) if parts else np.zeros(0)


def _log_weights_logsumexp_fn(model: GenerativeAutoencoder) -> Callable[..., tf.Tensor]:
    """(x batch, its condition or None, number of samples, seed) -> logsumexp over the samples of the
    log importance weights."""

    def log_weights_logsumexp(chunk: tf.Tensor, condition: tf.Tensor | None, samples: int,
                              pass_seed: tf.Tensor) -> tf.Tensor:
        return tf.reduce_logsumexp(model.log_importance_weights(chunk, condition, pass_seed, samples), axis=0)

    return log_weights_logsumexp


def _compiled(fn: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
    """``fn`` as an XLA-compiled ``tf.function`` (about 1.5x faster on CPU for an MLP VAE), falling
    back to a plain ``tf.function`` if a plugin's ops cannot be compiled by XLA."""
    from genkit.quiet import native_stderr_silenced

    state = {"xla": tf.function(fn, jit_compile=True), "plain": tf.function(fn)}

    def call(*args: Any) -> tf.Tensor:
        if state["xla"] is not None:
            try:
                with native_stderr_silenced():  # XLA logs its start-up and each compilation
                    return state["xla"](*args)
            except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.NotFoundError):
                state["xla"] = None
        return state["plain"](*args)

    return call


def _mean_code(model: GenerativeAutoencoder, q: Any) -> tf.Tensor:
    """The posterior's point summary of each example of ``q``, flattened: E_q[z] by default, the
    code itself for a deterministic encoder, and for a flow posterior (whose mean has no closed
    form) the flow of its base distribution's mean, as ``model.encode`` gives."""
    code = model.posterior.point(q)
    return tf.reshape(code, [tf.shape(code)[0], -1])


def _posterior_summaries(model: GenerativeAutoencoder, x: np.ndarray, seed: int, index: int,
                         condition: tf.Tensor | None = None) -> dict[str, np.ndarray]:
    """For batch ``index`` (under ``condition`` for a conditional model): posterior means (the code
    for deterministic encoders), one draw z ~ q(z|x) each, and the reconstructions."""
    q = model.posterior_distribution(tf.constant(x), condition)
    point = model.posterior.point(q)
    n = int(point.shape[0])
    return {"means": _mean_code(model, q).numpy(),
            "draws": tf.reshape(q.sample(seed=_seed(seed, 10_000 + index)), [n, -1]).numpy(),
            "reconstructions": model.likelihood.mean(model.likelihood_distribution(point, condition)).numpy()}


def per_dimension_kl(model: GenerativeAutoencoder, x: np.ndarray, labels: np.ndarray | None = None,
                     batch_size: int = 500) -> np.ndarray | None:
    """The mean over ``x`` of KL(q(z_d|x) || p(z_d)) for each latent dimension d, in nats (a
    conditional model's posterior q(z|x, y) takes the examples' ``labels``).

    Defined when the posterior and an unconditional prior both factorise over the dimensions
    (``tfd.Independent`` of one-dimensional distributions, e.g. a diagonal Gaussian against
    N(0, I)) and TFP knows their KL in closed form; None otherwise (a full covariance, a mixture
    or flow prior, a deterministic encoder).
    """
    if model.posterior.deterministic or model.prior is None or model.prior.sample_only or model.prior.conditional:
        return None
    prior = model.prior_distribution()
    if not isinstance(prior, tfd.Independent):
        return None
    sums = np.zeros(model.latent_dim)
    for start in range(0, len(x), batch_size):
        condition = None if labels is None else model.condition_of(labels[start : start + batch_size])
        q = model.posterior_distribution(tf.constant(x[start : start + batch_size]), condition)
        if not isinstance(q, tfd.Independent):
            return None
        try:
            kl = tfd.kl_divergence(q.distribution, prior.distribution)
        except NotImplementedError:
            return None
        sums += np.sum(kl.numpy().reshape(-1, model.latent_dim), axis=0)
    return sums / len(x)


def _binarized(model: GenerativeAutoencoder, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` as the likelihood scores it, drawing from ``rng`` if training binarized the data
    (dynamically, or statically: data binarized already stay as they are); stateful, so batch
    after batch draws what one call on all the examples would."""
    if model.binarize == "none":
        return np.asarray(x, np.float32)
    return (rng.uniform(size=x.shape) < x).astype(np.float32)


def evaluation_inputs(model: GenerativeAutoencoder, x: np.ndarray, seed: int = 0) -> np.ndarray:
    """The data as the model's likelihood scores it: binarized once with a fixed seed if training
    binarized them, unchanged otherwise."""
    return _binarized(model, x, np.random.default_rng([seed, 5]))


def data_batches(data: ArrayData | StreamedSplit, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """The examples of ``data`` in order, ``batch_size`` at a time, as numpy ``x`` (float32) and,
    where the data have them, ``y`` and ``factors``: arrays sliced, streams read a batch at a time."""
    if isinstance(data, StreamedSplit):
        for batch in data.examples().batch(batch_size).prefetch(1):
            yield {key: value.numpy() for key, value in batch.items()}
        return
    for start in range(0, len(data), batch_size):
        columns = {"x": data.x, "y": data.y, "factors": data.factors}
        yield {key: value[start : start + batch_size] for key, value in columns.items() if value is not None}


@dataclass
class _Kept:
    """Per-example values of the first :data:`CODES_KEPT` examples (the metrics that need them all)."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    count: int = 0

    def add(self, **values: np.ndarray | None) -> None:
        room = CODES_KEPT - self.count
        if room <= 0:
            return
        for key, value in values.items():
            if value is not None:
                self.parts.setdefault(key, []).append(np.asarray(value)[:room])
        self.count += min(room, len(next(v for v in values.values() if v is not None)))

    def get(self, key: str) -> np.ndarray | None:
        """The kept values of ``key`` (None if no batch had them)."""
        return np.concatenate(self.parts[key]) if key in self.parts else None

    def means(self) -> np.ndarray:
        """The kept posterior means (every batch has them)."""
        return np.concatenate(self.parts["means"])


@dataclass
class _Totals:
    """Sums over every example of a pass through the data (float64), for the means at the end."""

    examples: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    values: int = 0
    binary: bool = True
    shift: np.ndarray | None = None  # the first batch's mean code: the variance sums stay well conditioned
    code_sum: Any = 0.0
    code_squares: Any = 0.0
    draws: list[np.ndarray] = field(default_factory=list)

    def add(self, key: str, per_example: np.ndarray) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + float(np.sum(per_example, dtype=np.float64))

    def add_codes(self, means: np.ndarray, draws: np.ndarray) -> None:
        means = means.astype(np.float64)
        if self.shift is None:
            self.shift = means.mean(axis=0)
        self.code_sum = self.code_sum + np.sum(means - self.shift, axis=0)
        self.code_squares = self.code_squares + np.sum((means - self.shift) ** 2, axis=0)
        taken = sum(len(d) for d in self.draws)
        if taken < MMD_POINTS:
            self.draws.append(draws[: MMD_POINTS - taken])

    def mean(self, key: str) -> float:
        return self.sums[key] / self.examples

    def code_variances(self) -> np.ndarray:
        centred = self.code_sum / self.examples
        return np.maximum(self.code_squares / self.examples - centred**2, 0.0)


def _codes_of(model: GenerativeAutoencoder, data: ArrayData | StreamedSplit, batch_size: int, seed: int,
              binarize_seed: int) -> _Kept:
    """Posterior means, labels and cluster indices of the first examples of (training) data."""
    kept, rng = _Kept(), np.random.default_rng([binarize_seed, 5])
    for index, batch in enumerate(data_batches(data, batch_size)):
        if kept.count >= CODES_KEPT:
            break
        x = _binarized(model, batch["x"], rng)
        means = _posterior_summaries(model, x, seed, index, _batch_condition(model, batch))["means"]
        clusters = np.asarray(model.classify(x)) if model.has_classifier else None
        kept.add(means=means, y=batch.get("y"), clusters=clusters)
    return kept


def disentanglement_scores(
    model: GenerativeAutoencoder,
    dataset: FactorDataset,
    points: int = FACTOR_POINTS,
    groups: int = FACTOR_GROUPS,
    batch_size: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """The beta-VAE, FactorVAE, SAP and DCI scores of the model's posterior means on examples
    ``dataset`` renders (see :mod:`genkit.results.metrics` for each score).

    SAP and DCI use ``points`` independent factor combinations (two thirds fit, one third scores),
    the beta-VAE score ``groups`` pairs of 64-example batches, the FactorVAE score ``groups``
    batches and ``points`` examples for its variances; a budget of 0 leaves its scores out. The
    rendered images are binarized as the model's data were. Empty for a conditional model (its
    codes depend on a condition the factors do not give) and for fewer than two varying factors.
    """
    grid = dataset.grid
    if model.conditional or sum(size > 1 for size in grid.sizes) < 2:
        return {}
    rng = np.random.default_rng([seed, 23])
    mean_code = tf.function(lambda x: _mean_code(model, model.posterior_distribution(x)), autograph=False,
                            input_signature=[tf.TensorSpec([None, *model.data_shape], tf.float32)])

    def represent(factors: np.ndarray) -> np.ndarray:
        x = evaluation_inputs(model, dataset.render(factors), int(rng.integers(2**31)))
        return np.concatenate([mean_code(tf.constant(x[i : i + batch_size])).numpy()
                               for i in range(0, len(x), batch_size)])

    results: dict[str, float] = {}
    if groups > 1:
        results["beta_vae_score"] = latent_metrics.beta_vae_score(represent, grid.sizes, rng, groups)
    if groups > 1 and points > 1:
        results["factor_vae_score"] = latent_metrics.factor_vae_score(represent, grid.sizes, rng, groups, points)
    if points > 2 and model.latent_dim >= 2:
        factors = grid.sample(points, rng)
        codes = represent(factors)
        results["sap"], _ = latent_metrics.sap_score(codes, factors, grid.categorical)
        scores, _ = latent_metrics.dci(codes, factors, grid.categorical)
        results.update({f"dci_{name}": value for name, value in scores.items()})
    return results


def sample_quality(
    model: GenerativeAutoencoder,
    arrays: ArrayData,
    train: ArrayData,
    samples: int = QUALITY_SAMPLES,
    seed: int = 0,
    cache: str | Path | None = None,
) -> dict[str, Any]:
    """FID and precision/recall of ``samples`` model samples against as many images of ``arrays``.

    Both are computed in the feature space of genkit's classifier trained on the labelled images of
    ``train`` (:func:`genkit.results.features.feature_network`, cached in ``cache``), so they are
    comparable only between evaluations that share it. A conditional model samples the labels of
    the images it is compared with. Also reports the classifier's accuracy on those images.
    """
    if train.y is None or arrays.y is None:
        raise GenkitError("FID and precision/recall need labelled images: their feature network is a classifier")
    network = feature_network(train.x, train.y, cache=cache)
    n = min(samples, len(arrays))
    real = arrays.x[:n]
    generated = model.sample(n, labels=arrays.y[:n] if model.conditional else None, seed=seed)
    real_features, generated_features = network.features(real), network.features(generated)
    precision, recall = latent_metrics.precision_recall(real_features, generated_features)
    return {"fid": latent_metrics.frechet_distance(real_features, generated_features), "precision": precision,
            "recall": recall, "feature_accuracy": network.accuracy(real, arrays.y[:n]), "quality_samples": n}


def evaluate_model(
    model: GenerativeAutoencoder,
    data: ArrayData | StreamedSplit,
    train: ArrayData | StreamedSplit | None = None,
    *,
    split: str = "given",
    k: int = 1000,
    batch_size: int = 100,
    samples_per_pass: int | None = None,
    seed: int = 0,
    progress: bool = True,
    factors: FactorDataset | None = None,
    factor_points: int = FACTOR_POINTS,
    factor_groups: int = FACTOR_GROUPS,
    quality_samples: int = QUALITY_SAMPLES,
    feature_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Every metric that applies to ``model`` on ``data`` (the ``split`` named in the results).

    ``data`` are arrays or a stream: either way they are read once, ``batch_size`` examples at a
    time, so a test split that does not fit in memory is evaluated in bounded memory (sums over
    every example; posterior means, labels and factors of the first :data:`CODES_KEPT` examples
    for the linear probe, cluster accuracies and MIG; the first :data:`MMD_POINTS` posterior draws
    for the MMD), and arrays and a stream of the same examples give the same numbers.
    ``train`` (labelled training data) lets the linear probe and the majority-cluster accuracy
    learn their mappings, and trains the feature network of FID and precision/recall (cached in
    ``feature_cache``, default :func:`genkit.results.features.cache_dir`). ``k`` is the number of
    importance samples for log p(x); ``batch_size`` and ``samples_per_pass`` bound memory (see
    :func:`importance_weighted_log_likelihood`). ``factors``, a dataset that renders factor
    combinations, adds the disentanglement scores with budgets ``factor_points`` and
    ``factor_groups`` (:func:`disentanglement_scores`); ``quality_samples`` bounds FID and
    precision/recall (:func:`sample_quality`). Metrics that do not apply (an ELBO for a
    deterministic encoder, a probe without labels, FID for points or a model that cannot sample)
    are left out. A conditional model sees each split under its own labels.
    """
    started = time.perf_counter()
    stochastic = not model.posterior.deterministic
    has_density = model.prior is not None and not model.prior.sample_only
    totals, kept, rng = _Totals(), _Kept(), np.random.default_rng([seed, 5])
    plan = _iwae_plan(model, k, batch_size, samples_per_pass, len(data)) if stochastic and has_density else None
    batches = -(-len(data) // batch_size)
    with _progress_bar(progress) as bar:
        task = bar.add_task(f"evaluation, k={k}", total=batches * (len(plan[1]) if plan else 1))
        for index, batch in enumerate(data_batches(data, batch_size)):
            x = _binarized(model, batch["x"], rng)
            condition = _batch_condition(model, batch)
            totals.examples += len(x)
            if plan is not None:
                terms = model.elbo_terms(x, batch.get("y") if model.conditional else None, seed=seed,
                                         batch_size=batch_size, first_batch=index)
                for key in ("elbo", "reconstruction", "kl"):
                    totals.add(key, terms[key])
                totals.add("log_px", _log_px_batch(plan[0], x, condition, plan[1], seed, index,
                                                   lambda: bar.advance(task)))
            else:
                bar.advance(task)
            summary = _posterior_summaries(model, x, seed, index, condition)
            totals.add("squared_error", (summary["reconstructions"] - x) ** 2)
            totals.values += x.size
            totals.binary = totals.binary and bool(np.all((x == 0) | (x == 1)))
            p = np.clip(summary["reconstructions"], 1e-7, 1 - 1e-7).reshape(len(x), -1)
            flat = x.reshape(len(x), -1)
            totals.add("bce", -np.sum(flat * np.log(p) + (1 - flat) * np.log1p(-p), axis=1))
            totals.add_codes(summary["means"], summary["draws"])
            clusters = np.asarray(model.classify(x)) if model.has_classifier and "y" in batch else None
            kept.add(means=summary["means"], y=batch.get("y"), factors=batch.get("factors"), clusters=clusters)

    results: dict[str, Any] = {"split": split, "examples": totals.examples, "latent_dim": model.latent_dim}
    if plan is not None:
        results.update(elbo=totals.mean("elbo"), elbo_reconstruction=totals.mean("reconstruction"),
                       elbo_kl=totals.mean("kl"), k=k, log_likelihood=totals.mean("log_px"))
    results["reconstruction_mse"] = totals.sums["squared_error"] / totals.values
    if totals.binary:
        results["reconstruction_bce"] = totals.mean("bce")
    variances = totals.code_variances()
    results["active_units"] = int(np.sum(variances > latent_metrics.ACTIVE_UNIT_THRESHOLD))
    if model.prior is not None:
        draws = np.concatenate(totals.draws)
        n = len(draws)
        labels_kept = kept.get("y")  # a conditional prior draws under the labels of the first examples
        condition = model.condition_of(labels_kept[:n]) if model.conditional and labels_kept is not None else None
        prior_draws = model.sample_prior(n, _seed(seed, 20_000), condition).numpy()
        results["mmd"] = latent_metrics.mmd_squared(draws, prior_draws.reshape(n, -1))
    results.update(_label_metrics(model, kept, train, batch_size, seed))
    factor_values = kept.get("factors")
    if factor_values is not None and model.latent_dim >= 2:
        mig, gaps = latent_metrics.mutual_information_gap(kept.means(), factor_values)
        results["mig"] = mig
        names = _factor_names(data) or [str(i) for i in range(len(gaps))]
        results.update({f"mig_{name}": float(gap) for name, gap in zip(names, gaps, strict=True) if np.isfinite(gap)})
    if factors is not None:
        results.update(disentanglement_scores(model, factors, factor_points, factor_groups, batch_size, seed))
    labels = kept.get("y")
    if (train is not None and labels is not None and labels.ndim == 1 and is_image(model.data_shape)
            and model.can_sample and min(quality_samples, totals.examples) > latent_metrics.NEIGHBOURS):
        compared, labelled_train = first_examples(data, quality_samples), first_examples(train, MAX_EXAMPLES)
        if labelled_train.y is not None:
            results.update(sample_quality(model, compared, labelled_train, quality_samples, seed, feature_cache))
    results["seconds"] = round(time.perf_counter() - started, 2)
    return results


def _factor_names(data: ArrayData | StreamedSplit) -> list[str]:
    return list(data.factor_names if isinstance(data, ArrayData) else data.stream.factor_names)


def _label_metrics(model: GenerativeAutoencoder, kept: _Kept, train: ArrayData | StreamedSplit | None,
                   batch_size: int, seed: int) -> dict[str, float]:
    """The linear probe and cluster accuracies, for data with class labels."""
    y, results = kept.get("y"), {}
    if y is None or y.ndim != 1:
        return {}
    clusters = kept.get("clusters")
    learned = _codes_of(model, train, batch_size, seed, seed + 1) if train is not None else None
    train_y = None if learned is None else learned.get("y")
    if learned is not None and train_y is not None:
        results["linear_probe_accuracy"] = latent_metrics.linear_probe_accuracy(
            learned.means(), train_y, kept.means(), y)
        train_clusters = learned.get("clusters")
        if clusters is not None and train_clusters is not None:
            results["majority_cluster_accuracy"] = latent_metrics.majority_cluster_accuracy(
                train_y, train_clusters, y, clusters)
    if clusters is not None:
        results["cluster_accuracy"] = latent_metrics.cluster_accuracy(y, clusters)
    return results


def describe(name: str) -> str:
    """The table description of a metric (per-factor MIG entries included)."""
    if name.startswith("mig_"):
        return f"MIG gap of factor '{name[4:]}'"
    return DESCRIPTIONS.get(name, "")


def format_value(name: str, value: Any) -> str:
    """A metric as a person reads it: numbers as the training log shows them (4 significant digits,
    whole counts, seconds to 0.1 s), anything else as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format_number(name, value)


def print_metrics(results: dict[str, Any], title: str = "evaluation", console: Any = None) -> None:
    """The results as a rich table: metric, value, what it means."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("metric", "value", "meaning"):
        table.add_column(column, overflow="fold")
    for name, value in results.items():
        table.add_row(escape(name), escape(format_value(name, value)), escape(describe(name)))
    (console or Console()).print(table)
