"""The trainer: compiled steps that run every phase in order, per batch, on any tf.distribute strategy.

Phases come from the model (main phase) and its divergence or objective (e.g. discriminator and
generator phases), each with its own optimizer, so a new adversarial regulariser needs no
trainer change. Batches are drawn in a seeded order per epoch and gathered inside the compiled
function from tensors made once per run (no ``tf.data`` iterator between steps). One call of the
compiled function runs several steps (``train.steps_per_execution``, by default sized so a call
lasts about :data:`AUTO_CALL_SECONDS`) in a ``tf.while_loop`` and returns per-example sums of
every metric; it traces once per run. With ``jit_compile`` on one device the whole call, loop and
gathers included, is one XLA computation. Distribution lives in :mod:`genkit.strategy`, mixed
precision in :mod:`genkit.precision`.

NaN guard: inside the compiled step each phase's update is applied only when its loss terms and
gradients are finite on every replica (``tf.cond``), so a bad batch never reaches the weights or
the optimizer state. ``on_nan: stop`` raises :class:`NumericalFault` naming the epoch, step and
term (nothing is updated after the bad step); ``on_nan: skip`` goes on and counts
``skipped_steps``. With float16 loss scaling, overflowing gradients are the loss scale
optimizer's business (it skips the step and lowers the scale), so only the loss terms are guarded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from genkit.assembly import precision
from genkit.plugin import randomness
from genkit.training import strategy
from genkit.training.callbacks import Callback
from genkit.plugin.contracts import ArrayData
from genkit.errors import NumericalFault
from genkit.assembly.model import GenerativeAutoencoder, split_seed
from genkit.plugin.optimizers import make_optimizer, optimizer_config
from genkit.spec.resolve import Spec

Tensors = dict[str, tf.Tensor]


def as_tensors(arrays: ArrayData) -> Tensors:
    """``{"x": ...}`` (plus ``"y"`` when labels exist) as tensors."""
    tensors = {"x": tf.convert_to_tensor(arrays.x)}
    if arrays.y is not None:
        tensors["y"] = tf.convert_to_tensor(arrays.y)
    return tensors


def batches(arrays: ArrayData, batch_size: int) -> tf.data.Dataset:
    """Batches of ``arrays`` in their order, prefetched (evaluation; training gathers its own)."""
    return tf.data.Dataset.from_tensor_slices(as_tensors(arrays)).batch(batch_size).prefetch(tf.data.AUTOTUNE)


#: With ``steps_per_execution: auto``, the chunk of steps per compiled call doubles until a call lasts this long.
AUTO_CALL_SECONDS = 0.2


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled example order of one epoch, a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, 1000 + epoch]).permutation(n)


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


def _weighted_means(outputs: list[dict[str, Any]], sizes: list[int]) -> dict[str, float]:
    """Size-weighted means of the public (not ``_``-prefixed) outputs of several batches."""
    keys = [k for k in outputs[0] if not k.startswith("_")]
    weights = np.asarray(sizes, np.float64) / float(sum(sizes))
    return {k: float(np.dot(weights, [float(o[k]) for o in outputs])) for k in keys}


def _all_finite(tensors: Sequence[Any]) -> tf.Tensor:
    """One boolean: every value of every tensor (or IndexedSlices) is finite.

    Checked through the sum of all values, one reduction per tensor and no boolean copy of the
    gradients: a NaN or infinity anywhere makes the sum non-finite. (A sum of finite values can
    overflow float32 only with gradients beyond 1e38 / size, which are treated as bad too.)
    """
    sums = [tf.reduce_sum(tf.cast(getattr(t, "values", t), tf.float32)) for t in tensors]
    return tf.math.is_finite(tf.add_n(sums)) if sums else tf.constant(True)


def _public(outputs: Tensors) -> Tensors:
    return {key: value for key, value in outputs.items() if not key.startswith("_")}


@dataclass
class EpochProgress:
    """The part of one epoch trained so far (a mid-epoch checkpoint keeps it, so resuming is exact).

    ``sums`` are per-example sums of each metric over the steps whose update was applied
    (``applied`` examples); the epoch's means are their ratio. ``examples`` counts every example
    trained, so the epoch's order resumes after them.
    """

    epoch: int
    steps: int = 0
    examples: int = 0
    applied: float = 0.0
    skipped_steps: int = 0
    sums: dict[str, float] = field(default_factory=dict)

    def add(self, chunk: dict[str, Any], steps: int) -> None:
        """Fold in one compiled call's record (host numbers) of ``steps`` steps."""
        self.steps += steps
        self.examples += int(chunk["examples"])
        self.applied += chunk["applied"]
        self.skipped_steps += int(chunk["skipped"])
        for key, value in chunk["sums"].items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    def means(self) -> dict[str, float]:
        """Each metric's mean over the applied steps' examples (NaN when every step was skipped)."""
        return {key: value / self.applied if self.applied else float("nan") for key, value in self.sums.items()}


