"""``genkit.evaluate``: the metrics of a run (or a model) on a split of its data, written to the run.

(The module is not named like the function on purpose: ``genkit.evaluate`` must stay the
function, and a top-level submodule of that name would shadow it.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genkit.assembly.data import describe_data, evaluation_data
from genkit.assembly.model import GenerativeAutoencoder
from genkit.assembly.streaming import StreamedSplit, first_examples
from genkit.errors import GenkitError
from genkit.plugin.dataset import ArrayData, FactorDataset
from genkit.plugin.instantiate import instantiate
from genkit.results.evaluation import FACTOR_GROUPS, FACTOR_POINTS, QUALITY_SAMPLES, evaluate_model
from genkit.runs.directory import write_atomic
from genkit.runs.layout import EVAL_FILE, SPEC_FILE
from genkit.runs.load import load
from genkit.spec.resolve import load_spec

#: How many examples of a streamed split are checked against the model's likelihood.
CHECKED_EXAMPLES = 2000

#: File endings of data files, which ``--data`` is sometimes given instead of a spec.
DATA_SUFFIXES = (".npz", ".npy", ".h5", ".hdf5")


def _resolve(source: str | Path | GenerativeAutoencoder, data: Any, split: str) -> tuple[
        GenerativeAutoencoder, Path | None, ArrayData | StreamedSplit, ArrayData | StreamedSplit | None,
        FactorDataset | None]:
    """(model, run dir or None, evaluation split, train split or None, the dataset if it renders
    factor combinations) from evaluate's arguments; splits of data that stream are streamed
    (:func:`~genkit.assembly.data.evaluation_data`)."""
    if isinstance(source, GenerativeAutoencoder):
        model, run_dir = source, None
    else:
        run_dir = Path(source)
        model = load(run_dir)
    if isinstance(data, ArrayData):
        return model, run_dir, data, None, None
    if data is None:
        if run_dir is None:
            raise GenkitError("evaluating a model object needs data: an ArrayData or a spec file")
        data = run_dir / SPEC_FILE
    if isinstance(data, (str, Path)) and Path(data).suffix.lower() in DATA_SUFFIXES:
        raise GenkitError(f"--data takes a spec file whose data section names the data to evaluate on, but {data} "
                          "is a data file; copy the run's spec.yaml and point its data section at the file "
                          f"(type: npz or h5, path: {data})")
    spec = load_spec(data)
    dataset = instantiate("dataset", spec.dataset_entry, "data")
    evaluation = evaluation_data(spec, split)
    shape = tuple(evaluation.x.shape[1:]) if isinstance(evaluation, ArrayData) else evaluation.example_shape
    if shape != model.data_shape:
        raise GenkitError(f"the data have examples of shape {shape}, but the model was trained on shape "
                          f"{model.data_shape}")
    # data in memory are checked whole, streamed data on their first examples (reading all would cost a pass)
    checked = evaluation if isinstance(evaluation, ArrayData) else first_examples(evaluation, CHECKED_EXAMPLES)
    problem = model.likelihood.check_data(checked.x)
    if problem:
        raise GenkitError(f"{describe_data(spec)} ({split} split) does not fit the model's likelihood: {problem}")
    if isinstance(evaluation, ArrayData):
        labelled = evaluation.y is not None and evaluation.y.ndim == 1
    else:
        labelled = evaluation.stream.label_shape == ()
    train = evaluation_data(spec, "train") if labelled and split != "train" else None
    return model, run_dir, evaluation, train, dataset if isinstance(dataset, FactorDataset) else None


def evaluate(
    source: str | Path | GenerativeAutoencoder,
    data: str | Path | ArrayData | None = None,
    *,
    split: str = "test",
    k: int = 1000,
    batch_size: int = 100,
    samples_per_pass: int | None = None,
    seed: int = 0,
    progress: bool = True,
    write: bool = True,
    factor_points: int = FACTOR_POINTS,
    factor_groups: int = FACTOR_GROUPS,
    quality_samples: int = QUALITY_SAMPLES,
    feature_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Every metric that applies to the model and data; written to ``metrics_eval.json`` in the run dir.

    ``source`` is a run directory or a model. ``data`` is a spec file whose ``data`` section to
    use (default: the run's own spec) or an :class:`ArrayData` to evaluate directly. ``k`` is the
    number of importance samples for log p(x); ``batch_size`` and ``samples_per_pass`` bound
    memory. A dataset that renders factor combinations (``sprites``) adds the disentanglement
    scores, on ``factor_points`` examples and ``factor_groups`` groups; labelled images add FID and
    precision/recall of ``quality_samples`` samples, in the features of a classifier trained on the
    training split and cached in ``feature_cache`` (see :func:`genkit.results.evaluation.evaluate_model`).
    Metrics that do not apply (an ELBO for a deterministic encoder, a probe without labels or when
    evaluating the train split the probe learns from) are left out.
    """
    model, run_dir, arrays, train, factors = _resolve(source, data, split)
    results = evaluate_model(model, arrays, train, split=split if not isinstance(data, ArrayData) else "given",
                             k=k, batch_size=batch_size, samples_per_pass=samples_per_pass, seed=seed,
                             progress=progress, factors=factors, factor_points=factor_points,
                             factor_groups=factor_groups, quality_samples=quality_samples,
                             feature_cache=feature_cache)
    if write and run_dir is not None:
        write_atomic(run_dir / EVAL_FILE, json.dumps(results, indent=2) + "\n")
    return results
