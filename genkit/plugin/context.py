"""The context of a build: what genkit knows when it assembles a model, offered to plugins by name.

A plugin asks for a context value by naming it in its ``__init__`` (``def __init__(self,
latent_dim: int, num_train_examples: int, ...)``); genkit supplies it and it is not a spec
argument. Every component kind may ask for every name in :data:`CONTEXT_NAMES`; a few kinds have
extra ones of their own (an encoder's ``output_shape``, a callback's ``run_dir``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Context:
    """Shapes and sizes known at assembly, stored with a run so that loading rebuilds the same model.

    Attributes:
        latent_shape: the event shape of z: ``(latent_dim,)`` for flat codes, e.g. ``(7, 7, 64)``
            for a grid of codes.
        data_shape: the shape of one example.
        condition_dim: the width of the condition vector (0 for unconditional models).
        num_classes: how many classes the integer labels have (0 without class labels).
        num_train_examples: how many examples one training epoch has (after the validation split).
        batch_size: examples per training step (``train.batch_size``).
        epochs: training epochs (``train.epochs``).
    """

    latent_shape: Shape
    data_shape: Shape
    condition_dim: int = 0
    num_classes: int = 0
    num_train_examples: int = 0
    batch_size: int = 0
    epochs: int = 0

    @property
    def latent_dim(self) -> int:
        """How many numbers one code has (the product of ``latent_shape``)."""
        return math.prod(self.latent_shape)

    @property
    def steps_per_epoch(self) -> int:
        """Training steps per epoch (the last batch may be partial); 0 when the sizes are unknown."""
        return -(-self.num_train_examples // self.batch_size) if self.batch_size else 0

    def arguments(self) -> dict[str, Any]:
        """Every context name with its value, as plugins receive them."""
        return {**asdict(self), "latent_dim": self.latent_dim, "steps_per_epoch": self.steps_per_epoch}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for model.json."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Context:
        """The inverse of :meth:`to_dict` (unknown keys are an error, missing sizes default to 0)."""
        values = dict(data)
        for key in ("latent_shape", "data_shape"):
            values[key] = tuple(int(d) for d in values[key])
        return cls(**values)


#: The context names every component kind may ask for.
CONTEXT_NAMES: frozenset[str] = frozenset(
    {"latent_dim", "latent_shape", "data_shape", "condition_dim", "num_classes", "num_train_examples",
     "batch_size", "epochs", "steps_per_epoch"}
)
