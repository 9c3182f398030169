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

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "build": "genkit.assemble",
    "Callback": "genkit.callbacks",
    "ArrayData": "genkit.components",
    "Dataset": "genkit.components",
    "Decoder": "genkit.components",
    "Divergence": "genkit.components",
    "Encoder": "genkit.components",
    "Likelihood": "genkit.components",
    "Phase": "genkit.components",
    "Posterior": "genkit.components",
    "Prior": "genkit.components",
    "GenkitError": "genkit.errors",
    "SpecError": "genkit.errors",
    "evaluate": "genkit.evaluation",
    "GenerativeAutoencoder": "genkit.model",
    "KINDS": "genkit.registry",
    "register": "genkit.registry",
    "registry": "genkit.registry",
    "RunResult": "genkit.runs",
    "load": "genkit.runs",
    "train": "genkit.runs",
    "Spec": "genkit.spec",
    "load_spec": "genkit.spec",
}

__all__ = sorted([*_EXPORTS, "__version__"])


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
    from genkit.callbacks import Callback
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
    from genkit.registry import KINDS, register, registry
    from genkit.runs import RunResult, load, train
    from genkit.spec import Spec, load_spec
