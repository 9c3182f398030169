"""One training step of every phase on this replica's batch: gradients, a NaN guard, updates.

Shared by genkit's trainer and by ``model.fit`` (Keras' own loop), so both train the same way.
Each phase's loss is computed with :meth:`AutoencoderCore.run_phase` (so the components' reported
loss terms count), its gradient taken over the phase's variables, and the update applied only
when its loss terms and gradients are finite on every replica (``tf.cond``): a bad batch never
reaches the weights, the optimizer state or the components' state. The components' state updates
(``add_update``) are applied with the gradient update, under the same condition; across replicas
each replica's value is weighted by its share of the global batch, so an update computed from
batch means is the one a single device computes. With float16 loss
scaling, overflowing gradients are the loss scale optimizer's business (it skips the step and
lowers the scale), so only the loss terms are guarded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from genkit.assembly import replica
from genkit.assembly.core import AutoencoderCore, split_seed
from genkit.plugin.phase import Phase
from genkit.plugin.surface import Batch

Tensors = dict[str, tf.Tensor]


def all_finite(tensors: Sequence[Any]) -> tf.Tensor:
    """One boolean: every value of every tensor (or IndexedSlices) is finite.

    Checked through the sum of all values, one reduction per tensor and no boolean copy of the
    gradients: a NaN or infinity anywhere makes the sum non-finite. (A sum of finite values can
    overflow float32 only with gradients beyond 1e38 / size, which are treated as bad too.)
    """
    sums = [tf.reduce_sum(tf.cast(getattr(t, "values", t), tf.float32)) for t in tensors]
    return tf.math.is_finite(tf.add_n(sums)) if sums else tf.constant(True)


@dataclass
class StepResult:
    """What one step of every phase gives on one replica."""

    #: Batch means of every phase's terms; phases after the first are prefixed with their name.
    means: Tensors
    #: This replica's example count (float32).
    examples: tf.Tensor
    #: ``_skipped`` (some phase's update was left out) and ``_gradients_finite_<phase>`` flags.
    flags: Tensors
    #: (phase name, its keys in ``means``) in order, to name the term that went bad.
    term_keys: list[tuple[str, list[str]]]


class PhaseStep:
    """Every phase of ``model`` with its optimizer, once per call, on the batch of this replica.

    ``halted`` (a boolean variable, or None) makes the guard permanent once a step went bad: with
    ``on_nan: stop`` nothing is updated after the bad step, whatever follows it in the same call.
    """

    def __init__(self, model: AutoencoderCore, phases: list[Phase], optimizers: list[Any],
                 halted: tf.Variable | None = None):
        self.model, self.phases, self.optimizers, self.halted = model, phases, optimizers, halted

    def __call__(self, batch: Batch, seed: tf.Tensor) -> StepResult:
        examples = tf.shape(batch["x"])[0]
        share = replica.global_share(examples)
        seeds = split_seed(replica.replica_seed(seed), len(self.phases))
        means: Tensors = {}
        flags: Tensors = {}
        skipped = tf.constant(False)
        term_keys = []
        for index, (phase, optimizer) in enumerate(zip(self.phases, self.optimizers, strict=True)):
            variables = phase.variables()
            with tf.GradientTape() as tape:
                terms, updates = self.model.run_phase(phase, batch, seeds[index], training=True)
                # the mean over the global batch: the replicas' gradients are summed
                loss = optimizer.scale_loss(tf.math.multiply_no_nan(terms["loss"], share))
            gradients = tape.gradient(loss, variables)
            pairs = [(g, v) for g, v in zip(gradients, variables, strict=True) if g is not None]
            gradients_finite = replica.on_every_replica(all_finite([g for g, _ in pairs]))
            # a replica's share is 0 when it got no example: its NaN means of nothing do not count
            terms_finite = replica.on_every_replica(
                all_finite([tf.math.multiply_no_nan(tf.cast(t, tf.float32), share) for t in terms.values()])
            )
            scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
            finite = terms_finite if scaled else terms_finite & gradients_finite
            combined = [(variable, replica.weighted_over_replicas(value, share)) for variable, value in updates]
            skipped |= self._apply_if_finite(optimizer, pairs, combined, finite)
            prefix = "" if index == 0 else f"{phase.name}_"
            means.update({prefix + key: tf.cast(value, tf.float32) for key, value in terms.items()})
            flags[f"_gradients_finite_{phase.name}"] = gradients_finite
            term_keys.append((phase.name, [prefix + key for key in terms]))
        flags["_skipped"] = skipped
        return StepResult(means, tf.cast(examples, tf.float32), flags, term_keys)

    def _apply_if_finite(self, optimizer: Any, pairs: list, updates: list, finite: tf.Tensor) -> tf.Tensor:
        """Apply one phase's gradient and state updates only if ``finite`` (and not halted).

        ``finite`` is the same on every replica. A strategy that synchronises updates through
        ``merge_call`` cannot have it inside a ``tf.cond`` in replica context, so there the
        condition is taken in cross-replica context and the update runs per replica inside it (the
        pattern of Keras' ``LossScaleOptimizer``). Returns whether the update was left out.
        """
        apply = finite if self.halted is None else finite & tf.logical_not(self.halted)

        def update(grads_and_vars: list, assignments: list) -> None:
            optimizer.apply_gradients(grads_and_vars)
            for variable, value in assignments:
                variable.assign(value)

        if tf.__internal__.distribute.strategy_supports_no_merge_call():
            tf.cond(apply, lambda: update(pairs, updates), lambda: None)
        else:

            def across_replicas(distribution: tf.distribute.Strategy, apply: Any, pairs: list,
                                updates: list) -> None:
                flag = distribution.experimental_local_results(apply)[0]
                tf.cond(flag, lambda: distribution.extended.call_for_each_replica(update, args=(pairs, updates)),
                        lambda: None)

            tf.distribute.get_replica_context().merge_call(across_replicas, args=(apply, pairs, updates))
        if self.halted is not None:
            self.halted.assign(self.halted | tf.logical_not(finite))
        return tf.logical_not(apply)
