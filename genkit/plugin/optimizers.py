"""Keras optimizers from spec mappings such as ``{type: adam, learning_rate: 1e-3}``.

:class:`OptimizerSpec` is also the type a plugin annotates an optimizer argument with (a
discriminator's own optimizer), so those arguments are validated like ``train.optimizer``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import pydantic


class OptimizerSpec(pydantic.BaseModel):
    """Any Keras optimizer by name; other keys are passed to its constructor.

    The learning rate must be a positive, finite number, and every other numeric argument finite:
    a NaN or infinite value is refused when the spec is validated, not found at the first step.
    """

    model_config = pydantic.ConfigDict(extra="allow")
    type: str = "adam"
    learning_rate: float = 1e-3

    @pydantic.field_validator("learning_rate")
    @classmethod
    def _positive_finite(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"the learning rate must be a positive, finite number, got {value}")
        return value

    @pydantic.model_validator(mode="after")
    def _buildable(self) -> OptimizerSpec:
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"optimizer argument '{key}' must be finite, got {value}")
        problem = optimizer_problem(self.model_dump())
        if problem:
            raise ValueError(problem)
        return self


def make_optimizer(spec: dict[str, Any]) -> keras.optimizers.Optimizer:
    """Any Keras optimizer by its name (``adam``, ``sgd``, ``AdamW`` ...) with its keyword arguments."""
    config = {k: v for k, v in spec.items() if k != "type"}
    name = str(spec.get("type", "adam"))
    classes = {cls.__name__.lower(): cls for cls in _optimizer_classes()}
    cls = classes.get(name.lower().replace("_", ""))
    if cls is None:
        raise ValueError(f"unknown optimizer '{name}'; Keras optimizers are: {', '.join(sorted(classes))}")
    return cls(**config)


def _optimizer_classes() -> list[type]:
    return [
        obj
        for obj in vars(keras.optimizers).values()
        if isinstance(obj, type)
        and issubclass(obj, keras.optimizers.Optimizer)
        and obj is not keras.optimizers.Optimizer
    ]


def optimizer_problem(spec: dict[str, Any]) -> str | None:
    """Why the optimizer spec cannot be built, or None."""
    try:
        make_optimizer(spec)
    except (ValueError, TypeError) as err:
        return str(err)
    return None


def with_clipping(spec: dict[str, Any], clip_norm: float | None, clip_value: float | None) -> dict[str, Any]:
    """An optimizer spec with gradient clipping added: ``clip_norm`` becomes Keras' ``global_clipnorm``
    (the norm of all the phase's gradients together) and ``clip_value`` its ``clipvalue``; keys the
    optimizer spec sets itself win."""
    clipping = {"global_clipnorm": clip_norm, "clipvalue": clip_value}
    return {**{k: v for k, v in clipping.items() if v is not None}, **spec}
