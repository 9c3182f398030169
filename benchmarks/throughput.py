"""Training throughput of one VAE trained several ways in one process, printed as a table.

    python benchmarks/throughput.py            # all rows (about 5 minutes on 2 CPU cores)
    python benchmarks/throughput.py --rounds 3 --conv-examples 2048

The model: a 784-512-256-20 MLP VAE (decoder mirrored), Bernoulli likelihood, batch 128, Adam,
on the MNIST training images of ``../shared/data/mnist.npz`` (random images of the same shape
when that file is absent); plus a small convolutional VAE on a subset. Trained by:

- genkit through its spec path (``genkit.runs.directory.prepare`` + ``Trainer``; default settings and variants),
- a minimal hand-written Keras 3 + TFP ``tf.function`` loop (what a user writes without genkit),
- Pythae's trainer on PyTorch CPU, and a plain PyTorch loop (rows appear if torch/pythae import);
- and genkit's IWAE evaluation (``genkit.evaluation``), in importance samples per second, to compare
  with its training rate.

Every configuration trains one warm-up epoch, then ``--rounds`` timed epochs; the rounds are
interleaved (round 1 of every row, then round 2, ...) so that load from other processes falls on
all rows alike. TensorFlow rows and PyTorch rows live in two worker processes (their thread pools
would otherwise spin against each other); the coordinator runs one epoch at a time, so only one
row computes at any moment. Throughput is the median over rounds of training examples per second. The run
also measures this machine's float32 matmul rate in TensorFlow and the fraction of it the genkit
VAE reaches, counting 6 floating-point operations per multiply-add of the networks per example
(2 forward, 4 backward).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist.npz"
LATENT = 20
BATCH = 128
HIDDEN = [512, 256]


# --- data ------------------------------------------------------------------------------------
def mnist_file(workdir: Path) -> tuple[Path, str]:
    """The MNIST file, or a file of random uint8 images of MNIST's shape written to ``workdir``."""
    candidates = [Path(os.environ.get("GENKIT_MNIST", "")), MNIST.resolve(), Path("/work/shared/data/mnist.npz")]
    for path in candidates:
        if path.is_file():
            return path, "MNIST"
    path = workdir / "generated.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (12484, 28, 28), dtype=np.uint8),
             x_test=rng.integers(0, 256, (1000, 28, 28), dtype=np.uint8))
    return path, "generated (MNIST absent)"


# --- genkit ----------------------------------------------------------------------------------
def register_conv_networks() -> None:
    """A small convolutional encoder/decoder as in-process genkit plugins (the conv VAE rows)."""
    import keras

    import genkit
    from genkit.plugin.registry import registry  # genkit.registry is the submodule once something imported it

    class ConvEncoder(genkit.Encoder):
        """28x28 -> conv 32 (stride 2) -> conv 64 (stride 2) -> dense."""

        def __init__(self, data_shape, output_size, condition_dim=0):
            super().__init__(data_shape, output_size, condition_dim)
            self.net = keras.Sequential(conv_layers(keras, "encoder", output_size))

        def call(self, x, condition=None, training=False):
            return self.net(x[..., None], training=training)

    class ConvDecoder(genkit.Decoder):
        """dense -> 7x7x64 -> transposed conv 32 (stride 2) -> transposed conv 1 (stride 2)."""

        def __init__(self, latent_dim, output_shape, condition_dim=0):
            super().__init__(latent_dim, output_shape, condition_dim)
            self.net = keras.Sequential(conv_layers(keras, "decoder", LATENT))

        def call(self, z, condition=None, training=False):
            return self.net(z, training=training)[..., 0]

    registry("encoder").add("bench_conv", ConvEncoder)
    registry("decoder").add("bench_conv", ConvDecoder)


def conv_layers(keras: Any, part: str, size: int) -> list:
    """The conv VAE's Keras layers (shared by genkit's plugin and the hand-written loop)."""
    if part == "encoder":
        return [keras.layers.Conv2D(32, 3, 2, "same", activation="relu"),
                keras.layers.Conv2D(64, 3, 2, "same", activation="relu"),
                keras.layers.Flatten(), keras.layers.Dense(size)]
    return [keras.layers.Dense(7 * 7 * 64, activation="relu"), keras.layers.Reshape((7, 7, 64)),
            keras.layers.Conv2DTranspose(32, 3, 2, "same", activation="relu"),
            keras.layers.Conv2DTranspose(1, 3, 2, "same")]


