"""The ``genkit`` command line: run, resume, validate, list, evaluate, sample, report, compare, export,
data, new-plugin.

Every command that writes takes ``--out`` for where; an output you name that already exists is
refused unless ``--overwrite`` (the same flag, meaning the same, on every command). A run
directory's own derived files (``metrics_eval.json``, ``report.html``, ``sample.png``) are
refreshed in place when no ``--out`` is given.

A user's mistake (any :class:`GenkitError`, and a wrong option or argument) prints one paragraph
on stderr and exits with 2 (a lost worker of a multi-worker cluster: 75); no traceback, unless
``genkit --debug`` or ``GENKIT_DEBUG=1`` asks for it: then the full traceback, chained causes
included (a plugin's own exception is the cause of the error naming it), comes before the
paragraph. A stop signal at any moment, from start-up to exit,
prints one line and exits with 128 + the signal: 130 for Ctrl-C (SIGINT), 143 for SIGTERM; in
training, after its step and a checkpoint, with the line saying how to resume
(:mod:`genkit.signals`, :mod:`genkit.runs.directory`). TensorFlow is imported lazily and quietly,
after the arguments are parsed.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from genkit import signals
from genkit.scaffold import TEMPLATES

EXIT_USER_ERROR = 2
EXIT_WORKER_LOST = 75  # EX_TEMPFAIL: another worker of the cluster stopped; restart with --resume
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as shells report a Ctrl-C; SIGTERM gives 143

#: The largest seed the CLI takes (TensorFlow's stateless seeds are 32-bit integers).
MAX_SEED = 2**31 - 1
#: The most samples (or examples per batch) one option may ask for.
MAX_SAMPLES = 10**7
#: The most samples one picture shows.
MAX_PICTURE = 10_000

#: Set to anything but empty or 0, the environment variable that turns on ``--debug``.
DEBUG_VARIABLE = "GENKIT_DEBUG"


#: The help of ``--overwrite``, word for word the same on every command that has it.
OVERWRITE_HELP = ("Replace an existing output; without this flag an existing, non-empty output is refused "
                  "(a run directory is replaced only once the new run has finished; until then it is kept).")

overwrite_option = click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
log_format_option = click.option(
    "--log-format", type=click.Choice(["auto", "rich", "plain", "json"]), default="auto", show_default=True,
    help="How epochs are reported: rich (progress bar), plain (one fixed-column line per epoch), json (one "
    "object per line, for programs); auto is rich on a terminal and plain otherwise.",
)


def refuse_existing(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing file or non-empty directory at ``path`` unless ``overwrite``."""
    from genkit.errors import GenkitError

    taken = path.is_file() or (path.is_dir() and any(path.iterdir()))
    if taken and not overwrite:
        raise GenkitError(f"{path} already exists; choose another --out or pass --overwrite")


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001 - warnings API
    return f"warning: {message}\n"


def _interrupted(err: BaseException) -> int:
    """Print a stop's one line (its message says how to resume); return its exit code, 128 + the signal."""
    click.echo(str(err) or "interrupted", err=True)
    return 128 + getattr(err, "signum", signal.SIGINT)


def _user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn GenkitError into a clean message and exit code 2 (75 when a worker of the cluster was
    lost; after its traceback with ``--debug``), a stop signal into one line and 130 or 143.
    TensorFlow is imported (quietly) and the ``--import`` modules loaded before the command runs."""
    return _guarded(command, tensorflow=True)


def _user_errors_without_tensorflow(command: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`_user_errors` for a command that imports TensorFlow itself, only when it needs it
    (still first thing when there are ``--import`` modules, which register plugins)."""
    return _guarded(command, tensorflow=False)


