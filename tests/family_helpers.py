"""Helpers shared by the family tests: which phases run in which order, and which variables each
phase's optimizer changes."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from genkit.assembly.build import build
from genkit.assembly.data import prepare_data
from genkit.assembly.model import GenerativeAutoencoder
from genkit.plugin.optimizers import make_optimizer
from genkit.spec.resolve import load_spec
from genkit.training.batching import batches
from genkit.training.trainer import Trainer


def phase_order(spec: dict[str, Any]) -> tuple[list[str], dict[str, float]]:
    """The phase names in the order one compiled training step runs them, and that step's outputs."""
    spec = load_spec(spec)
    data = prepare_data(spec)
    model = build(spec, data.data_shape, data.condition_dim)
    trainer = Trainer(model, spec.train, data.train)
    order: list[str] = []
    for phase in trainer.phases:
        def recorded(batch, seed, _loss=phase.loss, _name=phase.name):
            order.append(_name)  # Python side effect: runs while the step is traced, in program order
            return _loss(batch, seed)

        phase.loss = recorded
    outputs = trainer.compiled.train_step(next(iter(batches(data.train, spec.train.batch_size))))
    # tf.function may trace more than once (e.g. when optimizers create their slots); each trace
    # runs the phases in the same order
    traced = order[: len(trainer.phases)]
    assert order == traced * (len(order) // len(traced))
    return traced, {key: float(value) for key, value in outputs.items()}


def phase_updates(model: GenerativeAutoencoder, batch: dict[str, Any]) -> list[tuple[str, set[str], set[str]]]:
    """For each phase, one optimizer step on ``batch`` from the same starting weights: the phase
    name, the variables that changed, and the variables the phase declares."""
    seed = tf.constant([1, 2], tf.int32)
    start = [v.numpy().copy() for v in model.variables]
    results = []
    for phase in model.phases():
        variables = phase.variables()
        with tf.GradientTape() as tape:
            loss = phase.loss(batch, seed)["loss"]
        gradients = tape.gradient(loss, variables)
        optimizer = make_optimizer(phase.optimizer or {"type": "adam", "learning_rate": 1e-2})
        optimizer.apply_gradients([(g, v) for g, v in zip(gradients, variables, strict=True) if g is not None])
        changed = {v.path for v, before in zip(model.variables, start, strict=True)
                   if not np.array_equal(v.numpy(), before)}
        declared = {v.path for v in variables}
        results.append((phase.name, changed, declared))
        for v, before in zip(model.variables, start, strict=True):
            v.assign(before)
    return results