def genkit_spec(path: Path, arch: str, limit: int | None, **train: Any) -> dict:
    """The benchmark VAE as a genkit spec (dynamic binarization in the step, no validation split)."""
    network = {"type": "mlp", "hidden": HIDDEN} if arch == "mlp" else {"type": "bench_conv"}
    decoder = {"type": "mlp", "hidden": HIDDEN[::-1]} if arch == "mlp" else {"type": "bench_conv"}
    return {
        "name": f"bench-{arch}", "model": "vae", "latent_dim": LATENT,
        "data": {"type": "npz", "path": str(path), "binarize": "dynamic", "validation_split": 0.0, "limit": limit},
        "encoder": network, "decoder": decoder, "likelihood": "bernoulli", "prior": "standard_normal",
        "divergence": "kl",
        "train": {"epochs": 1, "batch_size": BATCH, "optimizer": {"type": "adam", "learning_rate": 1e-3}, **train},
    }


def genkit_runner(spec_dict: dict) -> Callable[[], int]:
    """One training epoch per call through genkit's Trainer; returns the examples trained on."""
    from genkit.runs.train import prepare
    from genkit.spec.resolve import load_spec
    from genkit.training.trainer import Trainer

    spec = load_spec(spec_dict)
    data, model = prepare(spec)
    trainer = Trainer(model, spec.train, data.train)
    epoch = 0

    def run_epoch() -> int:
        nonlocal epoch
        epoch += 1
        spec.train.epochs = epoch  # fit() trains up to train.epochs: one more epoch per call
        trainer.fit(start_epoch=epoch)
        return len(data.train)

    return run_epoch


def iwae_runner(spec_dict: dict, examples: int, k: int) -> Callable[[], int]:
    """One IWAE evaluation (``k`` importance samples of ``examples`` images) per call; returns the
    number of (example, sample) pairs scored, each one decoder pass and three log-densities (the
    encoder runs once per image)."""
    from genkit.results.evaluation import importance_weighted_log_likelihood
    from genkit.runs.train import prepare
    from genkit.spec.resolve import load_spec

    data, model = prepare(load_spec(spec_dict))
    x = np.asarray(data.train.x[:examples] > 0.5, np.float32)

    def run_epoch() -> int:
        importance_weighted_log_likelihood(model, x, k=k)
        return examples * k

    return run_epoch


# --- hand-written Keras 3 + TFP loop --------------------------------------------------------
def keras_runner(x: np.ndarray, arch: str, jit_compile: bool) -> Callable[[], int]:
    """The loop a user writes by hand: Sequential networks, TFP heads, tf.data, one tf.function step."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    keras.utils.set_random_seed(0)
    if arch == "mlp":
        encoder = keras.Sequential([keras.layers.Flatten()] + [keras.layers.Dense(w, activation="relu") for w in HIDDEN]
                                   + [keras.layers.Dense(2 * LATENT)])
        decoder = keras.Sequential([keras.layers.Dense(w, activation="relu") for w in HIDDEN[::-1]]
                                   + [keras.layers.Dense(784), keras.layers.Reshape((28, 28))])
    else:
        encoder = keras.Sequential([keras.layers.Reshape((28, 28, 1)), *conv_layers(keras, "encoder", 2 * LATENT)])
        decoder = keras.Sequential([*conv_layers(keras, "decoder", LATENT), keras.layers.Reshape((28, 28))])
    encoder.build((None, 28, 28))
    decoder.build((None, LATENT))
    variables = encoder.trainable_variables + decoder.trainable_variables
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(variables)
    prior = tfd.Independent(tfd.Normal(tf.zeros(LATENT), 1.0), 1)

    @tf.function(jit_compile=jit_compile)
    def step(images: tf.Tensor) -> tf.Tensor:
        images = tf.cast(tf.random.uniform(tf.shape(images)) < images, tf.float32)  # dynamic binarization
        with tf.GradientTape() as tape:
            loc, raw_scale = tf.split(encoder(images, training=True), 2, axis=-1)
            q = tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw_scale) + 1e-5), 1)
            p = tfd.Independent(tfd.Bernoulli(logits=decoder(q.sample(), training=True), dtype=tf.float32), 2)
            loss = tf.reduce_mean(-p.log_prob(images) + tfd.kl_divergence(q, prior))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    dataset = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x)).batch(BATCH).prefetch(tf.data.AUTOTUNE)

    def run_epoch() -> int:
        for images in dataset:
            step(images)
        return len(x)

    return run_epoch


# --- PyTorch: Pythae and a plain loop ----------------------------------------------------------
def torch_networks(arch: str, encoder_outputs: int = 2 * LATENT) -> tuple[Any, Any]:
    """Encoder (-> ``encoder_outputs``, a Gaussian's 2 * latent by default) and decoder (latent ->
    logits [B, 1, 28, 28]) as torch modules, the same shapes as genkit's."""
    from torch import nn

    if arch == "mlp":
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                nn.Linear(256, encoder_outputs))
        decoder = nn.Sequential(nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                nn.Linear(512, 784), nn.Unflatten(1, (1, 28, 28)))
    else:
        encoder = nn.Sequential(nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                                nn.Flatten(), nn.Linear(7 * 7 * 64, encoder_outputs))
        decoder = nn.Sequential(nn.Linear(LATENT, 7 * 7 * 64), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                                nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1), nn.ReLU(),
                                nn.ConvTranspose2d(32, 1, 3, 2, 1, output_padding=1))
    return encoder, decoder


