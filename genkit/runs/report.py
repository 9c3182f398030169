"""``genkit report``: a run's pictures and a self-contained report.html in its directory."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Any

from genkit.assembly.data import evaluation_data
from genkit.assembly.streaming import first_examples
from genkit.errors import GenkitError
from genkit.results.report import CAPTIONS, make_pictures, render_report
from genkit.runs.directory import write_atomic
from genkit.runs.evaluate import evaluate
from genkit.runs.layout import EVAL_FILE, METRICS_FILE, SPEC_FILE
from genkit.runs.load import load
from genkit.spec.resolve import load_spec

PICTURES_DIR = "pictures"
#: The examples the pictures are drawn from (make_pictures looks at no more).
PICTURED_EXAMPLES = 2000
REPORT_FILE = "report.html"


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """The rows of ``metrics.csv`` as floats (empty if the run has none)."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


#: Importance samples of the log-likelihood when the report evaluates a run itself (``genkit
#: evaluate`` defaults to 1000; 100 keeps a report of a small run to seconds).
REPORT_K = 100


def read_evaluation(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``metrics_eval.json`` (None if it has not been evaluated)."""
    path = run_dir / EVAL_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def write_report(run_dir: str | Path, out: str | Path | None = None, seed: int = 0, progress: bool = True) -> Path:
    """Write ``report.html`` (default: in the run directory) with the run's evaluation, training summary,
    pictures and spec; return its path.

    The evaluation is ``metrics_eval.json``; a run without one is evaluated first (k =
    :data:`REPORT_K`, with a progress bar unless ``progress`` is false) and the file written; a
    run that cannot be evaluated gets a report that says why. The
    pictures go to ``RUN_DIR/pictures``, or with ``out`` to a temporary folder (they are inlined in
    the page either way), so a report written elsewhere leaves the run directory as it was.
    """
    run_dir = Path(run_dir)
    model = load(run_dir)
    spec = load_spec(run_dir / SPEC_FILE)
    split = "test"
    try:
        data = evaluation_data(spec, split)
    except GenkitError:  # a dataset without a test split: draw the pictures from the training data
        split = "train"
        data = evaluation_data(spec, split)
    arrays = first_examples(data, PICTURED_EXAMPLES)  # a streamed split is read only that far
    evaluation: dict[str, Any] | str | None = read_evaluation(run_dir)
    if evaluation is None:
        try:
            evaluation = evaluate(run_dir, split=split, k=REPORT_K, seed=seed, progress=progress, write=out is None)
        except GenkitError as err:  # e.g. a model whose data evaluation cannot read
            evaluation = str(err)
    history = read_history(run_dir)
    subtitle = (f"{run_dir.resolve()} · model '{spec.model}', latent dimension {model.latent_dim}, "
                f"{model.count_params():,} parameters")
    target = Path(out) if out is not None else run_dir / REPORT_FILE
    with tempfile.TemporaryDirectory() as scratch:
        made = make_pictures(model, arrays, Path(scratch) if out is not None else run_dir / PICTURES_DIR, history,
                             seed)
        figures = [(CAPTIONS[name], path) for name, path in made.items()]
        page = render_report(spec.name, subtitle, evaluation, history, figures, (run_dir / SPEC_FILE).read_text())
    write_atomic(target, page)
    return target
