"""Keras optimizers from spec mappings such as ``{type: adam, learning_rate: 1e-3}``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    from genkit.spec.resolve import TrainSpec


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


def optimizer_config(train: TrainSpec, phase_optimizer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The optimizer spec one phase trains with: its own (or ``train.optimizer``) plus ``train``'s clipping.

    ``train.clip_norm`` becomes Keras' ``global_clipnorm`` (the norm of all the phase's gradients
    together) and ``train.clip_value`` its ``clipvalue``; keys the optimizer spec sets itself win.
    """
    clipping = {"global_clipnorm": train.clip_norm, "clipvalue": train.clip_value}
    chosen = phase_optimizer or train.optimizer.model_dump()
    return {**{k: v for k, v in clipping.items() if v is not None}, **chosen}