def pythae_runner(x: np.ndarray, arch: str, workdir: Path) -> Callable[[], int]:
    """Pythae's VAE and BaseTrainer (its DataLoader, loss and optimizer step), one ``train_step`` per epoch."""
    import torch
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    torch.manual_seed(0)
    encoder_net, decoder_net = torch_networks(arch)

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = encoder_net

        def forward(self, images):
            loc, log_var = self.net(images).chunk(2, dim=-1)
            return ModelOutput(embedding=loc, log_covariance=log_var)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = decoder_net

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce")
    model = VAE(config, encoder=Encoder(), decoder=Decoder())
    data = torch.from_numpy(x[:, None])
    training = BaseTrainerConfig(output_dir=str(workdir / "pythae"), per_device_train_batch_size=BATCH,
                                 learning_rate=1e-3, num_epochs=1000, optimizer_cls="Adam", no_cuda=True)
    trainer = BaseTrainer(model, BaseDataset(data, torch.zeros(len(x))), training_config=training)
    trainer.prepare_training()
    epoch = 0

    def run_epoch() -> int:
        nonlocal epoch
        epoch += 1
        trainer.train_step(epoch)
        return len(x)

    return run_epoch


def torch_runner(x: np.ndarray, arch: str) -> Callable[[], int]:
    """A plain PyTorch loop: index batches from one tensor, BCE with logits, analytic KL, Adam."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    encoder, decoder = torch_networks(arch)
    parameters = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    data = torch.from_numpy(x[:, None])

    def run_epoch() -> int:
        for rows in torch.randperm(len(data)).split(BATCH):
            images = (torch.rand_like(data[rows]) < data[rows]).float()  # dynamic binarization
            loc, log_var = encoder(images).chunk(2, dim=-1)
            z = loc + torch.randn_like(loc) * torch.exp(0.5 * log_var)
            reconstruction = F.binary_cross_entropy_with_logits(decoder(z), images, reduction="none").sum((1, 2, 3))
            kl = -0.5 * torch.sum(1 + log_var - loc.pow(2) - log_var.exp(), dim=-1)
            loss = (reconstruction + kl).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return len(x)

    return run_epoch


# --- measurements ----------------------------------------------------------------------------
@dataclass
class Row:
    """One configuration: its name, model, worker family ("tf" or "torch") and per-round throughputs."""

    name: str
    arch: str
    family: str
    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """float32 matmul rate of TensorFlow on this machine (best of a few timed chains), GFLOP/s.

    The matmuls form a dependent chain so that graph optimisation cannot merge them.
    """
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n)) / n**0.5  # keeps the chain's values bounded

    @tf.function
    def chain(x: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        for _ in range(repeats):
            x = tf.matmul(x, b)
        return x

    chain(a, b).numpy()
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        chain(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 * repeats / best / 1e9


def mlp_multiply_adds() -> int:
    """Multiply-adds of one example through the MLP encoder and decoder (weights; biases are negligible)."""
    widths = [784, *HIDDEN, 2 * LATENT]
    back = [LATENT, *HIDDEN[::-1], 784]
    return sum(a * b for a, b in zip(widths, widths[1:], strict=False)) + sum(
        a * b for a, b in zip(back, back[1:], strict=False))


def row_makers(args: argparse.Namespace, path: Path, workdir: Path) -> dict[str, tuple[str, str, Callable]]:
    """Row name -> (model, family, factory of its epoch runner); factories run inside the worker."""
    def data(limit: int | None = None) -> np.ndarray:
        return (np.load(path)["x_train"][:limit].astype(np.float32) / 255.0)

    conv = args.conv_examples
    makers: dict[str, tuple[str, str, Callable]] = {
        "genkit (spec defaults)": ("mlp", "tf", lambda: genkit_runner(genkit_spec(path, "mlp", None))),
        "genkit jit_compile=true": (
            "mlp", "tf", lambda: genkit_runner(genkit_spec(path, "mlp", None, jit_compile=True))),
        f"genkit steps_per_execution={args.spe}": (
            "mlp", "tf", lambda: genkit_runner(genkit_spec(path, "mlp", None, steps_per_execution=args.spe))),
        "genkit mixed_precision=bfloat16": (
            "mlp", "tf", lambda: genkit_runner(genkit_spec(path, "mlp", None, mixed_precision="bfloat16"))),
        f"genkit IWAE evaluation, k={args.iwae_k} (importance samples/s)": (
            "iwae", "tf", lambda: iwae_runner(genkit_spec(path, "mlp", None), 1000, args.iwae_k)),
        "hand-written Keras+TFP loop": ("mlp", "tf", lambda: keras_runner(data(), "mlp", False)),
        "hand-written Keras+TFP loop, XLA": ("mlp", "tf", lambda: keras_runner(data(), "mlp", True)),
        "plain PyTorch loop": ("mlp", "torch", lambda: torch_runner(data(), "mlp")),
        "Pythae (PyTorch CPU)": ("mlp", "torch", lambda: pythae_runner(data(), "mlp", workdir)),
    }
    if not args.no_conv:
        makers.update({
            "genkit conv (spec defaults)": ("conv", "tf", lambda: genkit_runner(genkit_spec(path, "conv", conv))),
            "genkit conv jit_compile=true": (
                "conv", "tf", lambda: genkit_runner(genkit_spec(path, "conv", conv, jit_compile=True))),
            "hand-written Keras+TFP conv loop": ("conv", "tf", lambda: keras_runner(data(conv), "conv", False)),
            "plain PyTorch conv loop": ("conv", "torch", lambda: torch_runner(data(conv), "conv")),
            "Pythae conv (PyTorch CPU)": ("conv", "torch", lambda: pythae_runner(data(conv), "conv", workdir)),
        })
    if args.only:
        makers = {name: value for name, value in makers.items() if any(k in name for k in args.only.split(","))}
    return makers


def worker(family: str, args: argparse.Namespace, path: Path, workdir: Path, connection: Any) -> None:
    """A worker process: builds its family's rows, then answers commands ("warm", "epoch", "gflops")."""
    import contextlib
    import io

    if family == "tf":
        from genkit.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()  # the same environment `genkit run` trains in
        register_conv_networks()
    else:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    runners: dict[str, Callable[[], int]] = {}
    makers = row_makers(args, path, workdir)
    while True:
        command, name = connection.recv()
        if command == "stop":
            return
        if command == "gflops":
            connection.send(matmul_gflops())
            continue
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # Pythae's chatter
            if name not in runners:
                runners[name] = makers[name][2]()
            started = time.perf_counter()
            examples = runners[name]()
        connection.send(examples / (time.perf_counter() - started))


