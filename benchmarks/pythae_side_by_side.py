"""Every model genkit and Pythae both have, trained alike in one run and measured the same way.

    python benchmarks/pythae_side_by_side.py                           # every row (hours on 2 cores)
    python benchmarks/pythae_side_by_side.py --models vae,iwae --epochs 1 --test-examples 500 \\
        --k 20 --fid-samples 1000 --sampler-epochs 1                    # a smoke run, a few minutes

It needs an environment with genkit, PyTorch (CPU) and Pythae; neither is a genkit dependency
(``pip install torch pythae`` beside genkit, never in genkit's own requirements).

**The same in both.** The MLP of ``benchmarks/throughput.py`` (784-512-256-latent, ReLU, the
decoder mirrored; ``latent`` 20), the MNIST subset of ``../shared/data/mnist.npz`` (12,484 training
and 10,000 test images) binarized once with a fixed seed and given to both as the same arrays,
Adam at 1e-3 for every network of the model (discriminators at 1e-4), batch 128, ``--epochs``
epochs, and each model's own hyperparameters set alike (:data:`ROWS`, which also says where the
two implementations still differ). Models with a Bernoulli likelihood train on binary
cross-entropy; the ones Pythae trains on squared error (RAE, WAE, VQ-VAE) use genkit's Gaussian
likelihood with variance 1/2, whose negative log-density is the same summed squared error plus a
constant. Each model trains in a fresh process of each toolkit in turn, genkit's then Pythae's, so
neither's thread pools compete with the other's and a drift of the machine's speed over the hours
of a run falls on both columns of a row alike.

**Measured the same way**, on the first ``--test-examples`` binarized test images:

- test log-likelihood: the importance-weighted estimate of log p(x) with ``--k`` samples (Burda et
  al. 2016), for models with a posterior density and a prior with a density; genkit's
  ``importance_weighted_log_likelihood``, and for Pythae the same estimator written here in torch
  on its trained encoder, prior and decoder (Bernoulli log-density from the decoder's logits);
- reconstruction MSE per pixel of the decoder mean at the posterior's point summary (mean,
  quantized code, or the flow applied to the mean);
- FID of ``--fid-samples`` samples (decoder means, clipped to [0, 1]) against the grey-level test
  images, in genkit's feature network (``genkit.results.features``, a classifier trained on the
  grey-level training images and labels): comparable between the two columns, not with FIDs
  published elsewhere;
- training examples per second: training images over the median epoch's wall time (epochs after
  the first, which pays for tracing; the first alone when there is one epoch).

Rows marked as samplers reuse the trained VAE of the ``vae`` row and change only the density its
samples' codes come from, fitted after training on the training codes (``--sampler-epochs`` Adam
epochs for trained samplers, in both).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from iwae_mnist import find_mnist
from machine import Header
from throughput import BATCH, HIDDEN, LATENT, torch_networks

LEARNING_RATE = 1e-3
DISCRIMINATOR_LEARNING_RATE = 1e-4
#: WAE's and InfoVAE's inverse multiquadratic kernel bandwidths (Tolstikhin et al. 2018).
MMD_SCALES = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
#: The VQ-VAE's code grid (H, W, D): H * W * D = LATENT numbers, as the other models' codes.
VQ_GRID = (2, 2, 5)
#: Steps of the planar and radial flows (shared by all x, as Pythae's VAE_LinNF has them).
FLOW_STEPS = 4
#: Gaussian likelihood scale whose negative log-density is the summed squared error (+ a constant).
MSE_SCALE = math.sqrt(0.5)
#: (example, importance sample) pairs one pass of the torch estimator decodes.
PAIRS_PER_PASS = 20_000
#: genkit's samplers that are trained networks (fitted for ``--sampler-epochs`` in batches of BATCH).
TRAINED_SAMPLERS = ("two_stage_vae", "maf", "autoregressive_codes")


@dataclass(frozen=True)
class Row:
    """One model of both toolkits, configured alike.

    ``genkit`` holds spec entries over the shared base spec; ``pythae`` names the Pythae model
    class and ``config`` its configuration besides the shapes and the loss. ``posterior`` says how
    Pythae's encoder output is read (``gaussian``, ``iaf``, ``linear_flow``, ``vmf``, ``vamp``,
    ``deterministic``, ``vq``); ``sampler`` what samples' codes come from in both (``prior`` or a fitted ``gmm``,
    ``two_stage``, ``maf``, ``codes``); ``base`` names the row whose trained model a sampler row
    reuses; ``warmup`` rows grow their capacity over :attr:`Settings.warmup_epochs` in both.
    A row whose decoder is not trained as a likelihood (``trains_likelihood`` false: VAE-GAN's
    matches discriminator features) has its log p(x) measured all the same but printed in the notes,
    not in the table's comparison. ``notes`` say where the two still differ.
    """

    name: str
    title: str
    genkit: dict[str, Any]
    pythae: str
    config: dict[str, Any] = field(default_factory=dict)
    posterior: str = "gaussian"
    mse: bool = False
    trainer: str = "base"
    sampler: str = "prior"
    base: str | None = None
    warmup: bool = False
    trains_likelihood: bool = True
    notes: str = ""

    @property
    def density(self) -> bool:
        """Whether the model has a posterior and a prior density (a test log-likelihood)."""
        return self.posterior in ("gaussian", "iaf", "linear_flow", "vmf", "vamp")


def _gaussian_mse(**entries: Any) -> dict[str, Any]:
    """genkit entries of a model Pythae trains on the summed squared error."""
    return {"likelihood": {"type": "gaussian", "scale": MSE_SCALE}, **entries}


ROWS: list[Row] = [
    Row("vae", "VAE", {"model": "vae"}, "VAE"),
    Row("beta_vae", "beta-VAE (beta 4)", {"model": "beta_vae", "divergence": {"type": "kl", "beta": 4.0}},
        "BetaVAE", {"beta": 4.0}),
    Row("iwae", "IWAE (K 5)", {"model": "iwae", "objective": {"type": "importance_weighted", "samples": 5}},
        "IWAE", {"number_samples": 5}),
    Row("miwae", "MIWAE (4 x 4)",
        {"model": "miwae", "objective": {"type": "importance_weighted", "samples": 4, "groups": 4}},
        "MIWAE", {"number_gradient_estimates": 4, "number_samples": 4},
        notes="Pythae normalises the weights over its gradient-estimate axis; with 4 x 4 the bound is the same"),
    Row("ciwae", "CIWAE (K 5, beta 0.5)",
        {"model": "ciwae", "objective": {"type": "importance_weighted", "samples": 5, "elbo_weight": 0.5}},
        "CIWAE", {"number_samples": 5, "beta": 0.5}),
    Row("piwae", "PIWAE (4 x 4)",
        {"model": "piwae",
         "objective": {"type": "importance_weighted", "samples": 4, "groups": 4, "encoder": "piwae"}},
        "PIWAE", {"number_gradient_estimates": 4, "number_samples": 4}, trainer="coupled",
        notes="genkit's encoder phase draws its own codes; Pythae's two losses share one draw"),
    Row("beta_tc_vae", "beta-TC-VAE (beta 6, MSS)",
        {"model": "beta_tc_vae",
         "divergence": {"type": "beta_tc", "alpha": 1.0, "beta": 6.0, "gamma": 1.0, "estimator": "mss"}},
        "BetaTCVAE", {"alpha": 1.0, "beta": 6.0, "gamma": 1.0, "use_mss": True}),
    Row("factor_vae", "FactorVAE (gamma 10)",
        {"model": "factor_vae",
         "divergence": {"type": "factor_vae", "gamma": 10.0, "hidden": [1000] * 5, "activation": "leaky_relu",
                        "discriminator_codes": "halves",
                        "discriminator_optimizer": {"type": "adam", "learning_rate": DISCRIMINATOR_LEARNING_RATE}}},
        "FactorVAE", {"gamma": 10.0}, trainer="adversarial",
        notes="Pythae's own discriminator (5 x 1000, leaky ReLU 0.2) in both, trained on one half of each batch "
              "against the other half permuted; Pythae trains the VAE on one half, genkit on the whole batch"),
    Row("capacity_vae", "capacity-controlled beta-VAE (C 20, gamma 10)",
        {"model": "capacity_vae",
         "divergence": {"type": "capacity_kl", "capacity": 20.0, "gamma": 10.0, "reduce": "example"}},
        "DisentangledBetaVAE", {"beta": 10.0, "C": 20.0}, warmup=True,
        notes="both hold each example's KL at C (|KL - C|); genkit raises C every step, Pythae every epoch; "
              "both reach C after half of the epochs"),
    Row("info_vae", "InfoVAE (alpha 0, lambda 1000, IMQ)",
        {"model": "info_vae",
         "divergence": {"type": "info_vae", "alpha": 0.0, "lambda_": 1000.0, "kernel": "imq", "scales": MMD_SCALES}},
        "INFOVAE_MMD", {"alpha": 0.0, "lbd": 1000.0, "kernel_choice": "imq", "scales": MMD_SCALES,
                        "kernel_bandwidth": 1.0}),
    Row("iaf_vae", "VAE with IAF (2 MADEs of 3 x 128)",
        {"model": "iaf_vae", "posterior": {"type": "iaf", "layers": 2, "hidden": [128, 128, 128], "context_size": 0},
         "divergence": {"type": "mc_kl", "samples": 1, "code": "reconstruction"}},
        "VAE_IAF", {"n_made_blocks": 2, "n_hidden_in_made": 3, "hidden_size": 128}, posterior="iaf",
        notes="steps shared by all x in both (no context); genkit reverses the order between steps"),
    Row("hyperspherical_vae", "hyperspherical VAE (vMF)", {"model": "hyperspherical_vae"}, "SVAE", posterior="vmf",
        notes="both: kappa = softplus + 1; gradients through TFP's and Pythae's own rejection samplers"),
    Row("vamp", "VAE with a VampPrior (50 pseudo-inputs)",
        {"model": "vae", "prior": {"type": "vamp", "pseudo_inputs": 50},
         "divergence": {"type": "mc_kl", "samples": 1, "code": "reconstruction"}},
        "VAMP", {"number_components": 50},
        posterior="vamp", notes="pseudo-inputs: genkit learns them in [0, 1] directly, Pythae through a linear "
                                "layer and a hard tanh"),
    Row("planar_vae", "VAE with planar flows (4 steps shared by all x)",
        {"model": "planar_vae", "posterior": {"type": "planar_flow", "layers": FLOW_STEPS, "amortized": False},
         "divergence": {"type": "mc_kl", "samples": 1, "code": "reconstruction"}},
        "VAE_LinNF", {"flows": ["Planar"] * FLOW_STEPS}, posterior="linear_flow",
        notes="genkit keeps each step invertible (u adjusted so that w.u >= -1, Rezende and Mohamed), Pythae "
              "leaves u free and floors |det| at 1e-4"),
    Row("radial_vae", "VAE with radial flows (4 steps shared by all x)",
        {"model": "radial_vae", "posterior": {"type": "radial_flow", "layers": FLOW_STEPS, "amortized": False},
         "divergence": {"type": "mc_kl", "samples": 1, "code": "reconstruction"}},
        "VAE_LinNF", {"flows": ["Radial"] * FLOW_STEPS}, posterior="linear_flow"),
    Row("aae", "AAE (fooling loss x 0.5 with the reconstruction)",
        {"model": "aae",
         "divergence": {"type": "adversarial", "hidden": [256], "generator": "main", "beta": 0.5,
                        "discriminator_optimizer": {"type": "adam", "learning_rate": DISCRIMINATOR_LEARNING_RATE}}},
        "Adversarial_AE", {"adversarial_loss_scale": 0.5, "deterministic_posterior": True}, trainer="adversarial",
        posterior="deterministic",
        notes="Pythae's own discriminator (latent-256-1, ReLU) in both; deterministic codes, as Makhzani et al. "
              "and genkit's preset (Pythae's default q is a Gaussian); genkit's discriminator step sees the codes "
              "after the autoencoder's step, Pythae's those before it"),
    Row("vae_gan", "VAE-GAN (MLP discriminator, features of its hidden layer, gamma 0.5)",
        {"model": "vae_gan",
         "objective": {"type": "vae_gan", "discriminator": "mlp", "hidden": [256], "activation": "relu",
                       "feature_layer": 0, "feature_weight": 0.5, "adversarial_weight": 0.5,
                       "discriminator_optimizer": {"type": "adam", "learning_rate": DISCRIMINATOR_LEARNING_RATE}}},
        "VAEGAN", {"adversarial_loss_scale": 0.5, "reconstruction_layer": 1}, trainer="coupled_adversarial",
        trains_likelihood=False,
        notes="Pythae's default discriminator (784-256-1, ReLU) in both. genkit follows Larsen et al. "
              "(reconstructions are fakes too; the decoder's adversarial loss non-saturating); in Pythae the "
              "discriminator sees only prior samples as fakes, the decoder maximises the discriminator's loss, "
              "the two skip updates outside an equilibrium band (0.68 +- 0.4), and the trainer zeroes each "
              "optimizer only before its own loss's backward pass, so the encoder's step also carries the "
              "decoder loss's gradient and the decoder's the discriminator loss's"),
    Row("ae", "AE + GMM (10)",
        _gaussian_mse(model="ae", sampler={"type": "gmm", "components": 10, "covariance": "full"}), "AE",
        posterior="deterministic", mse=True, sampler="gmm"),
    Row("rae_l2", "RAE-L2 + GMM (10)",
        _gaussian_mse(model="rae", objective={"type": "rae", "code_weight": 1e-4, "decoder_weight": 5e-8,
                                              "regularizer": "l2"},
                      sampler={"type": "gmm", "components": 10, "covariance": "full"}),
        "RAE_L2", {"embedding_weight": 1e-4, "reg_weight": 1e-7}, posterior="deterministic", mse=True,
        trainer="coupled", sampler="gmm",
        notes="Pythae's decoder weight decay 1e-7 is genkit's decoder_weight 5e-8 (the loss's gradient)"),
    Row("rae_gp", "RAE-GP + GMM (10)",
        _gaussian_mse(model="rae_gp", objective={"type": "rae", "code_weight": 1e-4, "decoder_weight": 1e-7,
                                                 "regularizer": "gradient_penalty"},
                      sampler={"type": "gmm", "components": 10, "covariance": "full"}),
        "RAE_GP", {"embedding_weight": 1e-4, "reg_weight": 1e-7}, posterior="deterministic", mse=True,
        sampler="gmm", notes="genkit penalises the decoder's gradient in the code (Ghosh et al.), Pythae the "
                             "reconstruction's gradient in the input image"),
    Row("wae_mmd", "WAE-MMD (IMQ, lambda 10)",
        _gaussian_mse(model="ae", prior="standard_normal",
                      divergence={"type": "mmd", "kernel": "imq", "scales": MMD_SCALES, "beta": 10.0}),
        "WAE_MMD", {"kernel_choice": "imq", "reg_weight": 10.0, "scales": MMD_SCALES, "kernel_bandwidth": 1.0},
        posterior="deterministic", mse=True),
    Row("vq_vae", "VQ-VAE (2 x 2 x 5 grid, 64 codes, EMA)",
        _gaussian_mse(model="vq_vae", latent_shape=list(VQ_GRID),
                      posterior={"type": "vq", "codes": 64, "commitment": 0.25, "decay": 0.99},
                      sampler={"type": "autoregressive_codes"}),
        "VQVAE", {"num_embeddings": 64, "use_ema": True, "decay": 0.99, "commitment_loss_factor": 0.25},
        posterior="vq", mse=True, sampler="codes",
        notes="genkit restarts dead codes; code priors differ: genkit a MADE over the 4 positions, Pythae a "
              "PixelCNN (its sampler given the EMA codebook as an nn.Embedding, which it needs)"),
    Row("vae_gmm", "GMM sampler (10) on the VAE", {"sampler": {"type": "gmm", "components": 10}}, "VAE",
        sampler="gmm", base="vae"),
    Row("vae_two_stage", "two-stage VAE sampler on the VAE",
        {"sampler": {"type": "two_stage_vae", "hidden": [1024, 1024]}}, "VAE", sampler="two_stage", base="vae",
        notes="second stage: 2 x 1024 MLPs in both; genkit fits it on standardized codes"),
    Row("vae_maf", "MAF sampler on the VAE", {"sampler": {"type": "maf", "layers": 2, "hidden": [128, 128, 128]}},
        "VAE", sampler="maf", base="vae", notes="2 MADEs of 3 x 128 in both; genkit fits standardized codes"),
]
BY_NAME = {row.name: row for row in ROWS}


# --- data -------------------------------------------------------------------------------------
def prepare_data(source: Path, workdir: Path, seed: int) -> Path:
    """The shared arrays: MNIST binarized once (one uniform draw per pixel, ``seed``), and the grey
    levels for the feature network, written to one npz in ``workdir``."""
    with np.load(source) as mnist:
        arrays = {key: mnist[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    rng = np.random.default_rng(seed)
    path = workdir / "mnist_binarized.npz"
    grey = {split: arrays[f"x_{split}"].astype(np.float32) / 255.0 for split in ("train", "test")}
    np.savez(path, **{f"x_{split}": (rng.random(grey[split].shape) < grey[split]).astype(np.float32)
                      for split in ("train", "test")},
             **{f"grey_{split}": grey[split] for split in ("train", "test")},
             y_train=arrays["y_train"].astype(np.int64), y_test=arrays["y_test"].astype(np.int64))
    return path


@dataclass
class Settings:
    """What every worker needs: the options, the data file and the folder for samples."""

    models: list[str]
    epochs: int
    train_examples: int
    test_examples: int
    k: int
    fid_samples: int
    sampler_epochs: int
    seed: int
    data: Path
    workdir: Path

    def arrays(self) -> dict[str, np.ndarray]:
        """The first ``train_examples`` and ``test_examples`` binarized training and test images."""
        with np.load(self.data) as stored:
            return {"train": stored["x_train"][: self.train_examples], "test": stored["x_test"][: self.test_examples]}

    def samples_path(self, toolkit: str, row: str) -> Path:
        """Where a toolkit's samples of a row are kept until the FID worker reads them."""
        return self.workdir / f"samples_{toolkit}_{row}.npy"

    @property
    def warmup_epochs(self) -> int:
        """Epochs over which the capacity-controlled VAE's C grows (half of them)."""
        return max(1, self.epochs // 2)


@dataclass
class Result:
    """One toolkit's numbers for one row (None where a metric does not apply)."""

    log_likelihood: float | None = None
    reconstruction_mse: float | None = None
    examples_per_second: float | None = None
    sampler_seconds: float | None = None
    fid: float | None = None


def examples_per_second(examples: int, epoch_seconds: list[float]) -> float:
    """Training examples per second of the median epoch, the first (tracing, warm-up) left out."""
    timed = epoch_seconds[1:] or epoch_seconds
    return examples / statistics.median(timed)


def trained_rows(settings: Settings) -> Iterator[tuple[Row, list[Row]]]:
    """Each model to train, with the rows that use it: its own (if asked for) and its sampler rows."""
    asked = [BY_NAME[name] for name in settings.models]
    for name in dict.fromkeys(row.base or row.name for row in asked):
        yield BY_NAME[name], [row for row in asked if (row.base or row.name) == name]


# --- genkit -------------------------------------------------------------------------------------
def genkit_spec(row: Row, settings: Settings) -> dict[str, Any]:
    """The row's genkit spec: the shared networks, data and training plus the row's entries."""
    spec: dict[str, Any] = {
        "name": f"side-by-side-{row.name}", "latent_dim": LATENT,
        "data": {"type": "npz", "path": str(settings.data), "validation_split": 0.0,
                 "limit": settings.train_examples},
        "encoder": {"type": "mlp", "hidden": HIDDEN}, "decoder": {"type": "mlp", "hidden": HIDDEN[::-1]},
        "likelihood": "bernoulli",
        "train": {"epochs": settings.epochs, "batch_size": BATCH, "seed": settings.seed,
                  "optimizer": {"type": "adam", "learning_rate": LEARNING_RATE}},
        **row.genkit,
    }
    spec = copy.deepcopy(spec)
    if "latent_shape" in spec:
        del spec["latent_dim"]
    if row.warmup:  # Pythae reaches C in epoch warmup_epochs + 1
        steps_per_epoch = -(-len(settings.arrays()["train"]) // BATCH)
        spec["divergence"]["steps"] = (settings.warmup_epochs + 1) * steps_per_epoch
    if "sampler" in spec:
        spec["sampler"] = sampler_entry(spec["sampler"], settings)
    return spec


def sampler_entry(entry: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A genkit sampler entry with its defaults filled; a trained sampler fits for
    ``settings.sampler_epochs`` epochs in batches of BATCH, as Pythae's do."""
    from genkit.runs.samplers import default_entry

    entry = {**default_entry(entry["type"]), **entry}
    if entry["type"] in TRAINED_SAMPLERS:
        entry.update(fit_epochs=settings.sampler_epochs, fit_batch_size=BATCH)
    return entry


def genkit_worker(settings: Settings) -> dict[str, Result]:
    """Train and measure every asked row in genkit (one process); samples go to ``settings.workdir``."""
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import genkit
    from genkit.results.evaluation import importance_weighted_log_likelihood
    from genkit.runs.samplers import fit_sampler

    class EpochClock(genkit.Callback):
        """Wall time of every epoch."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.started = 0.0

        def on_epoch_begin(self, epoch: int) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            self.seconds.append(time.perf_counter() - self.started)

    arrays, results = settings.arrays(), {}
    for model_row, rows in trained_rows(settings):
        clock = EpochClock()
        model = genkit.train(genkit_spec(model_row, settings), progress=False, callbacks=[clock]).model
        measured = Result(reconstruction_mse=float(np.mean((model.reconstruct(arrays["test"]) - arrays["test"]) ** 2)),
                          examples_per_second=examples_per_second(len(arrays["train"]), clock.seconds))
        if model_row.density:
            measured.log_likelihood = float(np.mean(importance_weighted_log_likelihood(
                model, arrays["test"], k=settings.k, seed=settings.seed)))
        own_sampler = model.sampler  # the spec's (fitted by genkit.train), or None: the prior
        for row in rows:
            result = Result(**vars(measured))
            model.sampler = own_sampler
            if row.base is not None:  # a sampler row: the trained model's codes get another density
                started = time.perf_counter()
                entry = sampler_entry(row.genkit["sampler"], settings)
                model.sampler = fit_sampler(model, entry, arrays["train"], None, settings.seed)
                result.sampler_seconds = time.perf_counter() - started
            np.save(settings.samples_path("genkit", row.name), model.sample(settings.fid_samples, seed=settings.seed))
            results[row.name] = result
            print(f"  genkit {row.name}: done", file=sys.stderr, flush=True)
    return results


# --- Pythae -------------------------------------------------------------------------------------
def pythae_model(row: Row, settings: Settings) -> Any:
    """The row's Pythae model on the shared torch networks (encoder read as ``row.posterior`` says)."""
    import pythae.models
    import torch
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    outputs = {"vmf": LATENT + 1, "deterministic": LATENT, "vq": LATENT}.get(row.posterior, 2 * LATENT)
    encoder_net, decoder_net = torch_networks("mlp", outputs)

    class Encoder(BaseEncoder):
        """The shared encoder network, its output split as the row's Pythae model reads it."""

        def __init__(self) -> None:
            super().__init__()
            self.net = encoder_net

        def forward(self, images: torch.Tensor) -> ModelOutput:
            h = self.net(images)
            if row.posterior == "vmf":
                return ModelOutput(embedding=h[:, :LATENT], log_concentration=h[:, LATENT:])
            if row.posterior == "vq":  # Pythae reads grids as [B, D, H, W]
                return ModelOutput(embedding=h.reshape(-1, VQ_GRID[2], VQ_GRID[0], VQ_GRID[1]))
            if row.posterior == "deterministic":  # a zero log-variance, which Pythae's AAE multiplies by 0
                return ModelOutput(embedding=h, log_covariance=torch.zeros_like(h))
            loc, log_var = h.chunk(2, dim=-1)
            return ModelOutput(embedding=loc, log_covariance=log_var)

    class Decoder(BaseDecoder):
        """The shared decoder network: sigmoid means of a Bernoulli model, raw means of an MSE one."""

        def __init__(self) -> None:
            super().__init__()
            self.net = decoder_net

        def logits(self, z: torch.Tensor) -> torch.Tensor:
            """The network's output: Bernoulli logits, or the Gaussian mean of the MSE models."""
            return self.net(z.reshape(len(z), -1))

        def forward(self, z: torch.Tensor) -> ModelOutput:
            out = self.logits(z)
            return ModelOutput(reconstruction=out if row.mse else torch.sigmoid(out))

    model_class = getattr(pythae.models, row.pythae)
    config_class = getattr(pythae.models, f"{row.pythae}_Config" if "_" in row.pythae else f"{row.pythae}Config")
    shapes = {"input_dim": (1, 28, 28), "latent_dim": VQ_GRID[2] if row.posterior == "vq" else LATENT}
    loss = {} if row.mse else {"reconstruction_loss": "bce"}
    schedule = {"warmup_epoch": settings.warmup_epochs} if row.warmup else {}
    return model_class(config_class(**shapes, **loss, **row.config, **schedule), encoder=Encoder(),
                       decoder=Decoder())


def pythae_trainer(row: Row, model: Any, x: Any, settings: Settings) -> Any:
    """Pythae's trainer for the row (its base, coupled-optimizer, adversarial or coupled adversarial
    trainer), prepared."""
    import torch
    from pythae.data.datasets import BaseDataset
    from pythae.trainers import (
        AdversarialTrainer,
        AdversarialTrainerConfig,
        BaseTrainer,
        BaseTrainerConfig,
        CoupledOptimizerAdversarialTrainer,
        CoupledOptimizerAdversarialTrainerConfig,
        CoupledOptimizerTrainer,
        CoupledOptimizerTrainerConfig,
    )

    common = {"output_dir": str(settings.workdir / "pythae"), "per_device_train_batch_size": BATCH,
              "num_epochs": settings.epochs, "no_cuda": True, "seed": settings.seed}
    if row.trainer == "coupled":  # RAE-L2's decoder weight decay as Pythae's TrainingPipeline sets it
        trainer_class, config = CoupledOptimizerTrainer, CoupledOptimizerTrainerConfig(
            **common, encoder_learning_rate=LEARNING_RATE, decoder_learning_rate=LEARNING_RATE,
            decoder_optimizer_params={"weight_decay": row.config["reg_weight"]} if row.pythae == "RAE_L2" else None)
    elif row.trainer == "coupled_adversarial":
        trainer_class, config = CoupledOptimizerAdversarialTrainer, CoupledOptimizerAdversarialTrainerConfig(
            **common, encoder_learning_rate=LEARNING_RATE, decoder_learning_rate=LEARNING_RATE,
            discriminator_learning_rate=DISCRIMINATOR_LEARNING_RATE)
    elif row.trainer == "adversarial":
        trainer_class, config = AdversarialTrainer, AdversarialTrainerConfig(
            **common, autoencoder_learning_rate=LEARNING_RATE, discriminator_learning_rate=DISCRIMINATOR_LEARNING_RATE)
    else:
        trainer_class, config = BaseTrainer, BaseTrainerConfig(**common, learning_rate=LEARNING_RATE)
    trainer = trainer_class(model, BaseDataset(x, torch.zeros(len(x))), training_config=config)
    trainer.prepare_training()
    return trainer


def pythae_sampler(row: Row, model: Any, x: Any, settings: Settings) -> Any:
    """The row's Pythae sampler, fitted on the training images where it is fitted."""
    import pythae.samplers as samplers
    from pythae.trainers import BaseTrainerConfig

    fit = BaseTrainerConfig(output_dir=str(settings.workdir / "pythae-sampler"), per_device_train_batch_size=BATCH,
                            num_epochs=settings.sampler_epochs, learning_rate=LEARNING_RATE, no_cuda=True,
                            seed=settings.seed)
    if row.sampler == "gmm":
        sampler = samplers.GaussianMixtureSampler(model, samplers.GaussianMixtureSamplerConfig(n_components=10))
        sampler.fit(x)
    elif row.sampler == "two_stage":
        sampler = samplers.TwoStageVAESampler(model, samplers.TwoStageVAESamplerConfig(
            second_stage_depth=2, second_layers_dim=1024))
        sampler.fit(x, training_config=fit)
    elif row.sampler == "maf":
        sampler = samplers.MAFSampler(model, samplers.MAFSamplerConfig(n_made_blocks=2, n_hidden_in_made=3,
                                                                       hidden_size=128))
        sampler.fit(x, training_config=fit)
    elif row.sampler == "codes":
        import torch

        sampler = samplers.PixelCNNSampler(model, samplers.PixelCNNSamplerConfig())
        sampler.fit(x, training_config=fit)
        # the EMA quantizer keeps its codebook as a tensor, which Pythae 0.1.2's PixelCNN sampler calls
        # as an nn.Embedding (it fails otherwise): the same codebook, as one
        model.quantizer.embeddings = torch.nn.Embedding.from_pretrained(model.quantizer.embeddings)
    elif row.posterior == "vmf":
        sampler = samplers.HypersphereUniformSampler(model)
    elif row.posterior == "vamp":
        sampler = samplers.VAMPSampler(model)
    else:
        sampler = samplers.NormalSampler(model)
    return sampler


def pythae_log_weights(model: Any, row: Row, x: Any, samples: int) -> Any:
    """``[samples, B]`` log importance weights ``log p(x|z) + log p(z) - log q(z|x)`` of a Pythae model."""
    import torch
    import torch.nn.functional as F
    from torch.distributions import Normal

    out = model.encoder(x)
    if row.posterior == "vmf":
        from pythae.models.svae.svae_utils import ive

        loc = out.embedding / out.embedding.norm(dim=-1, keepdim=True)
        kappa = F.softplus(out.log_concentration) + 1.0
        z = model._sample_von_mises(loc.repeat(samples, 1), kappa.repeat(samples, 1)).reshape(samples, len(x), -1)
        m = LATENT
        log_normaliser = ((m / 2 - 1) * kappa.log() - (m / 2) * math.log(2 * math.pi)
                          - torch.log(ive(m / 2 - 1, kappa)) - kappa)[:, 0]
        log_q = kappa[:, 0] * (z * loc).sum(-1) + log_normaliser
        log_p = torch.full_like(log_q, math.lgamma(m / 2) - math.log(2) - (m / 2) * math.log(math.pi))
    else:
        base = Normal(out.embedding, torch.exp(0.5 * out.log_covariance))
        z = base.rsample((samples,))
        log_q = base.log_prob(z).sum(-1)
        if row.posterior == "iaf":
            flow = model.iaf_flow.inverse(z.reshape(-1, LATENT))
            z, log_q = flow.out.reshape(z.shape), log_q - flow.log_abs_det_jac.reshape(log_q.shape)
        if row.posterior == "linear_flow":
            for step in model.net:
                flow = step(z.reshape(-1, LATENT))
                z, log_q = flow.out.reshape(z.shape), log_q - flow.log_abs_det_jac.reshape(log_q.shape)
        if row.posterior == "vamp":
            pseudo = model.pseudo_inputs(model.idle_input).reshape((-1, *model.model_config.input_dim))
            components = model.encoder(pseudo)
            mixture = Normal(components.embedding, torch.exp(0.5 * components.log_covariance))
            log_p = torch.logsumexp(mixture.log_prob(z[..., None, :]).sum(-1), dim=-1) - math.log(len(pseudo))
        else:
            log_p = Normal(0.0, 1.0).log_prob(z).sum(-1)
    logits = model.decoder.logits(z.reshape(-1, z.shape[-1])).reshape(samples, len(x), -1)
    targets = x.reshape(1, len(x), -1).expand_as(logits)
    log_likelihood = -F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)
    return log_likelihood + log_p - log_q


def pythae_log_likelihood(model: Any, row: Row, x: Any, k: int, batch_size: int = 100) -> float:
    """The mean k-sample importance-weighted estimate of log p(x), a running log-sum-exp over passes
    of at most ``PAIRS_PER_PASS`` (example, sample) pairs, as genkit computes it."""
    import torch

    per_pass = max(1, min(k, PAIRS_PER_PASS // batch_size))
    totals = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            chunk = x[start : start + batch_size]
            total = torch.full((len(chunk),), -math.inf)
            for done in range(0, k, per_pass):
                weights = pythae_log_weights(model, row, chunk, min(per_pass, k - done))
                total = torch.logaddexp(total, torch.logsumexp(weights, dim=0))
            totals.append(total - math.log(k))
    return float(torch.cat(totals).mean())


def pythae_reconstruction(model: Any, row: Row, x: Any) -> Any:
    """Decoder means at the posterior's point summary (mean, normalised mean, flowed mean, code)."""
    import torch

    with torch.no_grad():
        out = model.encoder(x)
        z = out.embedding
        if row.posterior == "vmf":
            z = z / z.norm(dim=-1, keepdim=True)
        elif row.posterior == "iaf":
            z = model.iaf_flow.inverse(z).out
        elif row.posterior == "linear_flow":
            for step in model.net:
                z = step(z).out
        elif row.posterior == "vq":
            z = model.quantizer(z.permute(0, 2, 3, 1)).quantized_vector
        return model.decoder(z).reconstruction


def pythae_worker(settings: Settings) -> dict[str, Result]:
    """Train and measure every asked row in Pythae (one process); samples go to ``settings.workdir``."""
    import contextlib
    import io

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    arrays, results = settings.arrays(), {}
    train, test = (torch.from_numpy(arrays[split][:, None]) for split in ("train", "test"))
    for model_row, rows in trained_rows(settings):
        torch.manual_seed(settings.seed)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # Pythae's logs
            model = pythae_model(model_row, settings)
            trainer = pythae_trainer(model_row, model, train, settings)
            epoch_seconds = []
            for epoch in range(1, settings.epochs + 1):
                started = time.perf_counter()
                trainer.train_step(epoch)
                epoch_seconds.append(time.perf_counter() - started)
        model.eval()
        reconstruction = pythae_reconstruction(model, model_row, test)
        measured = Result(reconstruction_mse=float(torch.mean((reconstruction - test) ** 2)),
                          examples_per_second=examples_per_second(len(train), epoch_seconds))
        if model_row.density:
            measured.log_likelihood = pythae_log_likelihood(model, model_row, test, settings.k)
        for row in rows:
            result = Result(**vars(measured))
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                sampler = pythae_sampler(row, model, train, settings)
                if row.base is not None:
                    result.sampler_seconds = time.perf_counter() - started
                with torch.no_grad():
                    samples = sampler.sample(num_samples=settings.fid_samples, return_gen=True)
            np.save(settings.samples_path("pythae", row.name), samples[:, 0].numpy())
            results[row.name] = result
            print(f"  Pythae {row.name}: done", file=sys.stderr, flush=True)
    return results


# --- FID and the report ---------------------------------------------------------------------
def fid_worker(settings: Settings, toolkits: list[str]) -> dict[tuple[str, str], float]:
    """FID of every saved sample set against the grey-level test images, in genkit's feature network."""
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from genkit.results.features import feature_network
    from genkit.results.metrics import frechet_distance

    with np.load(settings.data) as stored:
        network = feature_network(stored["grey_train"], stored["y_train"])
        real = network.features(stored["grey_test"][: settings.test_examples])
    return {(toolkit, name): frechet_distance(real, network.features(np.clip(np.load(
        settings.samples_path(toolkit, name)), 0.0, 1.0))) for toolkit in toolkits for name in settings.models}


def run_in_process(function: Callable[..., Any], *arguments: Any) -> Any:
    """``function(*arguments)`` in a fresh process (spawned: no TensorFlow or torch state carried over)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *arguments).result()


def train_side_by_side(settings: Settings) -> dict[str, dict[str, Result]]:
    """Every asked row's results per toolkit, each trained model's rows measured in a fresh genkit
    process and then a fresh Pythae one (the two columns of a row measured minutes apart)."""
    results: dict[str, dict[str, Result]] = {"genkit": {}, "pythae": {}}
    for _, rows in trained_rows(settings):
        one_model = replace(settings, models=[row.name for row in rows])
        results["genkit"].update(run_in_process(genkit_worker, one_model))
        results["pythae"].update(run_in_process(pythae_worker, one_model))
    return results


def _number(value: float | None, digits: int) -> str:
    """A table cell: the value with thousands separators, or ``-`` where it does not apply."""
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: dict[str, dict[str, Result]]) -> str:
    """The markdown table, a row per model, genkit and Pythae side by side, and the notes."""
    lines = ["| model | log p(x) genkit | log p(x) Pythae | genkit - Pythae | MSE genkit | MSE Pythae "
             "| FID genkit | FID Pythae | examples/s genkit | examples/s Pythae |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for name in results["genkit"]:
        row, ours, theirs = BY_NAME[name], results["genkit"][name], results["pythae"][name]
        compared = (ours.log_likelihood, theirs.log_likelihood) if row.trains_likelihood else (None, None)
        gap = None if None in compared else compared[0] - compared[1]
        lines.append(
            f"| {row.title} | {_number(compared[0], 2)} | {_number(compared[1], 2)} "
            f"| {_number(gap, 2)} | {_number(ours.reconstruction_mse, 4)} | {_number(theirs.reconstruction_mse, 4)} "
            f"| {_number(ours.fid, 2)} | {_number(theirs.fid, 2)} | {_number(ours.examples_per_second, 0)} "
            f"| {_number(theirs.examples_per_second, 0)} |")
        said = [row.notes] if row.notes else []
        if not row.trains_likelihood:
            said.append(f"log p(x) reading the decoder as Bernoulli, which neither trains it as: genkit "
                        f"{_number(ours.log_likelihood, 2)}, Pythae {_number(theirs.log_likelihood, 2)}")
        if row.base is not None:
            notes.append(f"- {row.title}: the `{row.base}` row's model; sampler fitted in "
                         f"{_number(ours.sampler_seconds, 1)} s (genkit), {_number(theirs.sampler_seconds, 1)} s "
                         f"(Pythae){''.join('; ' + text for text in said)}")
        elif said:
            notes.append(f"- {row.title}: {'; '.join(said)}")
    return "\n".join(lines + ([""] + notes if notes else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(BY_NAME),
                        help=f"comma-separated rows (default: all): {', '.join(BY_NAME)}")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of every model")
    parser.add_argument("--train-examples", type=int, default=12_484, help="training images (a smoke run: fewer)")
    parser.add_argument("--test-examples", type=int, default=10_000, help="test images evaluated")
    parser.add_argument("--k", type=int, default=1000, help="importance samples of the log-likelihood")
    parser.add_argument("--fid-samples", type=int, default=10_000, help="samples per model for FID")
    parser.add_argument("--sampler-epochs", type=int, default=50, help="epochs fitting a trained sampler")
    parser.add_argument("--seed", type=int, default=0, help="seed of the binarization and of both toolkits")
    parser.add_argument("--data", type=Path, help="mnist.npz (default: shared/data/mnist.npz beside the checkout)")
    args = parser.parse_args()
    unknown = [name for name in args.models.split(",") if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown rows {unknown}; the rows are {', '.join(BY_NAME)}")
    args.data = args.data or find_mnist()
    if not args.data.is_file():
        parser.error(f"{args.data} not found: pass --data PATH/mnist.npz")
    header = Header()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        settings = Settings(models=args.models.split(","), epochs=args.epochs, train_examples=args.train_examples,
                            test_examples=args.test_examples,
                            k=args.k, fid_samples=args.fid_samples, sampler_epochs=args.sampler_epochs,
                            seed=args.seed, data=prepare_data(args.data, workdir, args.seed), workdir=workdir)
        results = train_side_by_side(settings)
        for (toolkit, name), fid in run_in_process(fid_worker, settings, list(results)).items():
            results[toolkit][name].fid = fid
    command, machine, wall_time = header.lines()
    print(command)
    print(machine)
    print(f"data: {args.data.name}, binarized once (seed {args.seed}); {args.train_examples:,} training images; "
          f"epochs {args.epochs}, batch {BATCH}, "
          f"Adam {LEARNING_RATE}; log p(x) with k={args.k} and MSE on {args.test_examples} test images; FID of "
          f"{args.fid_samples} samples")
    print(wall_time)
    print()
    print(table(results))


if __name__ == "__main__":
    main()