def _guarded(command: Callable[..., Any], tensorflow: bool) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from genkit.errors import GenkitError, WorkerLost

        warnings.formatwarning = _format_warning
        root = click.get_current_context().find_root().params
        try:
            with signals.acting():  # a signal that came while the arguments were parsed stops here
                if tensorflow or root.get("imports"):
                    from genkit.quiet import import_tensorflow_quietly

                    import_tensorflow_quietly()
                from genkit.plugin.registry import import_plugins

                for target in root.get("imports", ()):
                    import_plugins(target)
                return command(*args, **kwargs)
        except WorkerLost as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_WORKER_LOST)
        except GenkitError as err:
            if root.get("debug") or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
                click.echo("".join(traceback.format_exception(err)), err=True, nl=False)
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt as err:  # genkit.errors.Interrupted: SIGINT or SIGTERM
            sys.exit(_interrupted(err))

    return wrapper


class SafePath(click.Path):
    """A path argument that is refused at once when it is empty or holds a NUL byte."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        if not text:
            self.fail("the path is empty", param, ctx)
        if "\0" in text:
            self.fail(f"the path contains a NUL byte: {text!r}", param, ctx)
        return super().convert(value, param, ctx)


class _Genkit(click.Group):
    """The ``genkit`` group: every outcome, usage errors and stop signals included, as one paragraph."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The console script: the stop signals are genkit's from the first moment to the process's
        end, which comes without an interpreter teardown (:func:`genkit.signals.exit_process`)."""
        signals.install()
        try:
            self.main(*args, **kwargs)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        signals.exit_process(code)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """Run a command; with ``standalone_mode`` exit with its code (0, 2 for a user error, 130/143 for a signal)."""
        code = 0
        with signals.handled():
            try:
                with signals.deferred():  # a signal while the arguments are parsed is acted on by the command
                    result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                code = result if isinstance(result, int) else 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            except click.ClickException as err:
                context = getattr(err, "ctx", None)  # usage errors know their command
                hint = f" (see: {context.command_path} --help)" if context is not None else ""
                message = err.format_message()
                click.echo(f"error: {message[:1].lower() + message[1:]}{hint}", err=True)
                code = err.exit_code
            except click.Abort as err:  # a second signal while parsing: click turned it into Abort
                code = _interrupted(err.__cause__ or err)
            except KeyboardInterrupt as err:
                code = _interrupted(err)
            late = signals.take()
            if late is not None and code == 0:
                click.echo(signals.LATE_MESSAGE, err=True)
                code = 128 + late
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=_Genkit, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tf-genkit")
@click.option(
    "--import", "imports", multiple=True, metavar="MODULE_OR_FILE",
    help="Import a module (by name) or a .py file (by path) that registers plugins with genkit.register, "
    "before the command runs; repeatable. For quick experiments without packaging a plugin.",
)
@click.option(
    "--debug", is_flag=True,
    help=f"On an error, print the full traceback (with the plugin exception that caused it) before the "
    f"message; the same as setting {DEBUG_VARIABLE}=1.",
)
def main(imports: tuple[str, ...], debug: bool) -> None:
    """genkit: generative autoencoders from plugin components (TensorFlow, TFP, Keras 3)."""


@main.command()
@click.argument("spec_file", type=SafePath(dir_okay=False))
@click.option("--out", "out", type=SafePath(file_okay=False), help="Run directory (default: runs/<spec name>).")
@overwrite_option
@click.option("--resume", is_flag=True, help="Continue the run in the run directory from its last checkpoint.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or per-epoch lines.")
@log_format_option
@_user_errors
def run(spec_file: str, out: str | None, overwrite: bool, resume: bool, quiet: bool, log_format: str) -> None:
    """Train the model SPEC_FILE describes and write a run directory."""
    from genkit.errors import GenkitError
    from genkit.runs.layout import default_run_dir
    from genkit.spec.resolve import load_spec
    from genkit.training.strategy import start_multi_worker

    if resume and overwrite:
        raise GenkitError("--resume continues a run and --overwrite replaces it; pass one of them")
    start_multi_worker()  # a TF_CONFIG cluster must be joined before spec validation runs TensorFlow
    spec = load_spec(spec_file)
    _train_and_report(spec, Path(out) if out else default_run_dir(spec.name), overwrite, resume, quiet, log_format)


@main.command()
@click.argument("run_dir", type=SafePath(file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or per-epoch lines.")
@log_format_option
@_user_errors
def resume(run_dir: str, quiet: bool, log_format: str) -> None:
    """Continue the training run in RUN_DIR from its last good checkpoint (its own spec.yaml)."""
    from genkit.errors import GenkitError
    from genkit.runs.layout import SPEC_FILE
    from genkit.spec.resolve import load_spec
    from genkit.training.strategy import start_multi_worker

    if not (Path(run_dir) / SPEC_FILE).is_file():
        raise GenkitError(f"cannot resume {run_dir}: it is not a genkit run directory ({SPEC_FILE} is missing)")
    start_multi_worker()
    _train_and_report(load_spec(Path(run_dir) / SPEC_FILE), Path(run_dir), False, True, quiet, log_format)


def _train_and_report(spec: Any, out_dir: Path, overwrite: bool, resume: bool, quiet: bool, log_format: Any) -> None:
    from genkit.runs.train import train
    from genkit.training.callbacks import format_number, write_json_line

    result = train(spec, out_dir, overwrite=overwrite, resume=resume, progress=not quiet, log_format=log_format)
    last = {key: value for key, value in result.history[-1].items() if key in ("loss", "val_loss")}
    if log_format == "json":
        write_json_line({"event": "done", "run_dir": str(result.run_dir), **last})
        return
    shown = ", ".join(f"{'validation loss' if key == 'val_loss' else 'final loss'} {format_number(key, value)}"
                      for key, value in last.items())
    click.echo(f"done: {result.run_dir} ({shown})")


@main.command()
@click.argument("spec_file", type=SafePath(dir_okay=False))
@click.option("--show", is_flag=True, help="Print the resolved spec (every default filled in).")
@_user_errors
def validate(spec_file: str, show: bool) -> None:
    """Check SPEC_FILE (keys, types, plugin arguments, data, assembly) without training."""
    from genkit.runs.prepare import prepare  # not genkit.runs.train: validating trains nothing
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
@_user_errors_without_tensorflow
def list_components(kind: str | None) -> None:
    """Print registered components (of KIND, or all) with their arguments and summaries."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from genkit.errors import GenkitError
    from genkit.plugin.listing import installed_listing, registered_listing
    from genkit.plugin.registry import KINDS

    if kind is not None:
        kind = kind.rstrip("s") if kind.rstrip("s") in KINDS else kind
        if kind not in KINDS:
            raise GenkitError(f"unknown component kind '{kind}'; kinds are: {', '.join(KINDS)}")
    # installed components come from a cache when nothing changed since (no TensorFlow import);
    # --import modules register in this process, so their listing is read from the registries
    imported = click.get_current_context().find_root().params.get("imports")
    listing = registered_listing() if imported else installed_listing()
    terminal = Console()
    # a terminal gets its own width; a pipe or file gets lines wide enough never to split a name
    console = terminal if terminal.is_terminal else Console(width=240)
    for name in [kind] if kind else list(KINDS):
        table = Table(title=f"{name}s", title_justify="left", show_lines=False)
        for column in ("name", "arguments", "description", "package"):
            table.add_column(column, overflow="fold")
        for row in listing[name]:
            # docstrings are text, not rich markup: "[style, softmax(logits)]" is shown as written
            table.add_row(*(escape(cell) for cell in (row.name, row.arguments, row.summary, row.package)))
        console.print(table)


