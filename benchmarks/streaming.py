"""Throughput of the streaming input path against the in-memory one, and the decode rate of image folders.

    python benchmarks/streaming.py                    # both parts (about 15 minutes on 2 CPU cores)
    python benchmarks/streaming.py --part throughput --rounds 3 --epochs-per-call 4
    python benchmarks/streaming.py --part decode --images 4096

``throughput``: the MLP VAE and the conv VAE of ``benchmarks/throughput.py`` (same specs, batch
128, dynamic binarization, ``jit_compile: false`` on every row: a streamed call cannot be one XLA
computation, so graph execution is the like-for-like comparison) trained on MNIST
(``../shared/data/mnist.npz``) three ways in one process: in memory (``npz``), streamed from a
``.npy`` file, streamed from TFRecord shards (both written from the npz first). Every row trains a
warm-up call, then ``--rounds`` timed calls of ``--epochs-per-call`` epochs each (one ``fit`` of a
continuing run, so that a streamed epoch's input is made while the one before it trains, as in a
user's run), interleaved across rows so that load from other processes falls on all alike; a row's
rate is the median of its epochs' examples/s as ``metrics.csv`` reports them (the first epoch of
every call included), and also the median over calls of examples trained per second of the call's
wall time (which counts the work between epochs too); each streamed row is given as a fraction of
the in-memory row of its model (the target is 90%), also as the median over rounds of the ratio
between the row's call and the in-memory row's call of the same round (which cancels a machine
whose speed drifts between rounds).

``decode``: a folder of 64 x 64 RGB PNG files (``colour_shapes``) read through ``image_folder``'s
own pipeline (read, decode, batch), in images/s after a warm-up pass, against the training rate
of ``examples/conv_vae_image_folder.yaml`` streaming the same folder: decoding must not be the
bottleneck. Prints the command, the machine (with its load average), the wall time and the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import genkit_runner, genkit_spec, mnist_file, register_conv_networks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sources(npz: Path, workdir: Path, limit: int | None) -> dict[str, dict]:
    """The data entries of the three rows: the npz in memory, and .npy and TFRecord copies streamed."""
    from genkit.runs.convert import convert

    x = np.load(npz)["x_train"]
    rows = workdir / f"x_train-{limit}.npy"  # one file per limit: a stream reads its file on every pass
    np.save(rows, x if limit is None else x[:limit])
    shards = workdir / f"shards-{limit}"
    convert(str(npz), shards, args={"test_images": None}, examples_per_shard=4096 if limit is None else limit)
    return {
        "in memory (npz)": {},
        "streamed .npy": {"type": "npy", "images": str(rows), "stream": True},
        "streamed TFRecord": {"type": "tfrecord", "path": str(shards), "stream": True},
    }


def epochs_runner(spec_dict: dict, epochs: int) -> Callable[[], tuple[list[float], float]]:
    """``epochs`` more epochs of one run per call, in one ``Trainer.fit``; returns each epoch's
    examples/s as the run's metrics report it, and the call's examples over its wall time (which
    also counts what happens between epochs)."""
    from genkit.runs.train import prepare
    from genkit.spec.resolve import load_spec
    from genkit.training.trainer import Trainer

    spec = load_spec(spec_dict)
    data, model = prepare(spec)
    trainer = Trainer(model, spec.train, data.train)
    done = 0

    def run_epochs() -> tuple[list[float], float]:
        nonlocal done
        spec.train.epochs = done + epochs  # fit() trains up to train.epochs
        started = time.perf_counter()
        trainer.fit(start_epoch=done + 1)
        wall_rate = epochs * len(data.train) / (time.perf_counter() - started)
        rates = [row["examples_per_second"] for row in trainer.history[done:]]
        done += epochs
        return rates, wall_rate

    return run_epochs


def throughput(args: argparse.Namespace, workdir: Path) -> list[str]:
    """The rows of the throughput table (markdown)."""
    register_conv_networks()
    npz, name = mnist_file(workdir)
    lines = [f"data: {name}", "", "| model | input path | examples/s (median epoch) | min-max | vs in memory "
             "| paired by round | by wall time | vs in memory |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    runners: dict[tuple[str, str], Callable[[], tuple[list[float], float]]] = {}
    for arch, limit in (("mlp", None), ("conv", args.conv_examples)):
        for row, data in sources(npz, workdir, limit).items():
            spec = genkit_spec(npz, arch, limit, jit_compile=False)
            if data:
                # the same examples as the in-memory row: the shards hold the whole set, cut by limit
                spec["data"] = {**data, "binarize": "dynamic", "validation_split": 0.0, "limit": limit}
            runners[(arch, row)] = epochs_runner(spec, args.epochs_per_call)
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in runners}
    walls: dict[tuple[str, str], list[float]] = {key: [] for key in runners}
    for run in runners.values():  # warm-up: tracing, first reads
        run()
    calls: dict[tuple[str, str], list[float]] = {key: [] for key in runners}  # each call's median epoch
    for _ in range(args.rounds):
        for key, run in runners.items():
            epoch_rates, wall_rate = run()
            rates[key] += epoch_rates
            walls[key].append(wall_rate)
            calls[key].append(statistics.median(epoch_rates))
    for (arch, row), values in rates.items():
        memory = (arch, "in memory (npz)")
        base = statistics.median(rates[memory])
        wall, wall_base = statistics.median(walls[(arch, row)]), statistics.median(walls[memory])
        pairs = zip(calls[(arch, row)], calls[memory], strict=True)
        paired = statistics.median(mine / theirs for mine, theirs in pairs)
        median = statistics.median(values)
        label = "MLP VAE 784-512-256-20" if arch == "mlp" else f"conv VAE ({args.conv_examples:,} images)"
        lines.append(f"| {label} | {row} | {median:,.0f} | {min(values):,.0f}-{max(values):,.0f} "
                     f"| {100 * median / base:.0f}% | {100 * paired:.0f}% | {wall:,.0f} "
                     f"| {100 * wall / wall_base:.0f}% |")
    return lines


def decode(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Images/s of image_folder's pipeline, against the example conv VAE's training rate on it."""
    import yaml
    from genkit_plugins.datasets.images import ImageFolder

    from genkit.runs.convert import convert

    folder = workdir / "colour_shapes"
    convert("colour_shapes", folder, to="image_folder", args={"n_train": args.images, "n_test": 64})
    stream = ImageFolder(str(folder / "train")).stream("train")
    passes = []
    for _ in range(3):  # the first pass warms the page cache and traces the pipeline
        started = time.perf_counter()
        count = sum(int(batch["x"].shape[0]) for batch in stream.read(stream.pieces).batch(256).prefetch(2))
        passes.append(count / (time.perf_counter() - started))
    spec = yaml.safe_load((ROOT / "examples" / "conv_vae_image_folder.yaml").read_text())
    spec["data"].update(path=str(folder / "train"), test_path=str(folder / "test"), stream=True,
                        validation_split=0.0, limit=args.train_images)
    run = genkit_runner(spec)
    run()  # warm-up epoch
    started = time.perf_counter()
    trained = run()
    training = trained / (time.perf_counter() - started)
    decoded = statistics.median(passes[1:])
    return [f"image_folder decode, 64x64 RGB PNG ({args.images:,} files): {decoded:,.0f} images/s "
            f"(passes: {', '.join(f'{rate:,.0f}' for rate in passes)}; the first from a cold start)",
            f"example conv VAE (examples/conv_vae_image_folder.yaml) training, streamed: {training:,.0f} images/s "
            f"on {trained:,} images",
            f"decoding is {decoded / training:.1f}x the training rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["throughput", "decode", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3, help="timed calls per row")
    parser.add_argument("--epochs-per-call", type=int, default=4, help="epochs of each timed call")
    parser.add_argument("--conv-examples", type=int, default=4096, help="training images of the conv rows")
    parser.add_argument("--images", type=int, default=4096, help="PNG files of the decode part")
    parser.add_argument("--train-images", type=int, default=1024, help="images of the conv VAE's timed epoch")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    begun = time.perf_counter()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("throughput", "both"):
            print("\n".join(throughput(args, Path(tmp))))
        if args.part in ("decode", "both"):
            print("\n".join(decode(args, Path(tmp))))
    print(f"wall time: {time.perf_counter() - begun:.0f} s; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
