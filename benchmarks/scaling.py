"""Scaling curves of the benchmark MLP VAE: training examples/s against batch size and against network
width (genkit with spec defaults and the hand-written Keras+TFP loop), peak memory per example, and
genkit's IWAE evaluation in importance samples/s against k. Markdown tables on standard output, PNG
plots in ``docs/img/scaling_*.png``.

    python benchmarks/scaling.py            # every point (about 15 minutes on 2 CPU cores)
    python benchmarks/scaling.py --quick    # smoke run: a few small points, plots into a temporary folder

The model and data are those of ``benchmarks/throughput.py`` (784-512-256-20, Bernoulli likelihood,
dynamic binarization, Adam; MNIST or generated images). The width series trains encoder widths
``[w, w/2]`` (decoder mirrored) at batch 128; the batch series trains width 512 (the throughput
benchmark's network).

Every training point runs in a fresh Python process (genkit and the hand-written loop of one point
back to back): one warm-up epoch, then ``--rounds`` timed epochs, median examples/s. Memory is the
process's resident high-water mark (``VmHWM`` in ``/proc/self/status``, Linux) at the end minus its
value once the libraries are imported: everything the run added (its copy of the data, the model,
the optimizer, traced and compiled functions, the batches' activations). The fixed part dominates at
small batches, so the tables also give the marginal memory per example, the growth between two
successive batch sizes divided by the difference of their sizes; that is what a larger batch
costs. (``tf.config.experimental.get_memory_info`` measures GPU memory only.) The IWAE points run in
one process: ``importance_weighted_log_likelihood`` with its defaults (100 examples per batch, about
20,000 example-sample pairs per pass) on an untrained model, one warm-up call per k.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from machine import Header, cpu_model

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "img"
BATCHES = (32, 64, 128, 256, 512, 1024)
WIDTHS = (128, 256, 512, 1024)
KS = (1, 10, 100, 1000)
#: The batch size of the width series and the width of the batch series (the throughput benchmark's).
BASE_BATCH, BASE_WIDTH = 128, 512
RUNNERS = {"genkit": "genkit (spec defaults)", "hand": "hand-written Keras+TFP loop"}
#: Seconds one point's process may take.
POINT_TIMEOUT = 900


@dataclass(frozen=True)
class Point:
    """One training measurement: which loop, at which batch size and encoder width."""

    runner: str
    batch: int
    width: int


@dataclass(frozen=True)
class Measured:
    """A point's median examples/s and the growth of its resident memory peak (None where unknown)."""

    examples_per_second: float
    peak_growth_mb: float | None