@main.command()
@click.argument("run_dir", type=SafePath(file_okay=False))
@click.option("--data", "data", type=SafePath(dir_okay=False),
              help="Spec file whose data section to evaluate on (default: the run's own spec).")
@click.option("--split", default="test", show_default=True, help="Which split of the data.")
@click.option("-k", "k", default=1000, show_default=True, type=click.IntRange(1, MAX_SAMPLES),
              help="Importance samples per example for log p(x).")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, MAX_SAMPLES),
              help="Examples per batch (memory grows with batch size x samples per pass).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED),
              help="Seed of the sampling and the test binarization.")
@click.option("--factor-points", default=6000, show_default=True, type=click.IntRange(0, MAX_SAMPLES),
              help="Rendered examples for the SAP, DCI and FactorVAE scores (datasets that render factors; 0: off).")
@click.option("--factor-groups", default=600, show_default=True, type=click.IntRange(0, MAX_SAMPLES),
              help="Groups of 64 examples sharing a factor, for the beta-VAE and FactorVAE scores (0: off).")
@click.option("--quality-samples", default=2000, show_default=True, type=click.IntRange(0, MAX_SAMPLES),
              help="Samples compared with test images by FID and precision/recall (labelled images; 0: off).")
@click.option("--out", type=SafePath(dir_okay=False),
              help="JSON file of the metrics (default: RUN_DIR/metrics_eval.json).")
