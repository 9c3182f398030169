"""The compiled training calls: several steps per call, batches gathered in the graph, XLA where it pays.

Batches are drawn in a seeded order per epoch and gathered inside the compiled function from
tensors made once per run (no ``tf.data`` iterator between steps). One call runs several steps
(``train.steps_per_execution``, by default sized so a call lasts about :data:`AUTO_CALL_SECONDS`)
in a ``tf.while_loop`` and returns per-example sums of every metric; it traces once per run. With
``jit_compile`` on one device the whole call, loop and gathers included, is one XLA computation.
Each step runs every phase through :class:`~genkit.assembly.learning.PhaseStep` on each replica.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from genkit.assembly.core import AutoencoderCore
from genkit.assembly.learning import PhaseStep
from genkit.assembly.replica import replica_slice
from genkit.assembly.streaming import StreamedSplit
from genkit.plugin import randomness
from genkit.plugin.dataset import ArrayData
from genkit.plugin.phase import Phase
from genkit.spec.schema import TrainSpec
from genkit.training import strategy
from genkit.training.batching import Tensors, as_tensors

#: With ``steps_per_execution: auto``, the chunk of steps per compiled call doubles until a call lasts this long.
AUTO_CALL_SECONDS = 0.2


def resolve_jit_compile(setting: bool | str, distribute: str, accelerator: bool | None = None) -> bool:
    """``train.jit_compile`` as a bool: ``auto`` means XLA on one GPU or TPU, off on CPUs and under a strategy.

    On CPU, XLA helps some models and ruins others (benchmarks/throughput.py, 2 cores: the MLP
    VAE 11,990 vs 9,766 examples/s, the conv VAE 537 vs 4,087), so ``auto`` stays off there, as
    Keras' own ``jit_compile="auto"`` does on CPU-only machines; under ``tf.distribute`` the
    cross-replica reductions would have to compile too. ``accelerator`` (whether a GPU or TPU is
    visible) is detected when not given.
    """
    if setting != "auto":
        return bool(setting)
    if accelerator is None:
        accelerator = bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    return distribute == "none" and accelerator


def _label_spec(data: ArrayData | StreamedSplit) -> tf.TensorSpec | None:
    """The batch spec of the labels (None without labels): from the arrays, or from the stream's
    description (class indices as int64, condition vectors as float32)."""
    if isinstance(data, ArrayData):
        return None if data.y is None else tf.TensorSpec((None, *data.y.shape[1:]), tf.as_dtype(data.y.dtype))
    shape = data.stream.label_shape
    return None if shape is None else tf.TensorSpec((None, *shape), tf.int64 if shape == () else tf.float32)


def public(outputs: Tensors) -> Tensors:
    """The metrics of a step's outputs (``_``-prefixed keys are flags and counts)."""
    return {key: value for key, value in outputs.items() if not key.startswith("_")}


@dataclass
class Variant:
    """The compiled training functions of one ``jit_compile`` setting."""

    jit_compile: bool
    #: On one replica XLA compiles the whole call (loop, gathers, steps); across replicas only the step.
    whole_call_xla: bool
    #: One training step on one batch (every phase); returns its metrics and ``_``-prefixed flags.
    train_step: Any
    #: Several steps of an epoch in one call (``steps_per_execution``), folded into one record.
    train_steps: Any


