"""``train.jit_compile: auto``: XLA or graph execution, decided by measuring the real step where a rule
of thumb would be wrong.

On one GPU or TPU XLA is the rule (``resolve_jit_compile``). On a CPU it helps some models and ruins
others (benchmarks/throughput.py, 2 cores: XLA made the MLP VAE 1.23x faster and the conv VAE 7.6x
slower), so there the first calls of the run's own training step are timed both ways and the faster
is kept, when XLA wins by more than :data:`MARGIN`. The measurement trains on copies of nothing:
every variable (weights, optimizer state, counters) is saved before and restored after, so the run
then trains from its first step exactly as if the chosen setting had been written in the spec. Runs
that train on fewer than :data:`MEASURE_MIN_EXAMPLES` examples in all (epochs times the training
examples) skip it and keep graph execution: XLA's compilation, a few seconds, could not pay itself
back. The rule counts examples, not steps: at a larger batch a step does more work, and XLA saves
time in proportion to the work. A step XLA cannot compile keeps graph execution. The choice and the
two rates go into the run's model.json and log.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from genkit.training.batching import epoch_order
from genkit.training.compiled import CompiledSteps, Variant, resolve_jit_compile

#: Training runs on fewer examples than this (epochs x training examples) keep graph execution
#: without measuring (about 1,500 steps of 128: the MLP VAE's XLA compilation pays back after ~1,000).
MEASURE_MIN_EXAMPLES = 200_000
#: Timed calls per setting (after one untimed call that traces and compiles).
MEASURED_CALLS = 2
#: Steps per timed call.
STEPS_PER_CALL = 8
#: XLA is chosen when it trains faster than graph execution by more than this factor.
MARGIN = 1.05


@dataclass(frozen=True)
class JitChoice:
    """Whether training runs under XLA, why, and (when measured) the rates it was chosen from."""

    jit_compile: bool
    reason: str
    graph_examples_per_second: float | None = None
    xla_examples_per_second: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for the run's log."""
        setting = "XLA" if self.jit_compile else "graph execution"
        if self.xla_examples_per_second is None:
            return f"jit_compile: {setting} ({self.reason})"
        return (f"jit_compile auto: {setting} ({self.reason}: XLA {self.xla_examples_per_second:,.0f} vs graph "
                f"{self.graph_examples_per_second:,.0f} examples/s)")


def _state(compiled: CompiledSteps) -> list[Any]:
    """Every variable a training call changes: the model's, the optimizers', the NaN flag."""
    variables = [*compiled.model.variables, compiled.halted]
    for optimizer in compiled.optimizers:
        variables += list(optimizer.variables)
    return variables


def _rate(compiled: CompiledSteps, variant: Variant, order: tf.Tensor, steps: int) -> float:
    """Examples per second of ``variant`` on the epoch's first ``steps`` batches (full batches)."""
    size = compiled.settings.batch_size
    batch_size = size if variant.whole_call_xla else None
    compiled.run(order, 0, steps, batch_size, variant)  # traces (and compiles) the call
    started = time.perf_counter()
    for _ in range(MEASURED_CALLS):
        compiled.run(order, 0, steps, batch_size, variant)
    return MEASURED_CALLS * steps * size / (time.perf_counter() - started)


def measure(compiled: CompiledSteps) -> tuple[float, float | str]:
    """Graph and XLA examples per second of the run's step, every variable restored afterwards; in
    place of the XLA rate, the name of the error when XLA cannot compile the step (a while loop
    XLA does not support, such as a rejection sampler's, inside the gradient)."""
    variables = _state(compiled)
    saved = [np.array(variable.numpy()) for variable in variables]
    order = tf.constant(epoch_order(len(compiled.train_data), compiled.settings.seed, 1), tf.int32)
    steps = max(1, min(STEPS_PER_CALL, len(compiled.train_data) // compiled.settings.batch_size))

    def rate(jit: bool) -> float:
        try:
            return _rate(compiled, compiled.compiled_for(jit), order, steps)
        finally:
            for variable, value in zip(variables, saved, strict=True):
                variable.assign(value)

    graph = rate(False)
    try:
        return graph, rate(True)
    except tf.errors.OpError as err:
        return graph, type(err).__name__


def choose(compiled: CompiledSteps, accelerator: bool | None = None) -> JitChoice:
    """Decide ``jit_compile`` for this run, switch ``compiled`` to it, and say why (``accelerator``:
    whether a GPU or TPU is visible, detected when not given)."""
    settings = compiled.settings
    if settings.jit_compile != "auto":
        choice = JitChoice(bool(settings.jit_compile), "set in the spec")
    elif settings.distribute != "none":
        choice = JitChoice(False, "under a distribution strategy the cross-replica reductions stay uncompiled")
    elif compiled.streamed:
        choice = JitChoice(False, "streamed data: XLA could compile only the step, without the calls around it")
    elif resolve_jit_compile("auto", "none", accelerator):
        choice = JitChoice(True, "an accelerator is visible")
    elif settings.epochs * len(compiled.train_data) < MEASURE_MIN_EXAMPLES:
        choice = JitChoice(False, f"a run on under {MEASURE_MIN_EXAMPLES:,} examples in all cannot pay back "
                                  "XLA's compilation")
    else:
        graph, xla = measure(compiled)
        if isinstance(xla, str):
            choice = JitChoice(False, f"XLA could not compile this run's step ({xla})", graph)
        else:
            choice = JitChoice(xla > MARGIN * graph, "measured on this run's step", graph, xla)
    compiled.use(compiled.compiled_for(choice.jit_compile))
    return choice
