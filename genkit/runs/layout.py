"""The files of a run directory.

Layout::

    spec.yaml              the fully resolved spec (every default filled in)
    model.json             what rebuilding needs beyond the spec (the build context, versions,
                           where each component came from)
    metrics.csv            one row per epoch
    checkpoints/           the last few checkpoints (genkit.training.checkpoint), for --resume
    tensorboard/           event files
    model.weights.h5       the trained weights (Keras h5)
    samplers/              fitted latent samplers (``<name>.npz``)
    samples.png            samples from the prior (or the spec's sampler)
    reconstructions.png    inputs and their reconstructions
    .lock                  while a process writes the run: its pid (genkit.runs.directory)

The default run directory is ``runs/<spec name>`` (:func:`default_run_dir`).

Loading never executes code from the directory: the spec goes through the safe YAML loader and
the registry (only installed plugins), the weights through h5, sampler states through
``numpy.load(allow_pickle=False)``.
"""

from __future__ import annotations

from pathlib import Path

#: Where runs go when no --out is given: ``runs/<spec name>``.
RUNS_DIR = "runs"
SPEC_FILE = "spec.yaml"
MODEL_FILE = "model.json"
METRICS_FILE = "metrics.csv"
WEIGHTS_FILE = "model.weights.h5"
TENSORBOARD_DIR = "tensorboard"
SAMPLERS_DIR = "samplers"
SAMPLES_FILE = "samples.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"
EVAL_FILE = "metrics_eval.json"
LOCK_FILE = ".lock"


def default_run_dir(name: str) -> Path:
    """``runs/<name>``: the run directory of a spec named ``name`` when no --out is given (the
    spec's validation made sure the name is one safe path component)."""
    return Path(RUNS_DIR) / name