@overwrite_option
@_user_errors
def evaluate(run_dir: str, data: str | None, split: str, k: int, batch_size: int, seed: int, factor_points: int,
             factor_groups: int, quality_samples: int, out: str | None, overwrite: bool) -> None:
    """Compute test metrics of RUN_DIR (ELBO, log p(x), latent, disentanglement and sample-quality
    metrics); write metrics_eval.json."""
    import json

    from genkit.results.evaluation import print_metrics
    from genkit.runs.directory import write_atomic
    from genkit.runs.evaluate import evaluate as evaluate_run
    from genkit.runs.layout import EVAL_FILE

    if out:
        refuse_existing(Path(out), overwrite)
    results = evaluate_run(run_dir, data, split=split, k=k, batch_size=batch_size, seed=seed,
                           factor_points=factor_points, factor_groups=factor_groups, quality_samples=quality_samples,
                           write=not out)
    if out:
        write_atomic(Path(out), json.dumps(results, indent=2) + "\n")
    print_metrics(results, title=f"{run_dir} ({split} split)")
    click.echo(f"written: {out or Path(run_dir) / EVAL_FILE}")


@main.command()
@click.argument("run_dir", type=SafePath(file_okay=False))
@click.option("-n", "--n", "n", default=64, show_default=True, type=click.IntRange(1, MAX_SAMPLES),
              help="How many samples.")
@click.option("--label", type=click.IntRange(min=0), help="Class to sample (conditional models only).")
@click.option("--out", type=SafePath(dir_okay=False),
              help="PNG picture, or .npy for the raw array (default: RUN_DIR/sample.png).")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), help="Sampling seed (default: the run's seed).")
@click.option("--sampler", "sampler", metavar="NAME",
              help="Draw the codes from a latent sampler fitted to the training codes (e.g. gmm): fitted and saved "
              "in RUN_DIR/samplers the first time, reused after (default: the spec's sampler, else the prior).")