def hidden(width: int) -> list[int]:
    """The encoder's hidden widths of a width-``width`` network (the decoder's are mirrored)."""
    return [width, width // 2]


def peak_resident_mb() -> float | None:
    """This process's resident memory high-water mark (``VmHWM``) in MB, None where /proc has none."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def timed_median(run_epoch: Callable[[], int], rounds: int) -> float:
    """One untimed epoch, then the median examples/s of ``rounds`` timed ones."""
    run_epoch()
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        examples = run_epoch()
        rates.append(examples / (time.perf_counter() - started))
    return statistics.median(rates)


def measure_point(point: Point, path: Path, examples: int | None, rounds: int) -> Measured:
    """Train ``point`` in this (fresh) process; its rate and how far it raised the memory peak."""
    import contextlib
    import io

    import numpy as np

    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from throughput import genkit_runner, genkit_spec, keras_runner

    import genkit.runs.train  # noqa: F401 - imported before the baseline, as TensorFlow is

    baseline = peak_resident_mb()
    with contextlib.redirect_stdout(io.StringIO()):
        if point.runner == "genkit":
            spec = genkit_spec(path, "mlp", examples, hidden(point.width), batch_size=point.batch)
            run_epoch = genkit_runner(spec)
        else:
            x = np.load(path)["x_train"][:examples].astype(np.float32) / 255.0
            run_epoch = keras_runner(x, "mlp", False, batch=point.batch, hidden=hidden(point.width))
        rate = timed_median(run_epoch, rounds)
    peak = peak_resident_mb()
    return Measured(rate, None if peak is None or baseline is None else peak - baseline)


def measure_iwae(path: Path, ks: list[int], samples: int, rounds: int) -> dict[int, tuple[int, float]]:
    """k -> (examples scored, median importance samples/s) of genkit's IWAE evaluation, in this process;
    about ``samples`` example-sample pairs per call."""
    import numpy as np

    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from throughput import genkit_spec

    from genkit.results.evaluation import importance_weighted_log_likelihood
    from genkit.runs.train import prepare
    from genkit.spec.resolve import load_spec

    data, model = prepare(load_spec(genkit_spec(path, "mlp", None)))
    images = np.asarray(data.train.x > 0.5, np.float32)
    results = {}
    for k in ks:
        x = images[: max(10, samples // k)]
        rate = timed_median(lambda x=x, k=k: importance_weighted_log_likelihood(model, x, k=k).size * k, rounds)
        results[k] = (len(x), rate)
    return results


def in_fresh_process(task: dict[str, Any]) -> Any:
    """Run ``task`` (a point or the IWAE series) in a new Python process; its JSON result."""
    out = subprocess.run([sys.executable, __file__, "--task", json.dumps(task)], capture_output=True, text=True,
                         timeout=POINT_TIMEOUT)
    if out.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(task: dict[str, Any]) -> None:
    """The fresh process's side of :func:`in_fresh_process`: measure, print one JSON line."""
    path = Path(task["path"])
    if task["kind"] == "iwae":
        found = measure_iwae(path, task["ks"], task["samples"], task["rounds"])
        print(json.dumps({str(k): value for k, value in found.items()}))
    else:
        point = Point(**task["point"])
        print(json.dumps(asdict(measure_point(point, path, task["examples"], task["rounds"]))))


def sweep(points: list[Point], path: Path, args: argparse.Namespace) -> dict[Point, Measured]:
    """Every point measured in its own process, in order (each point's runners back to back)."""
    found = {}
    for point in points:
        task = {"kind": "point", "point": asdict(point), "path": str(path), "examples": args.examples,
                "rounds": args.rounds}
        found[point] = Measured(**in_fresh_process(task))
        print(f"  {point}: {found[point].examples_per_second:,.0f} examples/s", file=sys.stderr, flush=True)
    return found


# --- tables ----------------------------------------------------------------------------------
def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def batch_table(found: dict[Point, Measured], batches: list[int]) -> list[str]:
    """Examples/s and memory against batch size, both runners, at :data:`BASE_WIDTH`."""
    lines = [f"### Batch size (encoder {hidden(BASE_WIDTH)}, decoder mirrored)", "",
             "| batch | genkit examples/s | hand-written examples/s | genkit / hand-written | genkit peak growth MB "
             "| genkit marginal KB/example | hand-written peak growth MB | hand-written marginal KB/example |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    previous: int | None = None
    for batch in batches:
        genkit, hand = (found[Point(runner, batch, BASE_WIDTH)] for runner in RUNNERS)
        cells = [f"{batch}", f"{genkit.examples_per_second:,.0f}", f"{hand.examples_per_second:,.0f}",
                 f"{genkit.examples_per_second / hand.examples_per_second:.2f}x"]
        for runner, measured in zip(RUNNERS, (genkit, hand), strict=True):
            before = None if previous is None else found[Point(runner, previous, BASE_WIDTH)].peak_growth_mb
            marginal = (None if before is None or measured.peak_growth_mb is None
                        else 1024 * (measured.peak_growth_mb - before) / (batch - (previous or 0)))
            cells += [_mb(measured.peak_growth_mb), "-" if marginal is None else f"{marginal:,.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
        previous = batch
    return [*lines, ""]


def width_table(found: dict[Point, Measured], widths: list[int]) -> list[str]:
    """Examples/s and memory against encoder width, both runners, at :data:`BASE_BATCH`."""
    lines = [f"### Network width (batch {BASE_BATCH}; encoder [w, w/2], decoder mirrored)", "",
             "| w | genkit examples/s | hand-written examples/s | genkit / hand-written | genkit peak growth MB "
             "| hand-written peak growth MB |", "|---:|---:|---:|---:|---:|---:|"]
    for width in widths:
        genkit, hand = (found[Point(runner, BASE_BATCH, width)] for runner in RUNNERS)
        lines.append(f"| {width} | {genkit.examples_per_second:,.0f} | {hand.examples_per_second:,.0f} | "
                     f"{genkit.examples_per_second / hand.examples_per_second:.2f}x | "
                     f"{_mb(genkit.peak_growth_mb)} | {_mb(hand.peak_growth_mb)} |")
    return [*lines, ""]


def iwae_table(iwae: dict[int, tuple[int, float]]) -> list[str]:
    """IWAE evaluation rate against k."""
    lines = ["### IWAE evaluation (genkit.results.evaluation.importance_weighted_log_likelihood)", "",
             "| k | examples scored | importance samples/s | examples/s |", "|---:|---:|---:|---:|"]
    for k, (examples, rate) in iwae.items():
        lines.append(f"| {k} | {examples:,} | {rate:,.0f} | {rate / k:,.1f} |")
    return [*lines, ""]


# --- plots -----------------------------------------------------------------------------------
Series = dict[str, tuple[list[int], list[float]]]


def plot(path: Path, title: str, xlabel: str, ylabel: str, series: Series, log_base: int = 2,
         log_y: bool = False) -> None:
    """One line plot of ``series`` (label -> (x, y)) on a logarithmic x axis, as a PNG with the CPU in its title."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    for label, (xs, ys) in series.items():
        axes.plot(xs, ys, marker="o", label=label)
    axes.set_xscale("log", base=log_base)
    if log_y:
        axes.set_yscale("log")
    ticks = next(iter(series.values()))[0]
    axes.set_xticks(ticks, [str(x) for x in ticks])
    axes.set(xlabel=xlabel, ylabel=ylabel)
    axes.set_title(f"{title}\n{cpu_model()}", fontsize=9)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.savefig(path, dpi=120)


def training_series(found: dict[Point, Measured], points: Callable[[str], list[Point]], axis: str,
                    value: Callable[[Point, Measured], float]) -> Series:
    """Per runner: the ``axis`` ("batch" or "width") of each of ``points(runner)`` and its ``value``."""
    return {label: ([getattr(point, axis) for point in points(runner)],
                    [value(point, found[point]) for point in points(runner)]) for runner, label in RUNNERS.items()}


def plots(folder: Path, found: dict[Point, Measured], batches: list[int], widths: list[int],
          iwae: dict[int, tuple[int, float]]) -> list[Path]:
    """The four PNG plots (rate against batch size and width, memory per example, IWAE rate) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"scaling_{name}.png" for name in ("batch", "width", "memory", "iwae")]

    def by_batch(runner: str) -> list[Point]:
        return [Point(runner, batch, BASE_WIDTH) for batch in batches]

    def by_width(runner: str) -> list[Point]:
        return [Point(runner, BASE_BATCH, width) for width in widths]

    def rate(point: Point, measured: Measured) -> float:
        return measured.examples_per_second

    def memory(point: Point, measured: Measured) -> float:
        return 1024 * (measured.peak_growth_mb or 0.0) / point.batch

    plot(paths[0], f"MLP VAE, encoder {hidden(BASE_WIDTH)}: training rate", "batch size", "examples/s",
         training_series(found, by_batch, "batch", rate))
    plot(paths[1], f"MLP VAE, batch {BASE_BATCH}: training rate", "encoder width w (hidden [w, w/2])",
         "examples/s", training_series(found, by_width, "width", rate))
    plot(paths[2], "growth of the resident memory peak per example of the batch", "batch size", "KB per example",
         training_series(found, by_batch, "batch", memory), log_y=True)
    plot(paths[3], "genkit IWAE evaluation rate", "importance samples per example (k)", "importance samples/s",
         {"genkit": (list(iwae), [rate for _, rate in iwae.values()])}, log_base=10)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few small points, plots to a temporary folder")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per point")
    parser.add_argument("--examples", type=int, default=None, help="training images per point (default: all)")
    parser.add_argument("--iwae-samples", type=int, default=100_000,
                        help="about this many example-sample pairs per IWAE call (examples = this / k, at least 10)")
    parser.add_argument("--img-dir", type=Path, default=None, help=f"where the PNG plots go (default: {IMAGES})")
    parser.add_argument("--task", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        child(json.loads(args.task))
        return
    header = Header()
    batches, widths, ks = list(BATCHES), list(WIDTHS), list(KS)
    if args.quick:
        batches, widths, ks = [BASE_BATCH, 512], [128, BASE_WIDTH], [1, 10]
        args.rounds, args.examples, args.iwae_samples = 1, args.examples or 1024, min(args.iwae_samples, 2000)
    from throughput import mnist_file

    with tempfile.TemporaryDirectory() as tmp:
        path, data_name = mnist_file(Path(tmp))
        points = [Point(r, b, BASE_WIDTH) for b in batches for r in RUNNERS]
        points += [Point(r, BASE_BATCH, w) for w in widths for r in RUNNERS if Point(r, BASE_BATCH, w) not in points]
        found = sweep(points, path, args)
        iwae_found = in_fresh_process({"kind": "iwae", "path": str(path), "ks": ks, "samples": args.iwae_samples,
                                       "rounds": args.rounds})
        iwae = {int(k): (examples, rate) for k, (examples, rate) in iwae_found.items()}
        folder = args.img_dir or (Path(tmp) / "img" if args.quick else IMAGES)
        written = plots(folder, found, batches, widths, iwae)
        lines = [*header.lines(),
                 f"data: {data_name}, {args.examples or 'all'} training images per point; {args.rounds} timed epochs "
                 "after 1 warm-up epoch per point, each point in a fresh process; median examples/s; memory: growth "
                 "of the resident high-water mark (VmHWM) after the imports", "",
                 *batch_table(found, batches), *width_table(found, widths), *iwae_table(iwae),
                 "plots: " + ", ".join(str(p) for p in written) + (" (temporary: --quick)" if args.quick else "")]
        print("\n".join(lines))


if __name__ == "__main__":
    main()
