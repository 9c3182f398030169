"""``genkit.compare`` / ``genkit compare RUN_DIR...``: several runs side by side.

A table of what differs in their specs, their final training metrics and their evaluation
(``metrics_eval.json``, where ``genkit evaluate`` or ``genkit report`` wrote one), printed with
rich and written with the loss curves overlaid as one self-contained HTML page.
"""

from __future__ import annotations

import html
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genkit.errors import GenkitError
from genkit.results.evaluation import format_value
from genkit.results.pictures import save_loss_curves
from genkit.results.report import STYLE, data_uri, training_seconds
from genkit.runs.directory import write_atomic
from genkit.runs.layout import EVAL_FILE, SPEC_FILE
from genkit.runs.report import read_evaluation, read_history
from genkit.spec.schema import dotted_keys
from genkit.spec.yaml_source import read_yaml_file

#: Log entries that are bookkeeping, not results (the training time is summed from ``seconds``).
_NOT_COMPARED = ("epoch", "step", "seconds", "examples_per_second")


@dataclass
class Comparison:
    """Runs side by side: each section maps a row name to one value per run (None where a run has none)."""

    runs: list[Path]
    #: Spec settings (dotted keys) whose values differ between the runs.
    spec: dict[str, list[Any]] = field(default_factory=dict)
    #: The last epoch's metrics, with ``epochs`` and ``training_seconds``.
    training: dict[str, list[Any]] = field(default_factory=dict)
    #: The numbers of each run's ``metrics_eval.json``.
    evaluation: dict[str, list[Any]] = field(default_factory=dict)
    histories: list[list[dict[str, float]]] = field(default_factory=list, repr=False)

    @property
    def names(self) -> list[str]:
        """Column titles: each run directory's name (its path when two names clash)."""
        names = [run.name for run in self.runs]
        return names if len(set(names)) == len(names) else [str(run) for run in self.runs]


def _rows(per_run: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Row name -> the value of each run, rows in the order they first appear."""
    keys = list(dict.fromkeys(key for values in per_run for key in values))
    return {key: [values.get(key) for values in per_run] for key in keys}


def compare(run_dirs: list[str | Path] | tuple[str | Path, ...], out: str | Path | None = None) -> Comparison:
    """Compare run directories; with ``out``, write the comparison as an HTML page there.

    Reads each run's ``spec.yaml``, ``metrics.csv`` and (if present) ``metrics_eval.json``; no
    model is loaded, so comparing is quick and works for runs whose plugins are not installed.
    """
    runs = [Path(run) for run in run_dirs]
    if not runs:
        raise GenkitError("compare needs at least one run directory")
    specs, training, evaluations, histories = [], [], [], []
    for run in runs:
        if not (run / SPEC_FILE).is_file():
            raise GenkitError(f"{run} is not a genkit run directory ({SPEC_FILE} is missing)")
        specs.append(dotted_keys(read_yaml_file(run / SPEC_FILE)[0]))
        history = read_history(run)
        histories.append(history)
        last = {k: v for k, v in (history[-1] if history else {}).items() if k not in _NOT_COMPARED}
        training.append({"epochs": len(history), "training_seconds": training_seconds(history), **last})
        evaluation = read_evaluation(run) or {}
        evaluations.append({k: v for k, v in evaluation.items() if isinstance(v, int | float)})
    comparison = Comparison(
        runs,
        spec={key: values for key, values in _rows(specs).items() if len({repr(v) for v in values}) > 1},
        training=_rows(training),
        evaluation=_rows(evaluations),
        histories=histories,
    )
    if out is not None:
        write_atomic(Path(out), comparison_page(comparison))
    return comparison


def _cell(name: str, value: Any) -> str:
    return "-" if value is None else format_value(name, value)


def print_comparison(comparison: Comparison, console: Any = None) -> None:
    """The comparison as one rich table: spec differences (highlighted), training, evaluation."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="runs compared", title_justify="left")
    table.add_column("", overflow="fold")
    for name in comparison.names:
        table.add_column(escape(name), justify="right", overflow="fold")
    sections = [("spec differences", comparison.spec, "bold yellow"), ("training, last epoch", comparison.training,
                                                                        ""), ("evaluation", comparison.evaluation, "")]
    for title, rows, style in sections:
        if not rows:
            continue
        table.add_section()
        table.add_row(f"[bold]{escape(title)}[/bold]", *[""] * len(comparison.runs))
        for name, values in rows.items():
            table.add_row(escape(name), *(escape(_cell(name, v)) for v in values), style=style or None)
    if not comparison.spec:
        table.add_section()
        table.add_row("[dim]the specs are identical[/dim]", *[""] * len(comparison.runs))
    (console or Console()).print(table)


def comparison_page(comparison: Comparison) -> str:
    """The HTML page: the table (spec differences highlighted) and the loss curves of every run overlaid."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in comparison.names)
    body = []
    for title, rows, css in (("spec differences", comparison.spec, "differs"),
                             ("training, last epoch", comparison.training, ""),
                             (f"evaluation ({EVAL_FILE})", comparison.evaluation, "")):
        body.append(f'<tr><th colspan="{len(comparison.runs) + 1}" class=section>{html.escape(title)}</th></tr>')
        if not rows:
            body.append(f'<tr><td colspan="{len(comparison.runs) + 1}">'
                        f"{'identical' if css else 'none (genkit evaluate RUN_DIR writes it)'}</td></tr>")
        for name, values in rows.items():
            cells = "".join(f"<td class=num>{html.escape(_cell(name, v))}</td>" for v in values)
            body.append(f'<tr class="{css}"><td>{html.escape(name)}</td>{cells}</tr>')
    sections = ["<h1>genkit: runs compared</h1>",
                "<p>" + ", ".join(html.escape(str(run.resolve())) for run in comparison.runs) + "</p>",
                f"<table><tr><th></th>{head}</tr>{''.join(body)}</table>"]
    if any(comparison.histories):
        with tempfile.TemporaryDirectory() as scratch:
            curves = Path(scratch) / "curves.png"
            save_loss_curves(curves, dict(zip(comparison.names, comparison.histories, strict=True)))
            sections += ["<h2>Loss curves</h2>",
                         f'<figure><img alt="loss curves" src="{data_uri(curves)}"><figcaption>Training (solid) '
                         "and validation (dashed) curves of every run, one colour per run.</figcaption></figure>"]
    style = STYLE + "tr.differs td { background: #fff2b3; font-weight: 600; } th.section { text-align: left; " \
        "padding-top: 1em; } th { padding: 0.2em 0.8em; }"
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>genkit: runs compared</title>"
            f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n")
