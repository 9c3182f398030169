"""genkit: generative autoencoders from components, on TensorFlow, TFP and Keras 3.

The public API. Compose a model from a YAML spec (``genkit run spec.yaml``) or from Python::

    import genkit
    result = genkit.train("examples/vae_shapes.yaml", out="runs/vae")
    model = genkit.load("runs/vae")
    images = model.sample(16)

Names are imported on first use, so ``import genkit`` (and the CLI's start-up) does not pay for
TensorFlow until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it. Everything here is the stable, documented API
#: (docs/library.md); other modules' names may change between minor versions.
_EXPORTS: dict[str, str] = {
    # building, training, loading and exporting models
    "build": "genkit.assembly.build",
    "train": "genkit.runs.directory",
    "load": "genkit.runs.directory",
    "RunResult": "genkit.runs.directory",
    "export": "genkit.results.export",
    "GenerativeAutoencoder": "genkit.assembly.model",
    # component contracts (plugin base classes)
    "ArrayData": "genkit.plugin.contracts",
    "Dataset": "genkit.plugin.contracts",
    "Decoder": "genkit.plugin.contracts",
    "Divergence": "genkit.plugin.contracts",
    "Encoder": "genkit.plugin.contracts",
    "Likelihood": "genkit.plugin.contracts",
    "Phase": "genkit.plugin.contracts",
    "Posterior": "genkit.plugin.contracts",
    "Prior": "genkit.plugin.contracts",
    # callbacks
    "Callback": "genkit.training.callbacks",
    "EarlyStopping": "genkit.training.callbacks",
    # the registry
    "evaluate": "genkit.results.evaluation",
    "KINDS": "genkit.plugin.registry",
    "PluginWarning": "genkit.plugin.registry",
    "Registry": "genkit.plugin.registry",
    "import_plugins": "genkit.plugin.registry",
    "register": "genkit.plugin.registry",
    "registry": "genkit.plugin.registry",
    "reload_plugins": "genkit.plugin.registry",
    # specs
    "DataOptions": "genkit.spec.resolve",
    "OptimizerSpec": "genkit.spec.resolve",
    "Spec": "genkit.spec.resolve",
    "TrainSpec": "genkit.spec.resolve",
    "load_spec": "genkit.spec.resolve",
    # errors
    "GenkitError": "genkit.errors",
    "SpecError": "genkit.errors",
}

__all__ = [
    "ArrayData",
    "Callback",
    "DataOptions",
    "Dataset",
    "Decoder",
    "Divergence",
    "EarlyStopping",
    "Encoder",
    "GenerativeAutoencoder",
    "GenkitError",
    "KINDS",
    "Likelihood",
    "OptimizerSpec",
    "Phase",
    "PluginWarning",
    "Posterior",
    "Prior",
    "Registry",
    "RunResult",
    "Spec",
    "SpecError",
    "TrainSpec",
    "__version__",
    "build",
    "evaluate",
    "export",
    "import_plugins",
    "load",
    "load_spec",
    "register",
    "registry",
    "reload_plugins",
    "train",
]


# ``genkit.registry`` names both a submodule and a public function. Importing the (light,
# TensorFlow-free) submodule here binds the function; left to the lazy lookup below, the submodule
# would win as soon as anything imported it.
from genkit.plugin.registry import registry  # noqa: E402


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
    from genkit.training.callbacks import Callback, EarlyStopping
    from genkit.plugin.contracts import (
        ArrayData,
        Dataset,
        Decoder,
        Divergence,
        Encoder,
        Likelihood,
        Phase,
        Posterior,
        Prior,
    )
    from genkit.errors import GenkitError, SpecError
    from genkit.results.evaluation import evaluate
    from genkit.assembly.model import GenerativeAutoencoder
    from genkit.plugin.registry import KINDS, PluginWarning, Registry, import_plugins, register, reload_plugins
    from genkit.runs.directory import RunResult, load, train
    from genkit.results.export import export
    from genkit.spec.resolve import DataOptions, OptimizerSpec, Spec, TrainSpec, load_spec
