"""The throughput table of ``benchmarks/throughput.py`` on the GPU TensorFlow sees, in one command
with a time limit, plus the device's name and memory use.

    python benchmarks/gpu_check.py                  # at most 5 minutes
    python benchmarks/gpu_check.py --time-limit 120 --no-conv

Rows (TensorFlow only; the PyTorch rows of the CPU table are left out): genkit with spec defaults
(``jit_compile: auto``, which is XLA on one GPU), genkit in float32 without and with XLA, genkit with
``mixed_precision: float16`` (dynamic loss scaling) under XLA, genkit with ``steps_per_execution:
1``, the roofline (the bare step in one compiled ``tf.while_loop``, graph and XLA), and the
hand-written loops; the conv VAE's defaults, float32 graph, float16 and roofline rows. Each row's
memory is the GPU's peak allocation during its timed epochs (``tf.config.experimental
.get_memory_info``; it includes the variables and data of the rows built before it).

Measuring stops ``--time-limit`` seconds after the start (rows then keep the epochs they timed; each
row's first timed epoch follows its warm-up directly, so only rows that never warmed up are left
out, and the table says so). On a machine without a GPU the script says so
and exits with 0, so it can run anywhere (``--on-cpu`` measures the same rows on the CPU instead).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import Header
from throughput import (
    LEAN,
    ROOFLINE,
    Makers,
    genkit_runner,
    genkit_spec,
    keras_runner,
    measure,
    mnist_file,
    report,
    roofline_runner,
    training_images,
)

#: Seconds the measurement may take, by default.
TIME_LIMIT = 300.0


def gpu_row_makers(args: argparse.Namespace, path: Path, workdir: Path) -> Makers:
    """The rows of the GPU table: row name -> (model, family, factory of its epoch runner)."""
    mlp, conv = args.examples, args.conv_examples

    def genkit(arch: str, **train: object) -> tuple[str, str, Callable]:
        limit = mlp if arch == "mlp" else conv
        return arch, "tf", lambda: genkit_runner(genkit_spec(path, arch, limit, **train))

    makers: Makers = {
        "genkit (spec defaults: jit_compile auto, XLA on one GPU)": genkit("mlp"),
        "genkit float32, jit_compile=false": genkit("mlp", jit_compile=False),
        "genkit float32, jit_compile=true": genkit("mlp", jit_compile=True),
        "genkit mixed_precision=float16 (loss scaling), jit_compile=true": genkit(
            "mlp", mixed_precision="float16", jit_compile=True),
        "genkit steps_per_execution=1, jit_compile=true": genkit("mlp", steps_per_execution=1, jit_compile=True),
        f"{ROOFLINE}, graph": ("mlp", "tf", lambda: roofline_runner(training_images(path, mlp), "mlp", False)),
        f"{ROOFLINE}, XLA": ("mlp", "tf", lambda: roofline_runner(training_images(path, mlp), "mlp", True)),
        "hand-written Keras+TFP loop": ("mlp", "tf", lambda: keras_runner(training_images(path, mlp), "mlp", False)),
        "hand-written Keras+TFP loop, XLA": (
            "mlp", "tf", lambda: keras_runner(training_images(path, mlp), "mlp", True)),
        f"{LEAN} Keras+TFP loop": (
            "mlp", "tf", lambda: keras_runner(training_images(path, mlp), "mlp", False, lean=True)),
    }
    if not args.no_conv:
        makers.update({
            "genkit conv (spec defaults: XLA on one GPU)": genkit("conv"),
            "genkit conv float32, jit_compile=false": genkit("conv", jit_compile=False),
            "genkit conv mixed_precision=float16, jit_compile=true": genkit(
                "conv", mixed_precision="float16", jit_compile=True),
            f"{ROOFLINE} conv, graph": (
                "conv", "tf", lambda: roofline_runner(training_images(path, conv), "conv", False)),
            f"{ROOFLINE} conv, XLA": (
                "conv", "tf", lambda: roofline_runner(training_images(path, conv), "conv", True)),
            "hand-written Keras+TFP conv loop": (
                "conv", "tf", lambda: keras_runner(training_images(path, conv), "conv", False)),
        })
    return makers


def visible_gpus() -> list[object]:
    """The GPUs TensorFlow sees (physical devices: listing them does not allocate memory on them)."""
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def device_lines(gpus: list[object]) -> list[str]:
    """The GPUs' names and compute capabilities, their total memory (from nvidia-smi when it is
    installed), and whether float32 matmuls run as TF32."""
    import tensorflow as tf

    lines = []
    for index, gpu in enumerate(gpus):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        lines.append(f"device GPU:{index}: {details.get('device_name', 'unknown')}"
                     + (f" (compute capability {capability[0]}.{capability[1]})" if capability else ""))
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,memory.used", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        if smi.returncode == 0:
            lines += [f"nvidia-smi: {line.strip()} (name, total, used before the run)" for line in
                      smi.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.TimeoutExpired):
        lines.append("nvidia-smi: not available (total memory unknown)")
    lines.append("TF32 for float32 matmuls and convolutions: "
                 f"{'on' if tf.config.experimental.tensor_float_32_execution_enabled() else 'off'} "
                 "(TensorFlow's default on Ampere and newer GPUs; the matmul rate and every float32 row use it)")
    lines.append("timed on GPU:0 only (one device: no distribution strategy)")
    return lines


def no_gpu(header: Header) -> str:
    """What the script prints on a machine where TensorFlow sees no GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    shown = "unset" if visible is None else repr(visible)
    return "\n".join([
        *header.lines(),
        f"no GPU visible to TensorFlow (tf.config.list_physical_devices('GPU') is empty; CUDA_VISIBLE_DEVICES is "
        f"{shown}): nothing to measure. On a machine with a GPU (and TensorFlow's CUDA libraries, "
        "pip install 'tensorflow[and-cuda]') this prints benchmarks/throughput.py's table measured on it; "
        "on this machine run benchmarks/throughput.py itself.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="seconds the measurement may take")
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per configuration")
    parser.add_argument("--examples", type=int, default=None, help="training images for the MLP rows (default: all)")
    parser.add_argument("--conv-examples", type=int, default=None,
                        help="training images for the conv rows (default: all)")
    parser.add_argument("--no-conv", action="store_true", help="skip the conv VAE rows")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds of idle time before each timed epoch")
    parser.add_argument("--on-cpu", action="store_true",
                        help="without a GPU, measure the same rows on the CPU (to try the script out)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.time_limit
    header = Header()
    gpus = visible_gpus()
    if not gpus and not args.on_cpu:
        print(no_gpu(header))
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path, data_name = mnist_file(workdir)
        count = len(np.load(path)["x_train"])
        args.conv_examples = args.conv_examples or count
        measured = measure(args, path, workdir, gpu_row_makers, deadline)
        where = device_lines(gpus) if gpus else ["device: the CPU (--on-cpu: no GPU visible)"]
        extra = [*where, f"time limit: {args.time_limit:.0f} s"]
        print(report(measured, f"{data_name} ({count} training images)", args, header, extra))


if __name__ == "__main__":
    main()
