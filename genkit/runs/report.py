"""``genkit report``: a run's pictures and a self-contained report.html in its directory."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from genkit.assembly.data import evaluation_data
from genkit.assembly.streaming import first_examples
from genkit.errors import GenkitError
from genkit.results.report import CAPTIONS, make_pictures, render_report
from genkit.runs.directory import write_atomic
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


def write_report(run_dir: str | Path, seed: int = 0) -> Path:
    """Make the run's pictures (RUN_DIR/pictures) and write ``report.html`` (spec, metrics, pictures)."""
    run_dir = Path(run_dir)
    model = load(run_dir)
    spec = load_spec(run_dir / SPEC_FILE)
    try:
        split = evaluation_data(spec, "test")
    except GenkitError:  # a dataset without a test split: draw the pictures from the training data
        split = evaluation_data(spec, "train")
    arrays = first_examples(split, PICTURED_EXAMPLES)  # a streamed split is read only that far
    history = read_history(run_dir)
    made = make_pictures(model, arrays, run_dir / PICTURES_DIR, history, seed)
    figures = [(CAPTIONS[name], path) for name, path in made.items()]
    figures += [(f"{path.name}, saved in the run directory.", path) for path in sorted(run_dir.glob("*.png"))]
    evaluation_file = run_dir / EVAL_FILE
    evaluation = json.loads(evaluation_file.read_text()) if evaluation_file.is_file() else None
    subtitle = (f"{run_dir.resolve()} · model '{spec.model}', latent dimension {model.latent_dim}, "
                f"{model.count_params():,} parameters")
    page = render_report(spec.name, subtitle, evaluation, history, figures, (run_dir / SPEC_FILE).read_text(),
                         f"genkit evaluate {run_dir}")
    out = run_dir / REPORT_FILE
    write_atomic(out, page)
    return out
