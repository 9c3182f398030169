"""A genkit model is a Keras model to downstream code: ``compile`` + ``fit`` + ``evaluate`` train it with
its own loss and phases, and Keras callbacks work.

``model.compile()`` (no optimizer) trains every phase with its spec optimizer (``train.optimizer``
for the main phase, a divergence's or objective's own for theirs); ``model.compile(optimizer=...)``
gives the main phase that optimizer and each other phase its own spec optimizer, or a fresh copy of
the given one. ``fit`` runs Keras' own loop over :class:`~genkit.assembly.learning.PhaseStep`, the
same guarded step genkit's trainer runs (a step with a non-finite loss or gradient is skipped);
``evaluate`` reports every phase's terms at inference. ``x`` may be an array of examples, ``(x, y)``
with labels or condition vectors, or a dict with ``"x"`` (and ``"y"``); uint8 data are scaled to
[0, 1] as genkit's datasets are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import tensorflow as tf

from genkit.assembly import precision
from genkit.assembly.core import AutoencoderCore
from genkit.assembly.learning import PhaseStep
from genkit.plugin.optimizers import make_optimizer
from genkit.plugin.surface import Batch

#: The optimizer of a model built without a spec's ``train.optimizer``.
DEFAULT_OPTIMIZER: dict[str, Any] = {"type": "adam", "learning_rate": 1e-3}


@dataclass
class _FitState:
    """What ``compile`` prepares for ``fit`` (kept outside Keras' attribute tracking)."""

    step: PhaseStep
    trackers: dict[str, keras.metrics.Mean] = field(default_factory=dict)


def _prefixed(phase_index: int, phase_name: str, key: str) -> str:
    return key if phase_index == 0 else f"{phase_name}_{key}"


class KerasTrainable(AutoencoderCore):
    """The training core plus Keras' ``compile`` / ``fit`` / ``evaluate`` contract (module docstring)."""

    def __init__(self, *, default_optimizer: dict[str, Any] | None = None, **components: Any):
        super().__init__(**components)
        #: The main phase's optimizer spec for ``compile()`` without one (the spec's, with clipping).
        self.default_optimizer = dict(default_optimizer or DEFAULT_OPTIMIZER)
        self._fit: _FitState | None = None

    def compile(self, optimizer: Any = None, **kwargs: Any) -> None:
        """Prepare ``fit``: the main phase trains with ``optimizer`` (default: the spec's), every other
        phase with its own spec optimizer or a fresh copy of ``optimizer``. Other keyword arguments go
        to ``keras.Model.compile`` (``steps_per_execution``, ``jit_compile`` (default False) ...)."""
        phases = self.phases()
        main = make_optimizer(self.default_optimizer) if optimizer is None else keras.optimizers.get(optimizer)
        # the spec's clipping applies to every phase, as in genkit's trainer
        clipping: dict[str, Any] = {key: self.default_optimizer[key] for key in ("global_clipnorm", "clipvalue")
                    if key in self.default_optimizer}
        others = [make_optimizer({**clipping, **phase.optimizer}) if phase.optimizer
                  else type(main).from_config(main.get_config()) for phase in phases[1:]]
        optimizers = [self._loss_scaled(o) for o in (main, *others)]
        kwargs.setdefault("jit_compile", False)
        super().compile(optimizer=optimizers[0], **kwargs)
        for phase, phase_optimizer in zip(phases, optimizers, strict=True):
            phase_optimizer.build(phase.variables())
        names = [_prefixed(index, name, key) for index, (name, keys) in enumerate(self.phase_term_keys)
                 for key in keys]
        self._fit = _FitState(PhaseStep(self, phases, optimizers),
                              {name: keras.metrics.Mean(name=name) for name in names})

    def _loss_scaled(self, optimizer: Any) -> Any:
        """The optimizer with dynamic loss scaling when the networks compute in float16."""
        policy = getattr(self.encoder, "dtype_policy", None)
        mode = "float16" if getattr(policy, "name", "") == "mixed_float16" else "none"
        return precision.wrap_optimizer(optimizer, mode)

    @property
    def metrics(self) -> list[Any]:
        """The running means ``fit`` and ``evaluate`` report (reset by Keras every epoch)."""
        return list(self._fit.trackers.values()) if self._fit is not None else super().metrics

    @staticmethod
    def _batch(data: Any) -> Batch:
        """One batch as genkit's phases take it, from any form Keras hands over: ``fit(x, y)`` and a
        dataset of ``(x, y)`` pairs arrive as x and y, ``fit((x, y))`` as a pair in place of x."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, tuple | list) and y is None:  # a model has one input: a pair is examples and labels
            x, y = x
        if isinstance(x, dict):
            x, y = x["x"], x.get("y", y)
        x = tf.convert_to_tensor(x)
        x = tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)
        return {"x": x} if y is None else {"x": x, "y": tf.convert_to_tensor(y)}

    def _report(self, means: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        assert self._fit is not None
        for name, value in means.items():
            if name in self._fit.trackers:
                self._fit.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self._fit.trackers.items()}

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        """One guarded step of every phase (Keras' ``fit`` calls it per batch)."""
        if self._fit is None:
            raise RuntimeError("call model.compile() before model.fit()")
        result = self._fit.step(self._batch(data), self.next_seed())
        self.step_counter.assign_add(1)
        return self._report(result.means)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        """Every phase's terms at inference, with a fixed seed (Keras' ``evaluate`` calls it per batch)."""
        if self._fit is None:
            raise RuntimeError("call model.compile() before model.evaluate()")
        batch, seed = self._batch(data), tf.constant([self.seed + 1, 0], tf.int32)
        means: dict[str, tf.Tensor] = {}
        for index, phase in enumerate(self._fit.step.phases):
            terms, _ = self.run_phase(phase, batch, seed, training=False)
            means.update({_prefixed(index, phase.name, key): value for key, value in terms.items()})
        return self._report(means)
