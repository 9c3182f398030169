"""What every component can do beyond its kind's contract: report metrics, add loss terms, update
state outside the gradient step.

While the model computes one phase's loss it opens a :func:`recording`; any component called
inside it may, from its ordinary methods (``distribution``, ``per_example``, ``call`` ...):

- ``self.log_metric("tc", value)``: a named metric of the step. It reaches metrics.csv,
  TensorBoard and the progress line like the built-in terms, and does not change the loss;
- ``self.add_loss_term("commitment", value)``: a scalar added to the loss of the phase it was
  computed in, reported under its name;
- ``self.add_update(variable, value)``: ``variable.assign(value)`` after the phase's gradient step,
  applied only when that step is (the NaN guard skips both together) and never at evaluation.
  Such variables are state, not weights: create them with :meth:`Reporting.add_state`, so they are
  non-trainable and saved in checkpoints. Compute the new value from batch means (averages over
  the batch's examples), not sums: under ``train.distribute`` each replica computes it from its
  slice of the batch and genkit combines the replicas weighted by their share of the batch, which
  gives exactly the single-device value for batch means.

Outside a recording (``model.encode`` and the rest of the numpy API) the three calls do nothing,
so a component needs no flag to tell training from inference. Values are scalars (a tensor of any
shape is averaged). Within one phase a component called more than once (a loss evaluated twice)
adds its loss terms up and averages its metric values.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from genkit.errors import GenkitError


@dataclass
class StepRecord:
    """What the components reported during one phase's loss computation."""

    #: Whether updates are collected (training) or dropped (evaluation).
    training: bool
    loss_terms: dict[str, list[tf.Tensor]] = field(default_factory=dict)
    metrics: dict[str, list[tf.Tensor]] = field(default_factory=dict)
    updates: list[tuple[Any, tf.Tensor]] = field(default_factory=list)
    #: name -> who reported it first, so two components cannot silently share a name.
    owners: dict[str, str] = field(default_factory=dict)

    def claim(self, name: str, owner: str) -> None:
        """Record that ``owner`` reports ``name``; a second reporter of the same name is an error."""
        first = self.owners.setdefault(name, owner)
        if first != owner:
            raise GenkitError(f"the metric or loss term '{name}' is reported by both {first} and {owner}; "
                              "rename one of them")

    def totals(self) -> dict[str, tf.Tensor]:
        """Each loss term summed over its reports and each metric averaged over its reports."""
        summed = {name: tf.add_n(values) for name, values in self.loss_terms.items()}
        averaged = {name: tf.add_n(values) / float(len(values)) for name, values in self.metrics.items()}
        return {**summed, **averaged}


_ACTIVE: contextvars.ContextVar[StepRecord | None] = contextvars.ContextVar("genkit_step_record", default=None)


@contextmanager
def recording(training: bool) -> Iterator[StepRecord]:
    """Collect what components report inside the block (one phase's loss computation)."""
    record = StepRecord(training)
    token = _ACTIVE.set(record)
    try:
        yield record
    finally:
        _ACTIVE.reset(token)


def _scalar(value: Any) -> tf.Tensor:
    return tf.reduce_mean(tf.cast(value, tf.float32))


class Reporting:
    """Mixed into every contract base class: metrics, loss terms and state updates (module docstring)."""

    def _reporter(self) -> str:
        return f"{type(self).__name__} ({type(self).__module__})"

    def log_metric(self, name: str, value: Any) -> None:
        """Report a named metric of this step (averaged if reported several times in a phase)."""
        record = _ACTIVE.get()
        if record is not None:
            record.claim(name, self._reporter())
            record.metrics.setdefault(name, []).append(_scalar(value))

    def add_loss_term(self, name: str, value: Any) -> None:
        """Add ``value`` to the loss of the phase being computed, reported as metric ``name``."""
        record = _ACTIVE.get()
        if record is not None:
            record.claim(name, self._reporter())
            record.loss_terms.setdefault(name, []).append(_scalar(value))

    def add_update(self, variable: Any, value: Any) -> None:
        """Assign ``value`` to ``variable`` after this training step's gradient update (not at evaluation)."""
        record = _ACTIVE.get()
        if record is not None and record.training:
            if getattr(variable, "trainable", False):
                raise GenkitError(f"{self._reporter()} updates the trainable variable {variable.path} with "
                                  "add_update; updated state must be non-trainable (create it with add_state)")
            record.updates.append((variable, tf.cast(value, variable.dtype)))

    def add_state(self, name: str, shape: tuple[int, ...], initializer: Any = "zeros", dtype: str = "float32") -> Any:
        """A non-trainable variable for :meth:`add_update`: saved with the weights and in checkpoints,
        combined across replicas under ``train.distribute`` (see the module docstring). Only for
        components that are Keras layers."""
        add_weight = getattr(self, "add_weight", None)
        if add_weight is None:
            raise GenkitError(f"{self._reporter()} is not a Keras layer, so it cannot hold state")
        return add_weight(name=name, shape=shape, initializer=initializer, dtype=dtype, trainable=False,
                          aggregation="mean")


#: Keras layer methods a plugin may override; every other public Keras name is Keras' own.
KERAS_OVERRIDABLE = frozenset({"build", "call", "compute_output_shape", "compute_output_spec", "get_config",
                               "from_config", "compute_mask", "build_from_config", "get_build_config"})


def shadowed_keras_names(cls: type) -> list[str]:
    """Names a plugin class defines that are Keras layer attributes Keras itself calls or reads
    (``quantize``, ``metrics``, ``losses``, ``variables`` ...): overriding them breaks Keras in ways
    whose error messages never name the plugin."""
    import keras

    reserved = {name for name in dir(keras.layers.Layer) if not name.startswith("_")} - KERAS_OVERRIDABLE
    defined: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("genkit."):  # the plugin's own classes end at genkit's base
            break
        defined.update(vars(klass))
    return sorted(defined & reserved)
