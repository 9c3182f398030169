"""Training throughput of one VAE trained several ways in one process, printed as a table.

    python benchmarks/throughput.py            # all rows (about 6 minutes on 2 CPU cores)
    python benchmarks/throughput.py --rounds 3 --conv-examples 2048
    python benchmarks/throughput.py --rounds 1 --examples 2048 --conv-examples 512 --first-step-repeats 1  # smoke

The model: a 784-512-256-20 MLP VAE (decoder mirrored), Bernoulli likelihood, batch 128, Adam,
on the MNIST training images of ``../shared/data/mnist.npz`` (random images of the same shape
when that file is absent); plus a small convolutional VAE on a subset. Trained by:

- genkit through its spec path (``genkit.runs.train.prepare`` + ``Trainer``; default settings and variants;
  ``jit_compile: auto`` decides as for a 20-epoch run, the length of the MNIST example specs),
- a minimal hand-written Keras 3 + TFP ``tf.function`` loop (what a user writes without genkit), and a
  lean one (data binarized once beforehand, ``tf.data`` shuffle, ``batch(drop_remainder=True)``, prefetch),
- the roofline: the bare training step (the same networks' forward and backward passes, a
  reparameterized sample, the Bernoulli log-likelihood, the analytic KL, a fused Adam update) over
  batches made beforehand, an epoch in one compiled ``tf.while_loop``, compiled without and with
  XLA; the faster of the two is the practical ceiling of that model on this machine, and every row
  is also reported as a fraction of it,
- Pythae's trainer on PyTorch CPU, and a plain PyTorch loop (rows appear if torch/pythae import);
- and genkit's IWAE evaluation (``genkit.evaluation``), in importance samples per second, to compare
  with its training rate.

Every configuration trains one warm-up epoch, then ``--rounds`` timed epochs; the rounds are
interleaved (round 1 of every row, then round 2, ...) so that load from other processes falls on
all rows alike. TensorFlow rows and PyTorch rows live in two worker processes (their thread pools
would otherwise spin against each other); the coordinator runs one epoch at a time, so only one
row computes at any moment. Throughput is the median over rounds of training examples per second. The run
also measures this machine's float32 matmul rate in TensorFlow and the fraction of it the genkit
VAE and the roofline reach, counting 6 floating-point operations per multiply-add of the networks
per example (2 forward, 4 backward), and, before the rows, the time from a fresh process's start
to its first training step (``benchmarks/first_step.py``). The output starts with the command, the
machine (CPU model, cores, load average before and after) and the wall time.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from machine import Header

MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist.npz"
LATENT = 20
BATCH = 128
HIDDEN = [512, 256]
#: The start of the roofline rows' names (one compiled without XLA, one with; the faster is the roofline).
ROOFLINE = "roofline: bare step in one tf.while_loop"
#: The start of the lean hand-written loops' names.
LEAN = "lean hand-written"
#: The length of the run whose epochs the genkit rows time (the MNIST example specs train for 20).
RUN_EPOCHS = 20


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


def training_images(path: Path, limit: int | None) -> np.ndarray:
    """The first ``limit`` (None: all) training images of the data file, as float32 in [0, 1]."""
    return np.load(path)["x_train"][:limit].astype(np.float32) / 255.0


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


def genkit_spec(path: Path, arch: str, limit: int | None, hidden: list[int] = HIDDEN, **train: Any) -> dict:
    """The benchmark VAE as a genkit spec (dynamic binarization in the step, no validation split);
    ``hidden``: the MLP encoder's widths (the decoder's mirrored); ``train``: settings that override."""
    network = {"type": "mlp", "hidden": hidden} if arch == "mlp" else {"type": "bench_conv"}
    decoder = {"type": "mlp", "hidden": hidden[::-1]} if arch == "mlp" else {"type": "bench_conv"}
    return {
        "name": f"bench-{arch}", "model": "vae", "latent_dim": LATENT,
        "data": {"type": "npz", "path": str(path), "binarize": "dynamic", "validation_split": 0.0, "limit": limit},
        "encoder": network, "decoder": decoder, "likelihood": "bernoulli", "prior": "standard_normal",
        "divergence": "kl",
        "train": {"epochs": 1, "batch_size": BATCH, "optimizer": {"type": "adam", "learning_rate": 1e-3}, **train},
    }


def genkit_runner(spec_dict: dict, run_epochs: int = RUN_EPOCHS) -> Callable[[], int]:
    """One training epoch per call through genkit's Trainer; returns the examples trained on.

    ``jit_compile: auto`` decides once, before the first epoch, for a run of ``run_epochs`` epochs:
    what ``genkit run`` decides for a spec of that length (a one-epoch run would never get XLA, and
    the benchmark times epochs of a real run). The decision is printed to stderr."""
    from genkit.runs.train import prepare
    from genkit.spec.resolve import load_spec
    from genkit.training.trainer import Trainer

    spec = load_spec(spec_dict)
    data, model = prepare(spec)
    trainer = Trainer(model, spec.train, data.train)
    spec.train.epochs = run_epochs
    print(f"  {spec.name}: {trainer.choose_jit().describe()}", file=sys.stderr, flush=True)
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


# --- hand-written Keras 3 + TFP loops --------------------------------------------------------
def keras_networks(arch: str, hidden: list[int] = HIDDEN) -> tuple[Any, Any]:
    """The benchmark's encoder (images -> 2 * latent) and decoder (codes -> logits of the images shape)
    as built Keras Sequential networks: what the hand-written loops and the roofline train (``hidden``:
    the MLP encoder's widths, the decoder's mirrored)."""
    import keras

    if arch == "mlp":
        encoder = keras.Sequential([keras.layers.Flatten()] + [keras.layers.Dense(w, activation="relu") for w in hidden]
                                   + [keras.layers.Dense(2 * LATENT)])
        decoder = keras.Sequential([keras.layers.Dense(w, activation="relu") for w in hidden[::-1]]
                                   + [keras.layers.Dense(784), keras.layers.Reshape((28, 28))])
    else:
        encoder = keras.Sequential([keras.layers.Reshape((28, 28, 1)), *conv_layers(keras, "encoder", 2 * LATENT)])
        decoder = keras.Sequential([*conv_layers(keras, "decoder", LATENT), keras.layers.Reshape((28, 28))])
    encoder.build((None, 28, 28))
    decoder.build((None, LATENT))
    return encoder, decoder


def binarized_once(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """One Bernoulli draw of every pixel of ``x``, made before training (the lean loop and the roofline
    draw no noise for the data inside the step)."""
    return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)


def keras_runner(x: np.ndarray, arch: str, jit_compile: bool, lean: bool = False, batch: int = BATCH,
                 hidden: list[int] = HIDDEN) -> Callable[[], int]:
    """The loop a user writes by hand: Sequential networks, TFP heads, tf.data, one tf.function step.

    The benchmark's loop binarizes each batch inside the step and keeps the epoch's last, smaller
    batch; the ``lean`` loop binarizes the data once beforehand and drops that batch (one traced
    shape), as a user who tunes the loop would. ``batch``, ``hidden``: the batch size and the MLP's widths.
    """
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    keras.utils.set_random_seed(0)
    encoder, decoder = keras_networks(arch, hidden)
    variables = encoder.trainable_variables + decoder.trainable_variables
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(variables)
    prior = tfd.Independent(tfd.Normal(tf.zeros(LATENT), 1.0), 1)

    @tf.function(jit_compile=jit_compile)
    def step(images: tf.Tensor) -> tf.Tensor:
        if not lean:
            images = tf.cast(tf.random.uniform(tf.shape(images)) < images, tf.float32)  # dynamic binarization
        with tf.GradientTape() as tape:
            loc, raw_scale = tf.split(encoder(images, training=True), 2, axis=-1)
            q = tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw_scale) + 1e-5), 1)
            p = tfd.Independent(tfd.Bernoulli(logits=decoder(q.sample(), training=True), dtype=tf.float32), 2)
            loss = tf.reduce_mean(-p.log_prob(images) + tfd.kl_divergence(q, prior))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    data = binarized_once(x) if lean else x
    dataset = (tf.data.Dataset.from_tensor_slices(data).shuffle(len(data)).batch(batch, drop_remainder=lean)
               .prefetch(tf.data.AUTOTUNE))
    examples = len(data) // batch * batch if lean else len(data)

    def run_epoch() -> int:
        for images in dataset:
            step(images)
        return examples

    return run_epoch


# --- the roofline: the bare training step ------------------------------------------------------
def bare_loss(encoder: Any, decoder: Any, images: Any, seed: Any, algorithm: str) -> Any:
    """A batch's mean negative ELBO in plain tensor operations: a reparameterized Gaussian sample,
    the Bernoulli log-likelihood from logits, the analytic KL to N(0, I); no distribution objects."""
    import tensorflow as tf

    loc, raw_scale = tf.split(encoder(images, training=True), 2, axis=-1)
    scale = tf.nn.softplus(raw_scale) + 1e-5
    z = loc + scale * tf.random.stateless_normal(tf.shape(loc), seed, alg=algorithm)
    logits = decoder(z, training=True)
    log_likelihood = -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(images, logits), axis=[1, 2])
    kl = tf.reduce_sum(0.5 * (tf.square(loc) + tf.square(scale) - 1.0) - tf.math.log(scale), axis=-1)
    return tf.reduce_mean(kl - log_likelihood)


class FusedAdam:
    """Adam as one fused kernel per variable (``ResourceApplyAdam``, TensorFlow's cheapest update),
    with Keras' defaults: learning rate 1e-3, betas 0.9 and 0.999, epsilon 1e-7."""

    def __init__(self, variables: list[Any]) -> None:
        import tensorflow as tf

        self.variables = variables
        self.slots = [(tf.Variable(tf.zeros(v.shape)), tf.Variable(tf.zeros(v.shape))) for v in variables]
        self.steps = tf.Variable(0.0)

    def apply(self, gradients: list[Any]) -> list[Any]:
        """Update every variable by its gradient; returns the update operations."""
        import tensorflow as tf

        steps = self.steps.assign_add(1.0)
        beta1_power, beta2_power = tf.pow(0.9, steps), tf.pow(0.999, steps)
        return [tf.raw_ops.ResourceApplyAdam(var=variable.value.handle, m=m.handle, v=v.handle,
                                             beta1_power=beta1_power, beta2_power=beta2_power, lr=1e-3, beta1=0.9,
                                             beta2=0.999, epsilon=1e-7, grad=gradient)
                for variable, (m, v), gradient in zip(self.variables, self.slots, gradients, strict=True)]


def roofline_runner(x: np.ndarray, arch: str, jit_compile: bool) -> Callable[[], int]:
    """The practical ceiling of this model on this machine: the bare training step (the networks'
    forward and backward passes, :func:`bare_loss`, :class:`FusedAdam`) over batches made and
    binarized before training, an epoch of steps in one compiled ``tf.while_loop``; nothing else
    (no input pipeline, no metrics, no checks)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    encoder, decoder = keras_networks(arch)
    variables = encoder.trainable_variables + decoder.trainable_variables
    adam = FusedAdam(variables)
    steps = len(x) // BATCH
    batches = tf.Variable(binarized_once(x[: steps * BATCH]).reshape(steps, BATCH, *x.shape[1:]), trainable=False)
    algorithm = "threefry" if jit_compile else "philox"  # each one's fast algorithm (genkit.plugin.randomness)

    @tf.function(jit_compile=jit_compile, autograph=False)
    def epoch(index: tf.Tensor) -> tf.Tensor:
        def body(step: tf.Tensor, total: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                loss = bare_loss(encoder, decoder, tf.gather(batches, step), tf.stack([index, step]), algorithm)
            with tf.control_dependencies(adam.apply(tape.gradient(loss, variables))):  # before the next step reads
                return step + 1, total + loss

        return tf.while_loop(lambda step, _: step < steps, body, (tf.constant(0), tf.constant(0.0)))[1]

    count = 0

    def run_epoch() -> int:
        nonlocal count
        count += 1
        epoch(tf.constant(count)).numpy()
        return steps * BATCH

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
    """One configuration: its name, model, worker family ("tf" or "torch"), per-round throughputs and
    (on a GPU) the device's peak memory during each timed epoch, in MB."""

    name: str
    arch: str
    family: str
    rates: list[float] = field(default_factory=list)
    memory_mb: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


@dataclass
class Measurement:
    """The rows that were timed, the matmul rate, and why measuring stopped early (None: it did not)."""

    rows: list[Row]
    gflops: float
    stopped: str | None = None


#: Row name -> (model, family, factory of its epoch runner).
Makers = dict[str, tuple[str, str, Callable]]


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
    mlp, conv = args.examples, args.conv_examples

    def data(limit: int | None) -> np.ndarray:
        return training_images(path, limit)

    makers: dict[str, tuple[str, str, Callable]] = {
        "genkit (spec defaults)": ("mlp", "tf", lambda: genkit_runner(genkit_spec(path, "mlp", mlp))),
        "genkit jit_compile=true": (
            "mlp", "tf", lambda: genkit_runner(genkit_spec(path, "mlp", mlp, jit_compile=True))),
        f"genkit steps_per_execution={args.spe}": (
            "mlp", "tf", lambda: genkit_runner(genkit_spec(path, "mlp", mlp, steps_per_execution=args.spe))),
        "genkit mixed_precision=bfloat16": (
            "mlp", "tf", lambda: genkit_runner(genkit_spec(path, "mlp", mlp, mixed_precision="bfloat16"))),
        f"genkit IWAE evaluation, k={args.iwae_k} (importance samples/s)": (
            "iwae", "tf", lambda: iwae_runner(genkit_spec(path, "mlp", mlp), 1000, args.iwae_k)),
        f"{ROOFLINE}, graph": ("mlp", "tf", lambda: roofline_runner(data(mlp), "mlp", False)),
        f"{ROOFLINE}, XLA": ("mlp", "tf", lambda: roofline_runner(data(mlp), "mlp", True)),
        "hand-written Keras+TFP loop": ("mlp", "tf", lambda: keras_runner(data(mlp), "mlp", False)),
        "hand-written Keras+TFP loop, XLA": ("mlp", "tf", lambda: keras_runner(data(mlp), "mlp", True)),
        f"{LEAN} Keras+TFP loop": ("mlp", "tf", lambda: keras_runner(data(mlp), "mlp", False, lean=True)),
        "plain PyTorch loop": ("mlp", "torch", lambda: torch_runner(data(mlp), "mlp")),
        "Pythae (PyTorch CPU)": ("mlp", "torch", lambda: pythae_runner(data(mlp), "mlp", workdir)),
    }
    if not args.no_conv:
        makers.update({
            "genkit conv (spec defaults)": ("conv", "tf", lambda: genkit_runner(genkit_spec(path, "conv", conv))),
            "genkit conv jit_compile=true": (
                "conv", "tf", lambda: genkit_runner(genkit_spec(path, "conv", conv, jit_compile=True))),
            f"{ROOFLINE} conv, graph": ("conv", "tf", lambda: roofline_runner(data(conv), "conv", False)),
            f"{ROOFLINE} conv, XLA": ("conv", "tf", lambda: roofline_runner(data(conv), "conv", True)),
            "hand-written Keras+TFP conv loop": ("conv", "tf", lambda: keras_runner(data(conv), "conv", False)),
            f"{LEAN} Keras+TFP conv loop": (
                "conv", "tf", lambda: keras_runner(data(conv), "conv", False, lean=True)),
            "plain PyTorch conv loop": ("conv", "torch", lambda: torch_runner(data(conv), "conv")),
            "Pythae conv (PyTorch CPU)": ("conv", "torch", lambda: pythae_runner(data(conv), "conv", workdir)),
        })
    if args.only:
        makers = {name: value for name, value in makers.items() if any(k in name for k in args.only.split(","))}
    return makers


def gpu_device() -> str | None:
    """The first GPU TensorFlow sees ("GPU:0"), None without one."""
    import tensorflow as tf

    return "GPU:0" if tf.config.list_physical_devices("GPU") else None


def worker(family: str, args: argparse.Namespace, path: Path, workdir: Path, connection: Any,
           makers_of: Callable[[argparse.Namespace, Path, Path], Makers]) -> None:
    """A worker process: builds its family's rows (``makers_of``), then answers commands ("epoch":
    one epoch's examples/s and, on a GPU, the device's peak memory in MB during it; "gflops")."""
    import contextlib
    import io

    if family == "tf":
        from genkit.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()  # the same environment `genkit run` trains in
        import tensorflow as tf

        register_conv_networks()
        gpu = gpu_device()
    else:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        gpu = None
    runners: dict[str, Callable[[], int]] = {}
    makers = makers_of(args, path, workdir)
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
            if gpu:
                tf.config.experimental.reset_memory_stats(gpu)
            started = time.perf_counter()
            examples = runners[name]()
        rate = examples / (time.perf_counter() - started)
        memory = tf.config.experimental.get_memory_info(gpu)["peak"] / 2**20 if gpu else None
        connection.send((rate, memory))


def measure(args: argparse.Namespace, path: Path, workdir: Path,
            makers_of: Callable[[argparse.Namespace, Path, Path], Makers] | None = None,
            deadline: float | None = None) -> Measurement:
    """Warm up every row, then time ``args.rounds`` interleaved epochs (rotating the order); also the
    matmul rate. ``makers_of``: the rows (default :func:`row_makers`), built in the workers; past
    ``deadline`` (a ``time.monotonic()`` value) measuring stops, keeping the rounds done; with a
    deadline each row's first timed epoch follows its warm-up directly (so every row that warmed up
    has a number), the others are interleaved."""
    import multiprocessing

    makers_of = makers_of or row_makers
    context = multiprocessing.get_context("spawn")
    rows = [Row(name, arch, family) for name, (arch, family, _) in makers_of(args, path, workdir).items()]
    families = sorted({row.family for row in rows} | {"tf"})
    if "torch" in families and not _importable("torch", "pythae"):
        print("note: PyTorch rows skipped (torch or pythae not installed)", file=sys.stderr)
        rows = [row for row in rows if row.family != "torch"]
        families.remove("torch")
    connections, processes = {}, []
    for family in families:
        parent, child = context.Pipe()
        process = context.Process(target=worker, args=(family, args, path, workdir, child, makers_of), daemon=True)
        process.start()
        connections[family], _ = parent, processes.append(process)

    def ask(family: str, command: str, name: str = "") -> Any:
        connections[family].send((command, name))
        if deadline is not None and not connections[family].poll(max(0.0, deadline - time.monotonic())):
            raise TimeoutError
        return connections[family].recv()

    def timed(row: Row) -> None:
        time.sleep(args.pause)  # idle thread pools of the other rows stop spinning first
        rate, memory = ask(row.family, "epoch", row.name)
        row.rates.append(rate)
        row.memory_mb += [] if memory is None else [memory]

    gflops, stopped = math.nan, None
    first_round = deadline is not None and args.rounds > 0  # timed right after each warm-up
    try:
        gflops = ask("tf", "gflops")
        for row in rows:
            ask(row.family, "epoch", row.name)  # warm-up: tracing, XLA compilation, thread pools
            print(f"  warmed up: {row.name}", file=sys.stderr, flush=True)
            if first_round:  # a row that warmed up gets a number before the limit
                timed(row)
        for index in range(first_round, args.rounds):
            for row in rows[index % len(rows):] + rows[: index % len(rows)]:
                timed(row)
            print(f"  round {index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        gflops = max(gflops, ask("tf", "gflops"))
    except TimeoutError:
        done = min(len(row.rates) for row in rows)
        stopped = f"the time limit ended the measurement after {done} timed epoch(s) of every row ({args.rounds} asked)"
    finally:
        for family in families:
            connections[family].send(("stop", ""))
        for process in processes:
            process.join(timeout=5 if stopped else 30)
            if process.is_alive():
                process.terminate()
    left_out = [row.name for row in rows if not row.rates]
    if stopped and left_out:
        stopped += f"; never timed, so left out: {', '.join(left_out)}"
    return Measurement([row for row in rows if row.rates], gflops, stopped)


def _importable(*modules: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(module) is not None for module in modules)


def roofline_of(group: list[Row]) -> Row | None:
    """The faster of a model's two roofline rows (without and with XLA), None when neither ran."""
    return max((row for row in group if row.name.startswith(ROOFLINE)), key=lambda row: row.median, default=None)


def model_table(arch: str, group: list[Row]) -> list[str]:
    """One model's rows as a markdown table: examples/s, their fraction of the model's roofline, the
    ratios to the benchmark's hand-written loop and to Pythae, and (on a GPU) the device's peak memory."""
    hand = next((r for r in group if r.name.startswith("hand-written") and "XLA" not in r.name), None)
    pythae = next((r for r in group if r.name.startswith("Pythae")), None)
    roof = roofline_of(group)
    memory = any(row.memory_mb for row in group)
    lines = [f"### {'MLP VAE 784-512-256-20' if arch == 'mlp' else 'conv VAE'}", "",
             "| configuration | examples/s (median) | min-max | of roofline | vs hand-written | vs Pythae |"
             + (" device memory peak MB |" if memory else ""),
             "|---|---:|---:|---:|---:|---:|" + ("---:|" if memory else "")]
    for row in group:
        share = f"{100 * row.median / roof.median:.0f}%" if roof else "-"
        ratio = [f"{row.median / ref.median:.2f}x" if ref else "-" for ref in (hand, pythae)]
        peak = (f" {max(row.memory_mb):,.0f} |" if row.memory_mb else " - |") if memory else ""
        lines.append(f"| {row.name} | {row.median:,.0f} | {min(row.rates):,.0f}-{max(row.rates):,.0f} "
                     f"| {share} | {ratio[0]} | {ratio[1]} |{peak}")
    if roof is not None:
        compiled = "with XLA" if roof.name.endswith("XLA") else "without XLA (graph execution)"
        lines += ["", f"Roofline of this model: the bare step compiled {compiled}, the faster of the two here "
                  f"({roof.median:,.0f} examples/s); 'of roofline' is each row's median over that one."]
    return [*lines, ""]


def flops_lines(rows: list[Row], gflops: float, args: argparse.Namespace) -> list[str]:
    """The MLP VAE's floating-point rate (genkit's defaults and the roofline) against the matmul rate,
    and the IWAE evaluation rate against genkit's training rate."""
    default = next((row for row in rows if row.name.startswith("genkit (spec defaults")), None)
    flops = 6 * mlp_multiply_adds()
    lines = []
    for label, row in (("genkit MLP VAE (spec defaults)", default),
                       ("MLP roofline", roofline_of([r for r in rows if r.arch == "mlp"]))):
        if row is not None:
            rate = row.median * flops / 1e9
            lines.append(f"{label}: {flops / 1e6:.2f} MFLOP per training example (6 x {mlp_multiply_adds():,} "
                         f"multiply-adds); at {row.median:,.0f} examples/s that is {rate:.1f} GFLOP/s = "
                         f"{100 * rate / gflops:.0f}% of the measured matmul rate")
    iwae = next((row for row in rows if row.arch == "iwae"), None)
    if iwae is not None and default is not None:
        lines.append(
            f"IWAE evaluation (1,000 images, k={args.iwae_k}): {iwae.median:,.0f} importance samples/s "
            f"= {iwae.median / default.median:.2f}x genkit's training examples/s (a sample is one decoder "
            "pass and three log-densities; a training example is a forward and backward pass of both networks)")
    return lines


def first_step_line(workdir: Path, repeats: int) -> str:
    """Time from a fresh process's start to the end of its first training step, both ``jit_compile``
    settings (the measurement of benchmarks/first_step.py)."""
    import first_step

    spec_path, _ = first_step.write_spec(workdir)
    results = first_step.measure(spec_path, repeats)

    def parts(runs: list[dict[str, float]]) -> str:
        return ", ".join(f"{part} {statistics.median(run[part] for run in runs):.2f}" for part in first_step.PARTS[:4])

    return (f"time to the first training step (genkit.train of the MLP VAE in a fresh process, as "
            f"benchmarks/first_step.py; median of {repeats}): "
            + "; ".join(f"jit_compile {jit}: {first_step.total(runs):.2f} s ({parts(runs)})"
                        for jit, runs in results.items()))


def report(measured: Measurement, data_name: str, args: argparse.Namespace, header: Header,
           extra: Sequence[str] = ()) -> str:
    """The results: how and where they were measured (and ``extra`` lines about it), a table per model,
    the rates against the matmul rate."""
    rows, gflops = measured.rows, measured.gflops
    lines = [
        *header.lines(),
        f"data: {data_name}, batch {BATCH}; MLP rows: {args.examples or 'all'} images, conv rows: first "
        f"{args.conv_examples} images; {args.rounds} interleaved timed epochs after 1 warm-up epoch; median "
        "examples/s",
        f"TensorFlow float32 matmul (2048x2048): {gflops:.1f} GFLOP/s",
        *extra,
        *([f"note: {measured.stopped}"] if measured.stopped else []),
        "",
    ]
    for arch in ("mlp", "conv"):
        group = [row for row in rows if row.arch == arch]
        if group:
            lines += model_table(arch, group)
    return "\n".join(lines + flops_lines(rows, gflops, args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per configuration")
    parser.add_argument("--spe", type=int, default=1, help="steps_per_execution of its row (the default is auto)")
    parser.add_argument("--examples", type=int, default=None, help="training images for the MLP rows (default: all)")
    parser.add_argument("--conv-examples", type=int, default=3072, help="training images for the conv rows")
    parser.add_argument("--no-conv", action="store_true", help="skip the conv VAE rows")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds of idle time before each timed epoch")
    parser.add_argument("--iwae-k", type=int, default=100, help="importance samples of the IWAE row")
    parser.add_argument("--first-step-repeats", type=int, default=3,
                        help="fresh processes per setting timing the first training step (0: skip)")
    parser.add_argument("--only", default="", help="comma-separated substrings: keep only matching rows")
    args = parser.parse_args()
    header = Header()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path, data_name = mnist_file(workdir)
        first_step = [first_step_line(workdir, args.first_step_repeats)] if args.first_step_repeats else []
        measured = measure(args, path, workdir)
        print(report(measured, f"{data_name} ({len(np.load(path)['x_train'])} training images)", args, header,
                     first_step))


if __name__ == "__main__":
    main()
