"""``genkit.evaluate``: the metrics of a run (or a model) on a split of its data, written to the run.

(The module is not named like the function on purpose: ``genkit.evaluate`` must stay the
function, and a top-level submodule of that name would shadow it.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genkit.assembly.data import evaluation_data
from genkit.assembly.model import GenerativeAutoencoder
from genkit.assembly.streaming import StreamedSplit
from genkit.errors import GenkitError
from genkit.plugin.dataset import ArrayData
from genkit.results.evaluation import evaluate_model
from genkit.runs.directory import write_atomic
from genkit.runs.layout import EVAL_FILE, SPEC_FILE
from genkit.runs.load import load
from genkit.spec.resolve import load_spec


def _resolve(source: str | Path | GenerativeAutoencoder, data: Any, split: str) -> tuple[
        GenerativeAutoencoder, Path | None, ArrayData | StreamedSplit, ArrayData | StreamedSplit | None]:
    """(model, run dir or None, evaluation split, train split or None) from evaluate's arguments;
    splits of data that stream are streamed (:func:`~genkit.assembly.data.evaluation_data`)."""
    if isinstance(source, GenerativeAutoencoder):
        model, run_dir = source, None
    else:
        run_dir = Path(source)
        model = load(run_dir)
    if isinstance(data, ArrayData):
        return model, run_dir, data, None
    if data is None:
        if run_dir is None:
            raise GenkitError("evaluating a model object needs data: an ArrayData or a spec file")
        data = run_dir / SPEC_FILE
    spec = load_spec(data)
    evaluation = evaluation_data(spec, split)
    shape = tuple(evaluation.x.shape[1:]) if isinstance(evaluation, ArrayData) else evaluation.example_shape
    if shape != model.data_shape:
        raise GenkitError(f"the data have examples of shape {shape}, but the model was trained on shape "
                          f"{model.data_shape}")
    if isinstance(evaluation, ArrayData):
        labelled = evaluation.y is not None and evaluation.y.ndim == 1
    else:
        labelled = evaluation.stream.label_shape == ()
    train = evaluation_data(spec, "train") if labelled and split != "train" else None
    return model, run_dir, evaluation, train


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
) -> dict[str, Any]:
    """Every metric that applies to the model and data; written to ``metrics_eval.json`` in the run dir.

    ``source`` is a run directory or a model. ``data`` is a spec file whose ``data`` section to
    use (default: the run's own spec) or an :class:`ArrayData` to evaluate directly. ``k`` is the
    number of importance samples for log p(x); ``batch_size`` and ``samples_per_pass`` bound
    memory. Metrics that do not apply (an ELBO for a deterministic encoder, a probe without labels
    or when evaluating the train split the probe learns from) are left out.
    """
    model, run_dir, arrays, train = _resolve(source, data, split)
    results = evaluate_model(model, arrays, train, split=split if not isinstance(data, ArrayData) else "given",
                             k=k, batch_size=batch_size, samples_per_pass=samples_per_pass, seed=seed,
                             progress=progress)
    if write and run_dir is not None:
        write_atomic(run_dir / EVAL_FILE, json.dumps(results, indent=2) + "\n")
    return results