def measure(args: argparse.Namespace, path: Path, workdir: Path) -> tuple[list[Row], float]:
    """Warm up every row, then time ``args.rounds`` interleaved epochs (rotating the order); also the matmul rate."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    rows = [Row(name, arch, family) for name, (arch, family, _) in row_makers(args, path, workdir).items()]
    families = sorted({row.family for row in rows} | {"tf"})
    if "torch" in families and not _importable("torch", "pythae"):
        print("note: PyTorch rows skipped (torch or pythae not installed)", file=sys.stderr)
        rows = [row for row in rows if row.family != "torch"]
        families.remove("torch")
    connections, processes = {}, []
    for family in families:
        parent, child = context.Pipe()
        process = context.Process(target=worker, args=(family, args, path, workdir, child), daemon=True)
        process.start()
        connections[family], _ = parent, processes.append(process)

    def ask(family: str, command: str, name: str = "") -> float:
        connections[family].send((command, name))
        return connections[family].recv()

    try:
        gflops = ask("tf", "gflops")
        for row in rows:
            ask(row.family, "epoch", row.name)  # warm-up: tracing, XLA compilation, thread pools
            print(f"  warmed up: {row.name}", file=sys.stderr, flush=True)
        for index in range(args.rounds):
            for row in rows[index % len(rows):] + rows[: index % len(rows)]:
                time.sleep(args.pause)  # idle thread pools of the other rows stop spinning first
                row.rates.append(ask(row.family, "epoch", row.name))
            print(f"  round {index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        gflops = max(gflops, ask("tf", "gflops"))
    finally:
        for family in families:
            connections[family].send(("stop", ""))
        for process in processes:
            process.join(timeout=30)
    return rows, gflops


def _importable(*modules: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(module) is not None for module in modules)


def report(rows: list[Row], gflops: float, data_name: str, args: argparse.Namespace) -> str:
    """The results table (markdown) with ratios to the hand-written loop and to Pythae."""
    import platform

    versions = {name: _version(name) for name in ("tensorflow", "keras", "torch", "pythae")}
    lines = [
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(shared with other processes: load average before the run {args.load:.1f}); "
        + ", ".join(f"{k} {v}" for k, v in versions.items() if v)
        + f"; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset (TF default)')}",
        f"data: {data_name}, batch {BATCH}; conv rows: first {args.conv_examples} images; "
        f"{args.rounds} interleaved timed epochs after 1 warm-up epoch; median examples/s",
        f"TensorFlow float32 matmul (2048x2048): {gflops:.1f} GFLOP/s",
        "",
    ]
    for arch in ("mlp", "conv"):
        group = [row for row in rows if row.arch == arch]
        if not group:
            continue
        hand = next((r for r in group if r.name.startswith("hand-written") and "XLA" not in r.name), None)
        pythae = next((r for r in group if r.name.startswith("Pythae")), None)
        lines += [f"### {'MLP VAE 784-512-256-20' if arch == 'mlp' else 'conv VAE'}", "",
                  "| configuration | examples/s (median) | min-max | vs hand-written | vs Pythae |",
                  "|---|---:|---:|---:|---:|"]
        for row in group:
            ratio = [f"{row.median / ref.median:.2f}x" if ref else "-" for ref in (hand, pythae)]
            lines.append(f"| {row.name} | {row.median:,.0f} | {min(row.rates):,.0f}-{max(row.rates):,.0f} "
                         f"| {ratio[0]} | {ratio[1]} |")
        lines.append("")
    default = next((row for row in rows if row.name.startswith("genkit (spec defaults")), None)
    if default is not None:
        flops = 6 * mlp_multiply_adds()
        rate = default.median * flops / 1e9
        lines.append(
            f"genkit MLP VAE: {flops / 1e6:.2f} MFLOP per training example (6 x {mlp_multiply_adds():,} "
            f"multiply-adds); at {default.median:,.0f} examples/s that is {rate:.1f} GFLOP/s = "
            f"{100 * rate / gflops:.0f}% of the measured matmul rate")
        iwae = next((row for row in rows if row.arch == "iwae"), None)
        if iwae is not None:
            lines.append(
                f"IWAE evaluation (1,000 images, k={args.iwae_k}): {iwae.median:,.0f} importance samples/s "
                f"= {iwae.median / default.median:.2f}x genkit's training examples/s (a sample is one decoder "
                "pass and three log-densities; a training example is a forward and backward pass of both networks)")
    return "\n".join(lines)


def _version(module: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per configuration")
    parser.add_argument("--spe", type=int, default=1, help="steps_per_execution of its row (the default is auto)")
    parser.add_argument("--conv-examples", type=int, default=3072, help="training images for the conv rows")
    parser.add_argument("--no-conv", action="store_true", help="skip the conv VAE rows")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds of idle time before each timed epoch")
    parser.add_argument("--iwae-k", type=int, default=100, help="importance samples of the IWAE row")
    parser.add_argument("--only", default="", help="comma-separated substrings: keep only matching rows")
    args = parser.parse_args()
    args.load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path, data_name = mnist_file(workdir)
        rows, gflops = measure(args, path, workdir)
        print(report(rows, gflops, f"{data_name} ({len(np.load(path)['x_train'])} training images)", args))


if __name__ == "__main__":
    main()