class Trainer:
    """Trains a model on arrays with the spec's ``train`` settings, calling callbacks.

    Under a distribution strategy, build the model and create the trainer inside
    ``strategy.scope()`` (``genkit.train`` does); the trainer uses the strategy whose scope it is
    created in.
    """

    def __init__(
        self,
        model: GenerativeAutoencoder,
        spec: Spec,
        train_data: ArrayData,
        validation_data: ArrayData | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        self.model, self.spec = model, spec
        self.train_data, self.validation_data = train_data, validation_data
        self.callbacks = list(callbacks)
        self.strategy = tf.distribute.get_strategy()
        self.phases = model.phases()
        train = spec.train
        self.optimizers = [
            precision.wrap_optimizer(make_optimizer(optimizer_config(train, phase.optimizer)), train.mixed_precision)
            for phase in self.phases
        ]
        for phase, optimizer in zip(self.phases, self.optimizers, strict=True):
            optimizer.build(phase.variables())  # now, under the strategy: a checkpoint restores into it
        # on_nan: stop saw a bad step; every replica sees the same flag, so the first one's write is the value
        self.halted = tf.Variable(False, trainable=False, name="halted",
                                  aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.term_keys: list[tuple[str, list[str]]] = []  # (phase, its output keys), recorded while tracing
        self.progress: EpochProgress | None = None
        self.history: list[dict[str, float]] = []
        #: Set by a callback (e.g. early stopping) to end training after the current epoch.
        self.stop_training = False
        self.trace_count = 0
        self.jit_compile = resolve_jit_compile(train.jit_compile, train.distribute)
        # the training data stays on the device as variables (one copy per replica under mirrored):
        # each compiled call gathers its batches from them, and XLA takes them as plain arguments
        self._train_tensors = {key: tf.Variable(value, trainable=False, name=f"train_{key}")
                               for key, value in as_tensors(train_data).items()}
        #: Steps per compiled call: the spec's number, or (``auto``) grown by :meth:`_grow_chunk`.
        self.chunk_steps = 1 if train.steps_per_execution == "auto" else train.steps_per_execution
        # On one replica XLA compiles the whole call (loop, gathers, steps): compiling only the step
        # inside a graph loop left most of its speed on the table. Across replicas only the
        # replica's step compiles (the strategy's collectives and merge calls stay outside).
        self._whole_call_xla = self.jit_compile and self.strategy.num_replicas_in_sync == 1
        # autograph=False everywhere: the steps have no Python control flow on tensors, and
        # converting every function the model calls made tracing 5x slower (benchmarks/first_step.py)
        compute = self._replica_compute_fn
        self._replica_compute = (tf.function(compute, jit_compile=True, autograph=False)
                                 if self.jit_compile and not self._whole_call_xla else compute)
        self._train_steps = tf.function(self._train_steps_fn, jit_compile=self._whole_call_xla, autograph=False)
        signature = {"x": tf.TensorSpec((None, *model.data_shape), tf.float32)}
        if train_data.y is not None:
            signature["y"] = tf.TensorSpec((None, *train_data.y.shape[1:]), tf.as_dtype(train_data.y.dtype))
        #: One training step on one batch (every phase); returns its metrics and ``_``-prefixed flags.
        #: Under whole-call XLA it is compiled too: traced inside that call, it may hold XLA-only ops.
        self.train_step = tf.function(self._step, input_signature=[signature], autograph=False,
                                      jit_compile=self._whole_call_xla)
        self.eval_step = tf.function(
            self._eval_step, input_signature=[signature, tf.TensorSpec((2,), tf.int32)], autograph=False
        )

    # --- the compiled step ----------------------------------------------------------------------
    def _replica_step(self, batch: Tensors, seed: tf.Tensor) -> tuple[Tensors, tf.Tensor, Tensors]:
        """Every phase on this replica's slice of the global batch (see :meth:`_replica_compute_fn`)."""
        return self._replica_compute(strategy.replica_slice(batch), seed)

    def _replica_compute_fn(self, batch: Tensors, seed: tf.Tensor) -> tuple[Tensors, tf.Tensor, Tensors]:
        """Every phase on this replica's batch: (metric means, example count, step flags)."""
        examples = tf.shape(batch["x"])[0]
        share = strategy.global_share(examples)
        seeds = split_seed(strategy.replica_seed(seed), len(self.phases))
        means: Tensors = {}
        flags: Tensors = {}
        skipped = tf.constant(False)
        term_keys = []
        for index, (phase, optimizer) in enumerate(zip(self.phases, self.optimizers, strict=True)):
            variables = phase.variables()
            with tf.GradientTape() as tape:
                terms = phase.loss(batch, seeds[index])
                # the mean over the global batch: the replicas' gradients are summed
                loss = optimizer.scale_loss(tf.math.multiply_no_nan(terms["loss"], share))
            gradients = tape.gradient(loss, variables)
            pairs = [(g, v) for g, v in zip(gradients, variables, strict=True) if g is not None]
            gradients_finite = strategy.on_every_replica(_all_finite([g for g, _ in pairs]))
            # a replica's share is 0 when it got no example: its NaN means of nothing do not count
            terms_finite = strategy.on_every_replica(
                _all_finite([tf.math.multiply_no_nan(tf.cast(t, tf.float32), share) for t in terms.values()])
            )
            scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
            finite = terms_finite if scaled else terms_finite & gradients_finite
            skipped |= self._apply_if_finite(optimizer, pairs, finite)
            prefix = "" if index == 0 else f"{phase.name}_"
            means.update({prefix + key: tf.cast(value, tf.float32) for key, value in terms.items()})
            flags[f"_gradients_finite_{phase.name}"] = gradients_finite
            term_keys.append((phase.name, [prefix + key for key in terms]))
        self.term_keys = term_keys
        flags["_skipped"] = skipped
        return means, tf.cast(examples, tf.float32), flags

    def _apply_if_finite(self, optimizer: Any, pairs: list, finite: tf.Tensor) -> tf.Tensor:
        """Apply one phase's update only if ``finite`` (and, with ``on_nan: stop``, no step went bad yet).

        ``finite`` is the same on every replica. A strategy that synchronises updates through
        ``merge_call`` cannot have it inside a ``tf.cond`` in replica context, so there the
        condition is taken in cross-replica context and the update runs per replica inside it (the
        pattern of Keras' ``LossScaleOptimizer``). Returns whether the update was left out.
        """
        apply = finite & tf.logical_not(self.halted)

        def update(grads_and_vars: list) -> None:
            optimizer.apply_gradients(grads_and_vars)

        if tf.__internal__.distribute.strategy_supports_no_merge_call():
            tf.cond(apply, lambda: update(pairs), lambda: None)
        else:

            def across_replicas(distribution: tf.distribute.Strategy, apply: Any, pairs: list) -> None:
                flag = distribution.experimental_local_results(apply)[0]
                tf.cond(flag, lambda: distribution.extended.call_for_each_replica(update, args=(pairs,)),
                        lambda: None)

            tf.distribute.get_replica_context().merge_call(across_replicas, args=(apply, pairs))
        if self.spec.train.on_nan == "stop":
            self.halted.assign(self.halted | tf.logical_not(finite))
        return tf.logical_not(apply)

    def _step(self, batch: Any) -> Tensors:
        """One training step (cross-replica): the global batch's metric means, its size and the step's flags."""
        self.trace_count += 1  # Python side effect: runs only while tracing
        means, examples, flags = self.strategy.run(self._replica_step, args=(batch, self.model.next_seed()))
        outputs, total = strategy.mean_over_replicas(self.strategy, means, examples)
        outputs.update({key: strategy.first_replica(self.strategy, flag) for key, flag in flags.items()})
        self.model.step_counter.assign_add(1)
        outputs["_examples"] = total
        outputs["_step"] = tf.convert_to_tensor(self.model.step_counter)
        return outputs

    def _train_steps_fn(self, order: tf.Tensor, start: tf.Tensor, steps: tf.Tensor,
                        batch_size: int | None = None) -> dict[str, Any]:
        """Steps ``start, ..., start + steps - 1`` (``steps`` >= 1) of the epoch whose example order
        is ``order``, folded into one record (see :meth:`_fold`).

        Step ``i`` trains on the examples ``order[i * B : (i + 1) * B]`` (B the spec's batch size;
        the last step may have fewer), gathered here from the training tensors. ``batch_size`` is
        the static size of every batch of this call, which XLA needs; None sizes each batch in
        the graph (the last one of an epoch may be partial), and the function traces once per run
        (under XLA once more for the epoch's partial last batch; the step itself still traces once).
        """
        size, total = self.spec.train.batch_size, tf.shape(order)[0]

        def step_at(index: tf.Tensor) -> Tensors:
            low = index * size
            count = tf.minimum(size, total - low) if batch_size is None else batch_size
            rows = tf.gather(order, low + tf.range(count))  # XLA would make tf.slice's start a compile-time constant
            # train_step has a fixed signature: the step traces once, however often it is called here
            return self.train_step({key: tf.gather(value, rows) for key, value in self._train_tensors.items()})

        # the record starts from the step's output structure, so the loop holds the only call of the step
        empty = self._empty_record(self.train_step.get_concrete_function().structured_outputs)
        _, record = tf.while_loop(
            lambda done, _: done < steps,
            lambda done, record: (done + 1, self._fold(step_at(start + done), record)),
            (tf.constant(0), empty),
        )
        return record

    @staticmethod
    def _empty_record(outputs: Tensors) -> dict[str, Any]:
        """The record of no step, for a step whose outputs look like ``outputs`` (see :meth:`_fold`)."""
        return {
            "sums": {key: tf.zeros((), tf.float64) for key in _public(outputs)},
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
                     for key, value in _public(outputs).items()},
            "examples": record["examples"] + outputs["_examples"],
            "applied": record["applied"] + applied,
            "skipped": record["skipped"] + tf.cast(skipped, tf.int32),
            "bad": {key: tf.where(first_bad, value, record["bad"][key]) for key, value in outputs.items()},
            "bad_step": tf.where(first_bad, outputs["_step"], record["bad_step"]),
        }

    def _eval_step(self, batch: Tensors, seed: tf.Tensor) -> Tensors:
        return self.model.loss_terms(batch, seed, training=False)

    # --- host side ------------------------------------------------------------------------------
    def _check_finite(self, epoch: int, record: dict[str, Any]) -> None:
        """With ``on_nan: stop``, raise :class:`NumericalFault` for the first bad step of a record."""
        if self.spec.train.on_nan != "stop" or record["bad_step"] < 0:
            return
        term, value = self._bad_term(record["bad"])
        step = int(record["bad_step"])
        raise NumericalFault(
            f"training stopped at epoch {epoch}, step {step}: {term} became {value} "
            "(train.on_nan is 'stop'; the update of that step was not applied)",
            epoch, step, term,
        )

    def _bad_term(self, outputs: dict[str, Any]) -> tuple[str, str]:
        """Which term of a bad step went non-finite first (a phase's parts before its total), and how."""
        for phase_name, keys in self.term_keys:
            for key in sorted(keys, key=lambda k: k.endswith("loss")):
                if not math.isfinite(float(outputs[key])):
                    return f"the '{key}' term", str(float(outputs[key]))
            if not bool(outputs[f"_gradients_finite_{phase_name}"]):
                return f"the gradient of the '{phase_name}' phase's loss", "NaN or infinite"
        return "a loss term", "NaN or infinite"

    def evaluate(self, arrays: ArrayData) -> dict[str, float]:
        """Loss terms over ``arrays`` with fixed seeds (the same numbers every call)."""
        outputs, sizes = [], []
        for index, batch in enumerate(batches(arrays, self.spec.train.batch_size)):
            outputs.append(self.eval_step(batch, tf.constant([self.spec.train.seed + 1, index], tf.int32)))
            sizes.append(int(batch["x"].shape[0]))
        return _weighted_means(outputs, sizes)

    def _next_call(self, done: int, total: int) -> tuple[int, int | None]:
        """(steps, static batch size or None) of the next compiled call after ``done`` of ``total`` steps.

        Under whole-call XLA every batch of a call must have one static size, so the epoch's last
        partial batch gets a call (and an XLA compilation) of its own.
        """
        steps = min(self.chunk_steps, total - done)
        if not self._whole_call_xla:
            return steps, None
        size, examples = self.spec.train.batch_size, len(self.train_data)
        full = examples // size
        if done < full:
            return min(steps, full - done), size
        return 1, examples - full * size

    def _grow_chunk(self, seconds: float, steps: int) -> None:
        """With ``steps_per_execution: auto``, double the steps per call while a call of ``steps`` is short."""
        short = seconds < AUTO_CALL_SECONDS / 2
        if self.spec.train.steps_per_execution == "auto" and steps == self.chunk_steps and short:
            self.chunk_steps *= 2

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def fit(self, start_epoch: int = 1, progress: EpochProgress | None = None) -> list[dict[str, float]]:
        """Train from ``start_epoch`` to ``train.epochs``; return per-epoch metrics (``self.history``).
        A callback may end training early by setting ``stop_training``.

        ``progress`` continues an epoch part-way (resuming a mid-epoch checkpoint): its batches are
        not trained again and its sums count in that epoch's means. ``on_train_end`` is called
        however training ends (also on a NaN stop or an interrupt).
        """
        self.stop_training = False
        self._call("on_train_begin", self)
        try:
            for epoch in range(start_epoch, self.spec.train.epochs + 1):
                resumed = progress is not None and progress.epoch == epoch
                self._fit_epoch(progress if resumed else EpochProgress(epoch))
                if self.stop_training:  # set by a callback, e.g. early stopping
                    break
        finally:
            self._call("on_train_end", self.history)
        return self.history

    def _fit_epoch(self, progress: EpochProgress) -> None:
        train, epoch = self.spec.train, progress.epoch
        self.progress = progress
        self._call("on_epoch_begin", epoch)
        started, examples_before = time.perf_counter(), progress.examples
        order = tf.constant(epoch_order(len(self.train_data), train.seed, epoch), tf.int32)
        total = -(-len(self.train_data) // train.batch_size)
        while progress.steps < total:
            steps, batch_size = self._next_call(progress.steps, total)
            called = time.perf_counter()
            with randomness.compiled_by_xla(self.jit_compile):  # read only while tracing
                record = _to_host(self._train_steps(order, tf.constant(progress.steps, tf.int32),
                                                    tf.constant(steps, tf.int32), batch_size))
            self._grow_chunk(time.perf_counter() - called, steps)
            first = progress.steps + 1
            progress.add(record, steps)
            self._check_finite(epoch, record)
            applied = record["applied"]
            shown = record["sums"]["loss"] / applied if applied else None
            for step in range(first, first + steps):
                self._call("on_step_end", step, shown if step == first + steps - 1 else None)
        logs = {"epoch": epoch, "step": int(self.model.step_counter.numpy()), **progress.means()}
        if train.on_nan == "skip":
            logs["skipped_steps"] = progress.skipped_steps
        seconds = time.perf_counter() - started
        if self.validation_data is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(self.validation_data).items()})
        logs["seconds"] = seconds
        logs["examples_per_second"] = (progress.examples - examples_before) / seconds  # trained in this call
        self.history.append(logs)
        self._call("on_epoch_end", epoch, logs)


def _to_host(record: dict[str, Any]) -> dict[str, Any]:
    """A record of tensors as Python numbers (float32 -> float is exact)."""
    return tf.nest.map_structure(lambda tensor: tensor.numpy().item(), record)