class CompiledSteps:
    """The compiled training and evaluation functions of one model, its phases and optimizers.

    Created inside the strategy scope the model was built in; uses that strategy. With
    ``jit_compile: auto`` on a CPU the choice between XLA and graph execution is made by
    :mod:`genkit.training.jit_choice` before the first epoch (:meth:`use`).
    """

    def __init__(self, model: AutoencoderCore, settings: TrainSpec, train_data: ArrayData | StreamedSplit,
                 phases: list[Phase], optimizers: list[Any]):
        self.model, self.settings, self.train_data = model, settings, train_data
        #: Whether the training data stream (batches from a tf.data iterator) or sit in memory.
        self.streamed = isinstance(train_data, StreamedSplit)
        #: How many workers read a share of the data each (their batches are local, not global).
        self.input_workers = train_data.workers if isinstance(train_data, StreamedSplit) else 1
        self.strategy = tf.distribute.get_strategy()
        self.phases, self.optimizers = phases, optimizers
        # on_nan: stop saw a bad step; every replica sees the same flag, so the first one's write is the value
        self.halted = tf.Variable(False, trainable=False, name="halted",
                                  aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.phase_step = PhaseStep(model, self.phases, optimizers,
                                    self.halted if settings.on_nan == "stop" else None)
        #: (phase, its output keys), recorded while tracing, to name a term that went bad.
        self.term_keys: list[tuple[str, list[str]]] = []
        self.trace_count = 0
        # the training data stay on the device as variables (one copy per replica under mirrored):
        # each compiled call gathers its batches from them, and XLA takes them as plain arguments
        self._train_tensors = {} if isinstance(train_data, StreamedSplit) else {
            key: tf.Variable(value, trainable=False, name=f"train_{key}")
            for key, value in as_tensors(train_data).items()}
        #: Steps per compiled call: the spec's number, or (``auto``) grown by :meth:`grow_chunk`.
        self.chunk_steps = 1 if settings.steps_per_execution == "auto" else settings.steps_per_execution
        self.signature = {"x": tf.TensorSpec((None, *model.data_shape), tf.float32)}
        labels = _label_spec(train_data)
        if labels is not None:
            self.signature["y"] = labels
        self._variants: dict[bool, Variant] = {}
        self.variant = self.compiled_for(resolve_jit_compile(settings.jit_compile, settings.distribute))
        self.eval_step = tf.function(
            self._eval_step, input_signature=[self.signature, tf.TensorSpec((2,), tf.int32)], autograph=False
        )

    def compiled_for(self, jit_compile: bool) -> Variant:
        """The training functions of one ``jit_compile`` setting (made once, on first use)."""
        if jit_compile not in self._variants:
            # a streamed call reads its batches from an iterator, which XLA cannot compile: the step compiles alone
            whole = jit_compile and self.strategy.num_replicas_in_sync == 1 and not self.streamed
            # autograph=False everywhere: the steps have no Python control flow on tensors, and
            # converting every function the model calls made tracing 5x slower (benchmarks/first_step.py)
            compute = (tf.function(self._replica_compute, jit_compile=True, autograph=False)
                       if jit_compile and not whole else self._replica_compute)
            # under whole-call XLA the step is compiled too: traced inside that call, it may hold XLA-only ops
            step = tf.function(functools.partial(self._step, compute), input_signature=[self.signature],
                               autograph=False, jit_compile=whole)
            body = self._streamed_steps_fn if self.streamed else self._train_steps_fn
            steps = tf.function(functools.partial(body, step), jit_compile=whole, autograph=False)
            self._variants[jit_compile] = Variant(jit_compile, whole, step, steps)
        return self._variants[jit_compile]

    def use(self, variant: Variant) -> None:
        """Train with ``variant`` from now on."""
        self.variant = variant

    @property
    def jit_compile(self) -> bool:
        return self.variant.jit_compile

    @property
    def whole_call_xla(self) -> bool:
        return self.variant.whole_call_xla

    @property
    def train_step(self) -> Any:
        """One training step on one batch, compiled the way training runs it."""
        return self.variant.train_step

    # --- in the graph ---------------------------------------------------------------------------
    def _replica_compute(self, batch: Tensors, seed: tf.Tensor) -> tuple[Tensors, tf.Tensor, Tensors]:
        """Every phase on this replica's batch: (metric means, example count, step flags)."""
        result = self.phase_step(batch, seed)
        self.term_keys = result.term_keys
        return result.means, result.examples, result.flags

    def _step(self, compute: Any, batch: Any) -> Tensors:
        """One training step (cross-replica): the global batch's metric means, its size and the step's flags."""
        self.trace_count += 1  # Python side effect: runs only while tracing

        def replica_step(batch: Tensors, seed: tf.Tensor) -> tuple[Tensors, tf.Tensor, Tensors]:
            # every phase on this replica's slice of the batch (of the global one, or of its worker's own)
            return compute(replica_slice(batch, self.input_workers), seed)

        means, examples, flags = self.strategy.run(replica_step, args=(batch, self.model.next_seed()))
        outputs, total = strategy.mean_over_replicas(self.strategy, means, examples)
        outputs.update({key: strategy.first_replica(self.strategy, flag) for key, flag in flags.items()})
        self.model.step_counter.assign_add(1)
        outputs["_examples"] = total
        outputs["_step"] = tf.convert_to_tensor(self.model.step_counter)
        return outputs

    def _train_steps_fn(self, train_step: Any, order: tf.Tensor, start: tf.Tensor, steps: tf.Tensor,
                        batch_size: int | None = None) -> dict[str, Any]:
        """Steps ``start, ..., start + steps - 1`` (``steps`` >= 1) of the epoch whose example order
        is ``order``, folded into one record (see :meth:`_fold`).

        Step ``i`` trains on the examples ``order[i * B : (i + 1) * B]`` (B the spec's batch size;
        the last step may have fewer), gathered here from the training tensors. ``batch_size`` is
        the static size of every batch of this call, which XLA needs; None sizes each batch in
        the graph (the last one of an epoch may be partial), and the function traces once per run
        (under XLA once more for the epoch's partial last batch; the step itself still traces once).
        """
        size, total = self.settings.batch_size, tf.shape(order)[0]

        def step_at(index: tf.Tensor) -> Tensors:
            low = index * size
            count = tf.minimum(size, total - low) if batch_size is None else batch_size
            rows = tf.gather(order, low + tf.range(count))  # XLA would make tf.slice's start a compile-time constant
            # train_step has a fixed signature: the step traces once, however often it is called here
            return train_step({key: tf.gather(value, rows) for key, value in self._train_tensors.items()})

        # the record starts from the step's output structure, so the loop holds the only call of the step
        empty = self._empty_record(train_step.get_concrete_function().structured_outputs)
        _, record = tf.while_loop(
            lambda done, _: done < steps,
            lambda done, record: (done + 1, self._fold(step_at(start + done), record)),
            (tf.constant(0), empty),
        )
        return record

    def _streamed_steps_fn(self, train_step: Any, iterator: Any, steps: tf.Tensor) -> dict[str, Any]:
        """``steps`` training steps on the next batches of a streamed epoch's iterator, in one record."""
        empty = self._empty_record(train_step.get_concrete_function().structured_outputs)
        _, record = tf.while_loop(
            lambda done, _: done < steps,
            lambda done, record: (done + 1, self._fold(train_step(iterator.get_next()), record)),
            (tf.constant(0), empty),
        )
        return record

    @staticmethod
    def _empty_record(outputs: Tensors) -> dict[str, Any]:
        """The record of no step, for a step whose outputs look like ``outputs`` (see :meth:`_fold`)."""
        return {
            "sums": {key: tf.zeros((), tf.float64) for key in public(outputs)},
            "examples": tf.zeros((), tf.float32),
            "applied": tf.zeros((), tf.float64),
            "skipped": tf.zeros((), tf.int32),
            "bad": {key: tf.zeros(value.shape, value.dtype) for key, value in outputs.items()},
            "bad_step": -tf.ones((), outputs["_step"].dtype),
        }

    @staticmethod
    def _fold(outputs: Tensors, record: dict[str, Any]) -> dict[str, Any]:
        """Add one step to a record: per-example metric sums (float64) over applied steps, the counts,
        and the outputs of the first skipped step (to name what went wrong)."""
        skipped = outputs["_skipped"]
        applied = tf.where(skipped, tf.zeros((), tf.float64), tf.cast(outputs["_examples"], tf.float64))
        first_bad = skipped & (record["bad_step"] < 0)
        return {
            "sums": {key: record["sums"][key] + tf.where(skipped, tf.zeros((), tf.float64),
                                                          tf.cast(value, tf.float64) * applied)
                     for key, value in public(outputs).items()},
            "examples": record["examples"] + outputs["_examples"],
            "applied": record["applied"] + applied,
            "skipped": record["skipped"] + tf.cast(skipped, tf.int32),
            "bad": {key: tf.where(first_bad, value, record["bad"][key]) for key, value in outputs.items()},
            "bad_step": tf.where(first_bad, outputs["_step"], record["bad_step"]),
        }

    def _eval_step(self, batch: Tensors, seed: tf.Tensor) -> Tensors:
        """The main phase's terms (with the components' reported terms) at inference."""
        terms, _ = self.model.run_phase(self.phases[0], batch, seed, training=False)
        return terms

    # --- host side ------------------------------------------------------------------------------
    def run(self, order: tf.Tensor, done: int, steps: int, batch_size: int | None,
            variant: Variant | None = None) -> dict[str, Any]:
        """One compiled call of ``steps`` steps after ``done`` steps of the epoch (whose example order
        is ``order``, int32; for streamed data ``order`` is the epoch's batch iterator), as host
        numbers (float32 -> float is exact); ``variant`` defaults to the one training uses."""
        variant = variant or self.variant
        with randomness.compiled_by_xla(variant.jit_compile):  # read only while tracing
            if self.streamed:
                record = variant.train_steps(order, tf.constant(steps, tf.int32))
            else:
                record = variant.train_steps(order, tf.constant(done, tf.int32), tf.constant(steps, tf.int32),
                                             batch_size)
        return tf.nest.map_structure(lambda tensor: tensor.numpy().item(), record)

    def next_call(self, done: int, total: int) -> tuple[int, int | None]:
        """(steps, static batch size or None) of the next compiled call after ``done`` of ``total`` steps.

        Under whole-call XLA every batch of a call must have one static size, so the epoch's last
        partial batch gets a call (and an XLA compilation) of its own.
        """
        steps = min(self.chunk_steps, total - done)
        if not self.whole_call_xla:
            return steps, None
        size, examples = self.settings.batch_size, len(self.train_data)
        full = examples // size
        if done < full:
            return min(steps, full - done), size
        return 1, examples - full * size

    def grow_chunk(self, seconds: float, steps: int) -> None:
        """With ``steps_per_execution: auto``, double the steps per call while a call of ``steps`` is short."""
        short = seconds < AUTO_CALL_SECONDS / 2
        if self.settings.steps_per_execution == "auto" and steps == self.chunk_steps and short:
            self.chunk_steps *= 2