@overwrite_option
@_user_errors
def sample(run_dir: str, n: int, label: int | None, out: str | None, seed: int | None, sampler: str | None,
           overwrite: bool) -> None:
    """Draw N samples from the model in RUN_DIR and save them as a picture (or array)."""
    import math

    import numpy as np

    from genkit.errors import GenkitError
    from genkit.plugin.memory import check_memory
    from genkit.plugin.paths import writable_problem
    from genkit.results.pictures import save_samples
    from genkit.results.report import sample_images
    from genkit.runs.load import load
    from genkit.runs.samplers import run_sampler

    path = Path(out) if out else Path(run_dir) / "sample.png"
    if path.suffix.lower() not in (".png", ".npy"):
        raise GenkitError(f"--out {path}: samples are written as a .png picture or a .npy array; end the name so")
    if path.suffix.lower() == ".png" and n > MAX_PICTURE:
        raise GenkitError(f"-n {n}: a picture shows at most {MAX_PICTURE:,} samples; write them as .npy (--out x.npy)")
    problem = writable_problem(path)
    if problem:
        raise GenkitError(f"cannot write {path}: {problem}")
    if out:
        refuse_existing(path, overwrite)
    model = load(run_dir)
    if sampler is not None:
        model.sampler = run_sampler(Path(run_dir), model, sampler)
    try:  # the codes, the decoded samples and a copy on the way out, in float32
        check_memory(f"-n {n:,} samples of shape {model.data_shape}",
                     12.0 * n * (math.prod(model.data_shape) + model.latent_dim))
    except ValueError as err:
        raise GenkitError(str(err)) from None
    samples = sample_images(model, n, label, seed)
    path.parent.mkdir(parents=True, exist_ok=True)  # --out may name folders that do not exist yet
    if path.suffix.lower() == ".npy":
        np.save(path, samples)
    else:
        save_samples(path, samples)
    click.echo(f"written: {path}")


@main.command()
@click.argument("run_dir", type=SafePath(file_okay=False))
@click.option("--out", type=SafePath(dir_okay=False), help="The HTML file (default: RUN_DIR/report.html).")
@overwrite_option
@_user_errors
def report(run_dir: str, out: str | None, overwrite: bool) -> None:
    """Write RUN_DIR/report.html: evaluation, training, every picture and the spec, in one file that opens
    offline. A run not yet evaluated is evaluated first (as genkit evaluate with -k 100)."""
    from genkit.runs.report import write_report

    if out:
        refuse_existing(Path(out), overwrite)
    click.echo(f"written: {write_report(run_dir, Path(out) if out else None)}")


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=SafePath(file_okay=False))
@click.option("--out", default="compare.html", show_default=True, type=SafePath(dir_okay=False),
              help="The HTML page.")
@overwrite_option
@_user_errors
def compare(run_dirs: tuple[str, ...], out: str, overwrite: bool) -> None:
    """Compare runs side by side: final training and evaluation metrics (spec differences highlighted)
    printed as a table, and an HTML page with their loss curves overlaid."""
    from genkit.runs.compare import compare as compare_runs
    from genkit.runs.compare import print_comparison

    refuse_existing(Path(out), overwrite)
    comparison = compare_runs(run_dirs, out)
    print_comparison(comparison)
    click.echo(f"written: {out}")


@main.command(name="export")
@click.argument("run_dir", type=SafePath(file_okay=False))
@click.argument("out_dir", required=False, type=SafePath(file_okay=False))
@click.option("--out", "out", type=SafePath(file_okay=False),
              help="The SavedModel directory (may also be given as OUT_DIR after RUN_DIR).")
@overwrite_option
@_user_errors
def export_command(run_dir: str, out_dir: str | None, out: str | None, overwrite: bool) -> None:
    """Export the model of RUN_DIR as a TensorFlow SavedModel in --out (or OUT_DIR), with serving signatures
    encode, decode and sample (for TF Serving or any TensorFlow binding; genkit is not needed to load it)."""
    from genkit.errors import GenkitError
    from genkit.runs.export import export
    from genkit.runs.load import load

    targets = [path for path in (out_dir, out) if path is not None]
    if len(targets) != 1:
        raise GenkitError("give the SavedModel directory once: --out DIR (or as OUT_DIR after RUN_DIR)")
    model = load(run_dir)
    export(model, targets[0], overwrite=overwrite)
    names = "encode, decode" + (", sample" if model.can_sample else " (no prior or sampler, so no sample)")
    click.echo(f"exported: {targets[0]} (signatures: {names})")


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
@click.option("--out", "--dir", "directory", type=SafePath(file_okay=False),
              help="The package directory, which must not exist or be empty (default: ./genkit-NAME).")
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
