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
    "build": "genkit.assemble",
    "train": "genkit.runs",
    "load": "genkit.runs",
    "RunResult": "genkit.runs",
    "export": "genkit.savedmodel",
    "GenerativeAutoencoder": "genkit.model",
    # component contracts (plugin base classes)
    "ArrayData": "genkit.components",
    "Dataset": "genkit.components",
    "Decoder": "genkit.components",
    "Divergence": "genkit.components",
    "Encoder": "genkit.components",
    "Likelihood": "genkit.components",
    "Phase": "genkit.components",
    "Posterior": "genkit.components",
    "Prior": "genkit.components",
    # callbacks
    "Callback": "genkit.callbacks",
    "EarlyStopping": "genkit.callbacks",
    # the registry
    "evaluate": "genkit.evaluation",
    "KINDS": "genkit.registry",
    "PluginWarning": "genkit.registry",
    "Registry": "genkit.registry",
    "import_plugins": "genkit.registry",
    "register": "genkit.registry",
    "registry": "genkit.registry",
    "reload_plugins": "genkit.registry",
    # specs
    "DataOptions": "genkit.spec",
    "OptimizerSpec": "genkit.spec",
    "Spec": "genkit.spec",
    "TrainSpec": "genkit.spec",
    "load_spec": "genkit.spec",
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
from genkit.registry import registry  # noqa: E402


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genkit' has no attribute '{name}'")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from genkit.assemble import build
    from genkit.callbacks import Callback, EarlyStopping
    from genkit.components import (
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
    from genkit.evaluation import evaluate
    from genkit.model import GenerativeAutoencoder
    from genkit.registry import KINDS, PluginWarning, Registry, import_plugins, register, reload_plugins
    from genkit.runs import RunResult, load, train
    from genkit.savedmodel import export
    from genkit.spec import DataOptions, OptimizerSpec, Spec, TrainSpec, load_spec
