"""Keras optimizers from spec mappings such as ``{type: adam, learning_rate: 1e-3}``."""

from __future__ import annotations

from typing import Any

import keras


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
