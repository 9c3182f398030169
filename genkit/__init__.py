"""genkit: generative autoencoders from components, on TensorFlow, TFP and Keras 3.

The public API. Compose a model from a YAML spec (``genkit run spec.yaml``) or from Python::

    import genkit
    result = genkit.train("examples/vae_shapes.yaml", out="runs/vae")
    model = genkit.load("runs/vae")
    images = model.sample(16)

A plugin imports everything it needs from here: the contract of its kind (``genkit.Prior`` ...),
the model surface it may call (``genkit.ModelSurface``), seeds and random draws
(``genkit.split_seed``, ``genkit.uniform``), ``genkit.OptimizerSpec`` for optimizer arguments,
and the checks a plugin makes before it reads a file or allocates what a user asked for
(``genkit.path_problem``, ``genkit.check_memory``).
Names are imported on first use, so ``import genkit`` (and the CLI's start-up) does not pay for
TensorFlow until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from genkit.version import __version__

#: Public name -> the module that defines it. Everything here is the stable, documented API
#: (docs/library.md); other modules' names may change between minor versions.
_EXPORTS: dict[str, str] = {
    # building, training, loading, evaluating and exporting models
    "build": "genkit.assembly.build",
    "train": "genkit.runs.train",
    "load": "genkit.runs.load",
    "RunResult": "genkit.runs.train",
    "evaluate": "genkit.runs.evaluate",
    "compare": "genkit.runs.compare",
    "Comparison": "genkit.runs.compare",
    "export": "genkit.runs.export",
    "GenerativeAutoencoder": "genkit.assembly.model",
    # component contracts (plugin base classes)
    "ArrayData": "genkit.plugin.dataset",
    "Stream": "genkit.plugin.dataset",
    "one_at_a_time": "genkit.plugin.dataset",
    "Dataset": "genkit.plugin.dataset",
    "FactorDataset": "genkit.plugin.dataset",
    "FactorGrid": "genkit.plugin.dataset",
    "Encoder": "genkit.plugin.networks",
    "Decoder": "genkit.plugin.networks",
    "Posterior": "genkit.plugin.heads",
    "Likelihood": "genkit.plugin.heads",
    "Prior": "genkit.plugin.prior",
    "Divergence": "genkit.plugin.divergence",
    "Objective": "genkit.plugin.objective",
    "Corruption": "genkit.plugin.corruption",
    "Sampler": "genkit.plugin.sampler",
    "Callback": "genkit.plugin.callback",
    "Phase": "genkit.plugin.phase",
    # what a plugin sees of the model, and helpers it may use
    "ModelSurface": "genkit.plugin.surface",
    "Terms": "genkit.plugin.surface",
    "Batch": "genkit.plugin.surface",
    "Context": "genkit.plugin.context",
    "Shape": "genkit.plugin.context",
    "split_seed": "genkit.plugin.randomness",
    "uniform": "genkit.plugin.randomness",
    "normal": "genkit.plugin.randomness",
    "OptimizerSpec": "genkit.plugin.optimizers",
    "check_memory": "genkit.plugin.memory",
    "path_problem": "genkit.plugin.paths",
    "EarlyStopping": "genkit.training.callbacks",
    # the registry
    "KINDS": "genkit.plugin.registry",
    "PluginWarning": "genkit.plugin.registry",
    "Registry": "genkit.plugin.registry",
    "import_plugins": "genkit.plugin.registry",
    "register": "genkit.plugin.registry",
    "registry": "genkit.plugin.registry",
    "reload_plugins": "genkit.plugin.registry",
    # specs
    "DataOptions": "genkit.spec.schema",
    "Spec": "genkit.spec.schema",
    "TrainSpec": "genkit.spec.schema",
    "load_spec": "genkit.spec.resolve",
    "load_split": "genkit.assembly.data",
    # errors
    "GenkitError": "genkit.errors",
    "SpecError": "genkit.errors",
}

__all__ = [
    "ArrayData",
    "Batch",
    "Callback",
    "Comparison",
    "Context",
    "Corruption",
    "DataOptions",
    "Dataset",
    "Decoder",
    "Divergence",
    "EarlyStopping",
    "Encoder",
    "FactorDataset",
    "FactorGrid",
    "GenerativeAutoencoder",
    "GenkitError",
    "KINDS",
    "Likelihood",
    "ModelSurface",
    "Objective",
    "OptimizerSpec",
    "Phase",
    "PluginWarning",
    "Posterior",
    "Prior",
    "Registry",
    "RunResult",
    "Sampler",
    "Spec",
    "Stream",
    "Shape",
    "SpecError",
    "Terms",
    "TrainSpec",
    "__version__",
    "build",
    "check_memory",
    "compare",
    "evaluate",
    "export",
    "import_plugins",
    "load",
    "load_spec",
    "load_split",
    "normal",
    "one_at_a_time",
    "path_problem",
    "register",
    "registry",
    "reload_plugins",
    "split_seed",
    "train",
    "uniform",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genkit' has no attribute '{name}'")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from genkit.assembly.build import build
    from genkit.assembly.data import load_split
    from genkit.assembly.model import GenerativeAutoencoder
    from genkit.errors import GenkitError, SpecError
    from genkit.plugin.callback import Callback
    from genkit.plugin.context import Context, Shape
    from genkit.plugin.corruption import Corruption
    from genkit.plugin.dataset import ArrayData, Dataset, FactorDataset, FactorGrid, Stream, one_at_a_time
    from genkit.plugin.divergence import Divergence
    from genkit.plugin.heads import Likelihood, Posterior
    from genkit.plugin.memory import check_memory
    from genkit.plugin.networks import Decoder, Encoder
    from genkit.plugin.objective import Objective
    from genkit.plugin.optimizers import OptimizerSpec
    from genkit.plugin.paths import path_problem
    from genkit.plugin.phase import Phase
    from genkit.plugin.prior import Prior
    from genkit.plugin.randomness import normal, split_seed, uniform
    from genkit.plugin.registry import (
        KINDS,
        PluginWarning,
        Registry,
        import_plugins,
        register,
        registry,
        reload_plugins,
    )
    from genkit.plugin.sampler import Sampler
    from genkit.plugin.surface import Batch, ModelSurface, Terms
    from genkit.runs.compare import Comparison, compare
    from genkit.runs.evaluate import evaluate
    from genkit.runs.export import export
    from genkit.runs.load import load
    from genkit.runs.train import RunResult, train
    from genkit.spec.resolve import load_spec
    from genkit.spec.schema import DataOptions, Spec, TrainSpec
    from genkit.training.callbacks import EarlyStopping
