"""The ``genkit`` command line: run, resume, validate, list, evaluate, sample, report, export, data, new-plugin.

A user's mistake (any :class:`GenkitError`) prints one paragraph on stderr and exits with 2;
no traceback (a lost worker of a multi-worker cluster likewise, with 75). Ctrl-C exits with 130
(after a checkpoint and a line saying how to resume, when training). TensorFlow is imported
lazily and quietly, after the arguments are parsed.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from genkit.scaffold import TEMPLATES

EXIT_USER_ERROR = 2
EXIT_WORKER_LOST = 75  # EX_TEMPFAIL: another worker of the cluster stopped; restart with --resume
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001 - warnings API
    return f"warning: {message}\n"


def _user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn GenkitError into a clean message and exit code 2 (75 when a worker of the cluster was lost),
    Ctrl-C into one line and exit code 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from genkit.quiet import import_tensorflow_quietly

        warnings.formatwarning = _format_warning
        import_tensorflow_quietly()
        from genkit.errors import GenkitError, WorkerLost
        from genkit.plugin.registry import import_plugins

        try:
            for target in click.get_current_context().find_root().params.get("imports", ()):
                import_plugins(target)
            return command(*args, **kwargs)
        except WorkerLost as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_WORKER_LOST)
        except GenkitError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt as err:  # TrainingInterrupted carries the resume command
            click.echo(str(err) or "interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="genkit")
@click.option(
    "--import", "imports", multiple=True, metavar="MODULE_OR_FILE",
    help="Import a module (by name) or a .py file (by path) that registers plugins with genkit.register, "
    "before the command runs; repeatable. For quick experiments without packaging a plugin.",
)
def main(imports: tuple[str, ...]) -> None:
    """genkit: generative autoencoders from plugin components (TensorFlow, TFP, Keras 3)."""


@main.command()
@click.argument("spec_file", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(file_okay=False), help="Run directory (default: runs/<spec name>).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in the run directory from its last checkpoint.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or per-epoch lines.")
@_user_errors
def run(spec_file: str, out: str | None, overwrite: bool, resume: bool, quiet: bool) -> None:
    """Train the model SPEC_FILE describes and write a run directory."""
    from genkit.errors import GenkitError
    from genkit.spec.resolve import load_spec
    from genkit.training.strategy import start_multi_worker

    if resume and overwrite:
        raise GenkitError("--resume continues a run and --overwrite replaces it; pass one of them")
    start_multi_worker()  # a TF_CONFIG cluster must be joined before spec validation runs TensorFlow
    spec = load_spec(spec_file)
    _train_and_report(spec, Path(out) if out else Path("runs") / spec.name, overwrite, resume, quiet)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or per-epoch lines.")
@_user_errors
def resume(run_dir: str, quiet: bool) -> None:
    """Continue the training run in RUN_DIR from its last good checkpoint (its own spec.yaml)."""
    from genkit.errors import GenkitError
    from genkit.runs.layout import SPEC_FILE
    from genkit.spec.resolve import load_spec
    from genkit.training.strategy import start_multi_worker

    if not (Path(run_dir) / SPEC_FILE).is_file():
        raise GenkitError(f"cannot resume {run_dir}: it is not a genkit run directory ({SPEC_FILE} is missing)")
    start_multi_worker()
    _train_and_report(load_spec(Path(run_dir) / SPEC_FILE), Path(run_dir), False, True, quiet)


def _train_and_report(spec: Any, out_dir: Path, overwrite: bool, resume: bool, quiet: bool) -> None:
    from genkit.runs.train import train

    result = train(spec, out_dir, overwrite=overwrite, resume=resume, progress=not quiet)
    last = result.history[-1]
    click.echo(f"done: {result.run_dir} (final loss {last['loss']:.4f}" +
               (f", validation loss {last['val_loss']:.4f})" if "val_loss" in last else ")"))


@main.command()
@click.argument("spec_file", type=click.Path(dir_okay=False))
@click.option("--show", is_flag=True, help="Print the resolved spec (every default filled in).")
@_user_errors
def validate(spec_file: str, show: bool) -> None:
    """Check SPEC_FILE (keys, types, plugin arguments, data, assembly) without training."""
    from genkit.runs.train import prepare
    from genkit.spec.resolve import load_spec
    from genkit.spec.yaml_source import dump_yaml

    spec = load_spec(spec_file)
    data, model = prepare(spec)
    if show:
        click.echo(dump_yaml(spec.to_dict()), nl=False)
    click.echo(
        f"ok: {spec_file} is valid: model '{spec.model}', {model.count_params():,} parameters, "
        f"{len(data.train)} training examples of shape {data.data_shape}"
    )


@main.command(name="list")
@click.argument("kind", required=False)
@_user_errors
def list_components(kind: str | None) -> None:
    """Print registered components (of KIND, or all) with their arguments and summaries."""
    from rich.console import Console
    from rich.table import Table

    from genkit.errors import GenkitError
    from genkit.plugin.registry import KINDS, registry
    from genkit.plugin.signature import spec_arguments

    if kind is not None:
        kind = kind.rstrip("s") if kind.rstrip("s") in KINDS else kind
        if kind not in KINDS:
            raise GenkitError(f"unknown component kind '{kind}'; kinds are: {', '.join(KINDS)}")
    terminal = Console()
    # a terminal gets its own width; a pipe or file gets lines wide enough never to split a name
    console = terminal if terminal.is_terminal else Console(width=240)
    for name in [kind] if kind else list(KINDS):
        table = Table(title=f"{name}s", title_justify="left", show_lines=False)
        for column in ("name", "arguments", "description", "package"):
            table.add_column(column, overflow="fold")
        for entry in registry(name).entries():
            arguments = ", ".join(a.describe() for a in spec_arguments(entry.obj)) or "-"
            table.add_row(entry.name, arguments, entry.summary, entry.origin)
        console.print(table)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--data", "data", type=click.Path(dir_okay=False),
              help="Spec file whose data section to evaluate on (default: the run's own spec).")
@click.option("--split", default="test", show_default=True, help="Which split of the data.")
@click.option("-k", "k", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Importance samples per example for log p(x).")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(min=1),
              help="Examples per batch (memory grows with batch size x samples per pass).")
@click.option("--seed", default=0, show_default=True, help="Seed of the sampling and the test binarization.")
@_user_errors
def evaluate(run_dir: str, data: str | None, split: str, k: int, batch_size: int, seed: int) -> None:
    """Compute test metrics of RUN_DIR (ELBO, log p(x), latent metrics); write metrics_eval.json."""
    from genkit.results.evaluation import print_metrics
    from genkit.runs.evaluate import evaluate as evaluate_run
    from genkit.runs.layout import EVAL_FILE

    results = evaluate_run(run_dir, data, split=split, k=k, batch_size=batch_size, seed=seed)
    print_metrics(results, title=f"{run_dir} ({split} split)")
    click.echo(f"written: {Path(run_dir) / EVAL_FILE}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-n", "--n", "n", default=64, show_default=True, type=click.IntRange(min=1), help="How many samples.")
@click.option("--label", type=int, help="Class to sample (conditional models only).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="PNG picture, or .npy for the raw array (default: RUN_DIR/sample.png).")
@click.option("--seed", type=int, help="Sampling seed (default: the run's seed).")
@click.option("--sampler", "sampler", metavar="NAME",
              help="Draw the codes from a latent sampler fitted to the training codes (e.g. gmm): fitted and saved "
              "in RUN_DIR/samplers the first time, reused after (default: the spec's sampler, else the prior).")
@_user_errors
def sample(run_dir: str, n: int, label: int | None, out: str | None, seed: int | None, sampler: str | None) -> None:
    """Draw N samples from the model in RUN_DIR and save them as a picture (or array)."""
    import numpy as np

    from genkit.results.pictures import save_samples
    from genkit.results.report import sample_images
    from genkit.runs.load import load
    from genkit.runs.samplers import run_sampler

    model = load(run_dir)
    if sampler is not None:
        model.sampler = run_sampler(Path(run_dir), model, sampler)
    samples = sample_images(model, n, label, seed)
    path = Path(out) if out else Path(run_dir) / "sample.png"
    if path.suffix == ".npy":
        np.save(path, samples)
    else:
        save_samples(path, samples)
    click.echo(f"written: {path}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@_user_errors
def report(run_dir: str) -> None:
    """Write RUN_DIR/report.html: spec, metrics and every picture, in one file that opens offline."""
    from genkit.runs.report import write_report

    click.echo(f"written: {write_report(run_dir)}")


@main.command(name="export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT_DIR.")
@_user_errors
def export_command(run_dir: str, out_dir: str, overwrite: bool) -> None:
    """Export the model of RUN_DIR as a TensorFlow SavedModel in OUT_DIR, with serving signatures
    encode, decode and sample (for TF Serving or any TensorFlow binding; genkit is not needed to load it)."""
    from genkit.runs.export import export
    from genkit.runs.load import load

    model = load(run_dir)
    export(model, out_dir, overwrite=overwrite)
    names = "encode, decode" + (", sample" if model.can_sample else " (no prior or sampler, so no sample)")
    click.echo(f"exported: {out_dir} (signatures: {names})")


@main.group()
def data() -> None:
    """Datasets: convert files, folders and generated datasets into TFRecord shards or image folders."""


@data.command()
@click.argument("source")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--to", "to", type=click.Choice(["tfrecord", "image_folder"]), default="tfrecord", show_default=True,
              help="What to write: sharded TFRecord files with genkit-tfrecord.json, or a folder of PNG files.")
@click.option("--type", "kind", metavar="DATASET",
              help="The source's dataset type (default: from SOURCE: a folder is image_folder, or tfrecord when it "
              "holds genkit-tfrecord.json; .npz, .h5, .npy by their ending; a dataset name is that dataset).")
@click.option("--arg", "args", multiple=True, metavar="KEY=VALUE",
              help="An argument of the source dataset, as in a spec's data entry (e.g. images=x_train); repeatable.")
@click.option("--split", "splits", multiple=True,
              help="A split to write (repeatable; default: train, and test when the source has one).")
@click.option("--examples-per-shard", default=4096, show_default=True, type=click.IntRange(min=1),
              help="Examples per TFRecord shard.")
@_user_errors
def convert(source: str, out_dir: str, to: str, kind: str | None, args: tuple[str, ...], splits: tuple[str, ...],
            examples_per_shard: int) -> None:
    """Write SOURCE (a .npz, .h5 or .npy file, an image folder, or a dataset name such as colour_shapes)
    into OUT_DIR as TFRecord shards or PNG files, a piece at a time."""
    from genkit.runs.convert import convert as convert_source
    from genkit.runs.convert import parse_arguments

    written = convert_source(source, out_dir, to=to, kind=kind, args=parse_arguments(args), splits=splits,
                             examples_per_shard=examples_per_shard)
    counts = ", ".join(f"{split}: {count:,} examples" for split, count in written.items())
    click.echo(f"written: {out_dir} ({counts})")


@main.command(name="new-plugin")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(sorted(TEMPLATES)), help="The component kind.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Output directory (default: ./genkit-NAME).")
@_user_errors
def new_plugin_command(name: str, kind: str, directory: str | None) -> None:
    """Write a pip-installable package for a new plugin NAME of --kind: pyproject.toml with the entry
    point, the plugin class, a conformance test and an example spec."""
    from genkit.scaffold import new_plugin

    root = new_plugin(kind, name, directory)
    click.echo(
        f"created {root}\nnext: pip install -e {root} && genkit list {kind} && "
        f"genkit run {root / 'examples' / (name + '.yaml')}"
    )


if __name__ == "__main__":
    main()
