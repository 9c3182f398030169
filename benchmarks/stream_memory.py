"""Peak resident memory of training on 4 GB or more on disk, streamed (issue 16: under 1.5 GB).

    python benchmarks/stream_memory.py                       # both datasets, in a temporary folder
    python benchmarks/stream_memory.py --gb 4.2 --dir /scratch/genkit-bench --keep   # written once, then reused

Writes two datasets of random 64 x 64 RGB images (random pixels: nothing compresses, so the bytes
on disk are the bytes read): a ``.npy`` file of uint8 examples (read a chunk at a time) and a
folder of PNG files (stored uncompressed, about 12 kB each). Then, for each, a fresh process trains
``--epochs`` epochs (default 2: the second epoch's input is made while the first trains, and that
must fit too) of a small MLP VAE on it with ``data.stream: auto`` (the decoded data, float32, are four
times the file size: far above the default budget of a quarter of the memory, so it streams) and
reports its peak resident memory (``VmHWM`` of ``/proc/self/status``: everything the process ever
held resident at once, TensorFlow included), both before the epoch (the dataset indexed and
checked, the model built) and in all. Datasets already in ``--dir`` (kept by ``--keep``) are
reused, not written again. The model is small on purpose: the memory in question
is the data path's, and a larger model would only make the epoch longer. Prints the command, the
machine, the wall times and the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIDE = 64
CHUNK = 4096  # images generated (and written) at a time


def write_npy(path: Path, count: int) -> None:
    """``count`` random uint8 images ``[count, 64, 64, 3]`` in one .npy file, written a chunk at a time."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, SIDE, SIDE, 3))
    rng = np.random.default_rng(0)
    for start in range(0, count, CHUNK):
        stop = min(count, start + CHUNK)
        array[start:stop] = rng.integers(0, 256, (stop - start, SIDE, SIDE, 3), dtype=np.uint8)
        array.flush()
    del array


def write_folder(folder: Path, count: int) -> None:
    """``count`` random 64 x 64 RGB PNG files in 100 subfolders (uncompressed: about 12 kB each)."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    def save(item: tuple[int, np.ndarray]) -> None:
        index, pixels = item
        Image.fromarray(pixels).save(folder / f"{index % 100:02d}" / f"{index:07d}.png", compress_level=0)

    for sub in range(100):
        (folder / f"{sub:02d}").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    with ThreadPoolExecutor(4) as pool:
        for start in range(0, count, CHUNK):
            images = rng.integers(0, 256, (min(CHUNK, count - start), SIDE, SIDE, 3), dtype=np.uint8)
            list(pool.map(save, enumerate(images, start)))


def spec_for(kind: str, where: Path, epochs: int) -> dict:
    """The benchmark's spec: a small MLP VAE streaming ``epochs`` epochs of the dataset ``kind``."""
    data = ({"type": "npy", "images": str(where), "chunk": 256} if kind == "npy" else
            {"type": "image_folder", "path": str(where)})
    return {
        "name": f"memory-{kind}", "model": "vae", "latent_dim": 4,
        "data": {**data, "stream": "auto", "validation_split": 0.0},
        "encoder": {"type": "mlp", "hidden": [16]}, "decoder": {"type": "mlp", "hidden": [16]},
        "likelihood": {"type": "gaussian", "scale": 0.3}, "prior": "standard_normal", "divergence": "kl",
        "train": {"epochs": epochs, "batch_size": 256, "seed": 0, "jit_compile": False},
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def train_child(kind: str, where: Path, epochs: int) -> None:
    """In the child process: train, print the numbers as one JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from genkit.assembly.streaming import StreamedSplit
    from genkit.runs.train import prepare
    from genkit.spec.resolve import load_spec
    from genkit.training.trainer import Trainer

    started = time.perf_counter()
    spec = load_spec(spec_for(kind, where, epochs))
    data, model = prepare(spec)
    trainer = Trainer(model, spec.train, data.train)
    before = peak_rss_mb()
    history = trainer.fit()
    print(json.dumps({"examples": len(data.train), "streamed": isinstance(data.train, StreamedSplit),
                      "seconds": time.perf_counter() - started, "epoch_seconds": history[0]["seconds"],
                      "epochs": len(history), "loss": history[-1]["loss"], "peak_before_epoch_mb": before,
                      "peak_rss_mb": peak_rss_mb()}))


def disk_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=4.2, help="size of each dataset on disk, in GB (1e9 bytes)")
    parser.add_argument("--dir", type=Path, help="where to write the datasets (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the datasets (default: delete them)")
    parser.add_argument("--only", choices=["npy", "image_folder"], help="measure one dataset only")
    parser.add_argument("--epochs", type=int, default=2, help="epochs to train on each dataset")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "EPOCHS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train_child(args.child[0], Path(args.child[1]), int(args.child[2]))
        return
    from machine import Header

    header = Header()
    print(header.command)
    root = args.dir or Path(tempfile.mkdtemp(prefix="genkit-memory-"))
    root.mkdir(parents=True, exist_ok=True)
    count = int(args.gb * 1e9 // (SIDE * SIDE * 3))
    try:
        for kind in ("npy", "image_folder"):
            if args.only and kind != args.only:
                continue
            where = root / ("images.npy" if kind == "npy" else "images")
            if not where.exists():  # written under another name first: an interrupted write is never reused
                written, partial = time.perf_counter(), where.with_name(where.name + ".partial")
                if partial.is_dir():
                    shutil.rmtree(partial)
                partial.unlink(missing_ok=True)
                (write_npy if kind == "npy" else write_folder)(partial, count)
                partial.rename(where)
                print(f"{kind}: wrote {count:,} images in {time.perf_counter() - written:.0f} s")
            command = [sys.executable, __file__, "--child", kind, str(where), str(args.epochs)]
            child = subprocess.run(command, capture_output=True, text=True, check=True)
            result = json.loads(child.stdout.strip().splitlines()[-1])
            rate = result["examples"] / result["epoch_seconds"]
            print(f"{kind}: {disk_bytes(where) / 1e9:.2f} GB on disk, {result['examples']:,} examples, streamed: "
                  f"{result['streamed']}; {result['epochs']} epochs, the first in {result['epoch_seconds']:.0f} s "
                  f"({rate:,.0f} examples/s), "
                  f"process {result['seconds']:.0f} s; peak resident memory {result['peak_rss_mb']:,.0f} MB "
                  f"({result['peak_before_epoch_mb']:,.0f} MB before training); loss {result['loss']:.1f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n".join(header.lines()[1:]))


if __name__ == "__main__":
    main()
