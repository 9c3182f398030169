"""The optimizer of each training phase, from the spec's ``train`` settings."""

from __future__ import annotations

from typing import Any

from genkit.assembly import precision
from genkit.plugin.optimizers import make_optimizer, with_clipping
from genkit.plugin.phase import Phase
from genkit.spec.schema import TrainSpec


def phase_optimizer_config(settings: TrainSpec, phase: Phase) -> dict[str, Any]:
    """The optimizer spec one phase trains with: its own (or ``train.optimizer``) plus ``train``'s clipping."""
    return with_clipping(phase.optimizer or settings.optimizer.model_dump(), settings.clip_norm, settings.clip_value)


def phase_optimizers(settings: TrainSpec, phases: list[Phase]) -> list[Any]:
    """One built optimizer per phase (loss-scaled under float16), created now so that a checkpoint
    restores into it and, under a strategy, its variables are mirrored."""
    optimizers = [precision.wrap_optimizer(make_optimizer(phase_optimizer_config(settings, phase)),
                                           settings.mixed_precision) for phase in phases]
    for phase, optimizer in zip(phases, optimizers, strict=True):
        optimizer.build(phase.variables())
    return optimizers
