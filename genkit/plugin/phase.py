"""A training phase: one loss minimised over some variables with its own optimizer, every step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from genkit.plugin.surface import Batch


@dataclass
class Phase:
    """One optimisation phase run in every training step, in declaration order.

    ``loss(batch, seed)`` returns a dict of scalar tensors holding at least ``"loss"``, which is
    minimised over ``variables()`` with an optimizer built from ``optimizer`` (a spec dict such as
    ``{"type": "adam", "learning_rate": 1e-4}``; None means the spec's ``train.optimizer``). Loss
    terms and metrics the components report while the loss is computed join this phase's terms.
    """

    name: str
    loss: Callable[[Batch, tf.Tensor], dict[str, tf.Tensor]]
    variables: Callable[[], list[Any]]
    optimizer: dict[str, Any] | None = None
