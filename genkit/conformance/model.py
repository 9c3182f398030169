"""Components checked inside a small assembled model: divergences, objectives and callbacks.

The model has MLP networks on 2-D points and a Gaussian likelihood, assembled by genkit's own
build with the plugin registered under a temporary name, in a context of 100 training examples.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from genkit.assembly.build import build
from genkit.conformance.base import (
    Failure,
    Subject,
    Tensors,
    Updates,
    as_tensors,
    assert_finite,
    assert_gradients,
    assert_graph_matches,
    assert_reached,
    assert_reports_finite,
    assert_same,
    assert_state_updates,
    assert_tensor,
    assert_weights_round_trip,
    attempt,
    has_own_method,
    registered,
    rng,
    seed,
    variable_path,
)
from genkit.conformance.components import small_context
from genkit.plugin.component import recording
from genkit.plugin.context import Context, Shape
from genkit.plugin.dataset import ArrayData
from genkit.plugin.instantiate import instantiate
from genkit.plugin.objective import Objective
from genkit.plugin.phase import Phase
from genkit.plugin.signature import context_arguments, to_plain
from genkit.spec.resolve import resolve
from genkit.spec.schema import TrainSpec
from genkit.training.trainer import Trainer

#: The small model's networks, likelihood and data: 2-D points.
_SMALL_MODEL: dict[str, Any] = {
    "data": {"type": "toy2d"},
    "encoder": {"type": "mlp", "hidden": [8]},
    "decoder": {"type": "mlp", "hidden": [8]},
    "likelihood": "gaussian",
}


def _entry(value: str | Mapping[str, Any]) -> dict[str, Any]:
    return {"type": value} if isinstance(value, str) else dict(value)


class ModelSubject(Subject):
    """A component checked in a small model whose spec is :meth:`model_spec` with the plugin as its
    ``kind`` component. Properties on the model: every phase is well formed, each phase's loss
    reaches each of its variables, the plugin's own computation and phases give the same numbers
    inside tf.function, the model's weights round trip, and state changes only through add_update."""

    def __init__(self, cls: type, args: Mapping[str, Any] | None, latent_dim: int, batch_size: int, classes: int,
                 labels: np.ndarray, context: Mapping[str, Any] | None, data_shape: Shape = (2,)):
        self.latent_dim, self.batch_size, self.classes, self.labels = latent_dim, batch_size, classes, labels
        self.data_shape = tuple(data_shape)
        super().__init__(cls, args, {**small_context((latent_dim,), batch_size=batch_size), **(context or {})})

    def model_spec(self, name: str) -> dict[str, Any]:
        """The small model's spec with the plugin registered as ``name``."""
        return {"latent_dim": self.latent_dim, **_SMALL_MODEL, self.kind: {"type": name, **to_plain(self.args)}}

    def build_model(self) -> Any:
        """A fresh small model with the plugin in it."""
        with registered(self.kind, self.cls) as name:
            spec = attempt("resolving the small model's spec", lambda: resolve(self.model_spec(name)))
            context = Context(spec.latent_shape, self.data_shape, self.classes if spec.conditional else 0, self.classes,
                              int(self.context["num_train_examples"]), self.batch_size, 1)
            return attempt("assembling a model with it (genkit.build)", lambda: build(spec, context=context))

    @cached_property
    def model(self) -> Any:
        """The model the read-only properties share."""
        return self.build_model()

    @property
    def component(self) -> Any:
        """The plugin's instance inside :attr:`model`."""
        return getattr(self.model, self.kind)

    @cached_property
    def batch(self) -> Tensors:
        """Examples of ``data_shape`` (2-D points by default) and integer labels (the condition of
        conditional models)."""
        return {**as_tensors(x=rng().normal(size=(self.batch_size, *self.data_shape))),
                "y": tf.constant(self.labels, tf.int64)}

    def run_phases(self, model: Any, batch: Tensors, training: bool, phases: list[Phase] | None = None) -> Tensors:
        """Each phase's loss (with what the components report), by phase name."""
        chosen = model.phases() if phases is None else phases
        return {f"phase '{phase.name}'": model.run_phase(phase, batch, seed(index), training)[0]["loss"]
                for index, phase in enumerate(chosen)}

    def own_outputs(self, model: Any, batch: Tensors) -> Tensors:
        """The plugin's own computation on a batch (compared inside and outside tf.function)."""
        raise NotImplementedError

    @cached_property
    def training_pass(self) -> list[tuple[Phase, Tensors, Updates, dict[str, Any]]]:
        """Every phase of the shared model run once as a training step runs it: the phase, its
        terms, the state updates asked for, and the gradient of its loss for each variable it
        trains (by label). Several properties read it; none changes the model."""
        phases = attempt("the model's phases", self.model.phases)
        names = [getattr(phase, "name", None) for phase in phases]
        if len(set(names)) != len(names) or not all(isinstance(phase, Phase) for phase in phases):
            raise Failure(f"phases should be genkit.Phase objects with distinct names, got {names}")
        results = []
        for index, phase in enumerate(phases):
            variables = phase.variables()
            with tf.GradientTape() as tape:
                terms, updates = attempt(f"the loss of phase '{phase.name}'", functools.partial(
                    self.model.run_phase, phase, self.batch, seed(index), True))
            labels = [f"variable '{variable_path(v)}' of phase '{phase.name}'" for v in variables]
            gradients = dict(zip(labels, tape.gradient(terms["loss"], variables), strict=True))
            results.append((phase, terms, updates, gradients))
        return results

    def phases_well_formed(self) -> None:
        """Phases have distinct names; each phase's terms are finite float32 scalars with ``loss``
        and it trains some variables; every trainable variable of the plugin is in some phase."""
        for phase, terms, _, gradients in self.training_pass:
            for key, value in terms.items():
                assert_tensor(f"the '{key}' term of phase '{phase.name}'", value, ())
                assert_finite(f"the '{key}' term of phase '{phase.name}'", value)
            if not gradients:
                raise Failure(f"phase '{phase.name}' trains no variables")
        trained = {id(v) for phase, *_ in self.training_pass for v in phase.variables()}
        untrained = [variable_path(v) for v in self.component.trainable_variables if id(v) not in trained]
        if untrained:
            raise Failure(f"its trainable variables {untrained} are in no phase, so they never train")

    def gradients(self) -> None:
        """Each phase's loss, finite, reaches every variable the phase trains."""
        for *_, gradients in self.training_pass:
            assert_reached(gradients)

    def _own_phases(self, model: Any, batch: Tensors) -> Tensors:
        """The losses of the plugin's own phases, evaluated."""
        return self.run_phases(model, batch, False, self.component.phases(model))

    def _traced(self, model: Any, batch: Tensors, training: bool) -> Tensors:
        """What tf_function compares: the plugin's own outputs and phases (always evaluated)."""
        return {**self.own_outputs(model, batch), **self._own_phases(model, batch)}

    @cached_property
    def eager_own_outputs(self) -> Tensors:
        """:meth:`own_outputs` of the shared model's batch, computed eagerly."""
        return attempt("its computation on a batch", lambda: self.own_outputs(self.model, self.batch))

    def tf_function(self) -> None:
        """Its own computation and its own phases give the same numbers inside tf.function, traced
        for any batch size, as eagerly."""
        phases = attempt("its phases", lambda: self._own_phases(self.model, self.batch))
        assert_graph_matches(self._traced, self.model, self.batch, {**self.eager_own_outputs, **phases})

    def weights_round_trip(self) -> None:
        """A model holding it, saved to .weights.h5 and loaded into a fresh model, gives the same phase
        losses (nothing to check when the plugin has no variables)."""
        if self.component.variables:
            assert_weights_round_trip(self.run_phases, self.model, self.build_model, self.batch)

    def state_updates(self) -> None:
        """State changes only through add_update, in training (genkit.conformance.base.assert_state_updates)."""
        model = self.model

        def updates(training: bool) -> Updates:
            if training:
                return [update for _, _, phase_updates, _ in self.training_pass for update in phase_updates]
            return [update for index, phase in enumerate(model.phases())
                    for update in model.run_phase(phase, self.batch, seed(index), False)[1]]

        assert_state_updates(model, updates)


class DivergenceSubject(ModelSubject):
    """Check a divergence, alone and inside a small model.

    Alone: ``per_example(q, prior, z, seed)`` for a batch of ``posterior`` heads and the
    registered ``prior`` is a finite ``[batch]`` tensor, reproducible for a seed, with finite
    reported metrics; ``weight(step)`` is a finite scalar; a divergence that needs no prior
    accepts ``prior=None``. A divergence that needs a prior regularises the encoder: through
    ``per_example`` (differentiable with respect to q's parameters) unless one of its own phases
    trains the encoder (as the adversarial one does). In a model: the properties of
    :class:`ModelSubject`. The divergence may ask for any context value (``num_train_examples`` is 100).
    """

    kind = "divergence"
    properties = ("shapes", "finite", "seeded", "without_prior", "regularises_encoder", "phases_well_formed",
                  "gradients", "tf_function", "weights_round_trip", "state_updates")

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, latent_dim: int = 3, batch_size: int = 8,
                 prior: str | Mapping[str, Any] | None = "standard_normal",
                 posterior: str | Mapping[str, Any] = "diagonal_gaussian", context: Mapping[str, Any] | None = None):
        self.prior, self.posterior = prior, posterior
        super().__init__(cls, args, latent_dim, batch_size, 0, np.zeros(batch_size, np.int64), context)
        self.requires_prior = bool(getattr(cls, "requires_prior", True))

    def applies(self, prop: str) -> bool:
        if prop == "without_prior":
            return not self.requires_prior
        return prop != "regularises_encoder" or self.requires_prior

    def model_spec(self, name: str) -> dict[str, Any]:
        return {**super().model_spec(name), "posterior": self.posterior, "prior": self.prior}

    @cached_property
    def head(self) -> Any:
        return instantiate("posterior", _entry(self.posterior), "posterior", self.context)

    @cached_property
    def prior_distribution(self) -> Any:
        return None if self.prior is None else instantiate("prior", _entry(self.prior), "prior",
                                                           self.context).distribution()

    @cached_property
    def instance(self) -> Any:
        return self.make()

    @cached_property
    def params(self) -> Tensors:
        return as_tensors(params=rng().normal(size=(self.batch_size, *self.head.param_shape)))

    def per_example(self, divergence: Any, inputs: Tensors, with_prior: bool = True) -> tf.Tensor:
        q = self.head.distribution(inputs["params"])
        prior = self.prior_distribution if with_prior else None
        return divergence.per_example(q, prior, q.sample(seed=seed(1)), seed(2))

    @cached_property
    def alone(self) -> tuple[Tensors, Tensors]:
        """per_example and weight(step) of the divergence alone, and what it reported."""
        with recording(training=False) as record:
            values = attempt("per_example(q, prior, z, seed)", lambda: self.per_example(self.instance, self.params))
            weights = {f"weight({step})": attempt(f"weight({step})", functools.partial(
                self.instance.weight, tf.constant(step, tf.int64))) for step in (0, 10_000)}
        return {"per_example": values, **weights}, record.totals()

    def shapes(self) -> None:
        """per_example is float32 ``[batch]``; weight(step) a float scalar."""
        outputs, _ = self.alone
        assert_tensor("per_example", outputs["per_example"], (self.batch_size,))
        for step in (0, 10_000):  # beta, warm-ups: any float scalar
            weight = tf.convert_to_tensor(outputs[f"weight({step})"])
            if weight.shape.rank != 0 or not weight.dtype.is_floating:
                raise Failure(f"weight({step}) should be a float scalar, got {weight.dtype.name} {tuple(weight.shape)}")

    def finite(self) -> None:
        """per_example, the weights and the reported metrics are finite."""
        outputs, reported = self.alone
        for key, value in outputs.items():
            assert_finite(key, value)
        assert_reports_finite(reported)

    def seeded(self) -> None:
        """per_example repeats for a seed."""
        assert_same("between two calls with the same seed", {"per_example": self.alone[0]["per_example"]},
                    {"per_example": self.per_example(self.instance, self.params)})

    def without_prior(self) -> None:
        """A divergence that needs no prior gives finite ``[batch]`` values without one."""
        values = attempt("per_example without a prior", lambda: self.per_example(self.instance, self.params, False))
        assert_tensor("per_example without a prior", values, (self.batch_size,))
        assert_finite("per_example without a prior", values)

    def regularises_encoder(self) -> None:
        """Its gradient reaches q's parameters, unless a phase of its own trains the encoder."""
        encoder = {id(v) for v in self.model.encoder.trainable_variables}
        if any(id(v) in encoder for phase in self.component.phases(self.model) for v in phase.variables()):
            return
        assert_gradients(lambda: tf.reduce_sum(self.per_example(self.instance, self.params)),
                         {"q's parameters (the encoder output) through per_example, and no phase of its own trains "
                          "the encoder": self.params["params"]})

    def own_outputs(self, model: Any, batch: Tensors) -> Tensors:
        q = model.posterior_distribution(batch["x"])
        prior = None if model.prior is None else model.prior_distribution()
        return {"per_example": model.divergence.per_example(q, prior, q.sample(seed=seed(1)), seed(2))}


class ObjectiveSubject(ModelSubject):
    """Check an objective in a small model (a diagonal Gaussian VAE on 2-D points; ``spec``
    replaces or adds spec entries, e.g. ``{"conditional": True}`` or the posterior, prior and
    divergence the objective works with; ``data_shape`` is the examples' shape, 2-D points unless
    the objective needs images, e.g. ``(8, 8)``). The batch has integer ``labels`` (default: every
    example labelled, ``classes`` classes), the condition of conditional models.

    ``loss_terms(model, batch, seed, training)`` returns finite float32 scalars including
    ``"loss"``, in training and evaluation, the same for the same seed; phases are well formed and
    each phase's loss reaches its variables (the main phase's: the model's and the objective's
    own); ``class_logits`` is ``[batch, classes]`` when it has a classifier; ``variational_terms``
    gives two finite ``[samples, batch]`` tensors, the same for the same seed, when it has its own
    variational distribution; its loss and its phases give the same numbers inside tf.function;
    the weights round trip; state changes only through add_update; and its spec arguments are
    validated.
    """

    kind = "objective"
    properties = ("loss_terms", "seeded", "phases_well_formed", "gradients", "class_logits", "variational_terms",
                  "tf_function", "weights_round_trip", "state_updates")

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, latent_dim: int = 3, batch_size: int = 8,
                 classes: int = 3, labels: np.ndarray | None = None, spec: Mapping[str, Any] | None = None,
                 context: Mapping[str, Any] | None = None, data_shape: Shape = (2,)):
        self.overrides = dict(spec or {})
        labels = np.arange(batch_size) % classes if labels is None else np.asarray(labels)
        super().__init__(cls, args, latent_dim, batch_size, classes, labels, context, data_shape)

    def applies(self, prop: str) -> bool:
        if prop in ("class_logits", "variational_terms"):
            return has_own_method(self.cls, Objective, prop)
        return True

    def model_spec(self, name: str) -> dict[str, Any]:
        return {**super().model_spec(name), **self.overrides}

    def own_outputs(self, model: Any, batch: Tensors) -> Tensors:
        """loss_terms in evaluation."""
        return dict(model.objective.loss_terms(model, batch, seed(1), False))

    def loss_terms(self) -> None:
        """loss_terms returns a dict of finite float32 scalars with ``loss``, in training and evaluation."""
        with recording(training=True) as record:
            training = attempt("loss_terms(model, batch, seed, training=True)", lambda: self.component.loss_terms(
                self.model, self.batch, seed(1), True))
        assert_reports_finite(record.totals())
        for mode, terms in (("training", training), ("evaluation", self.eager_own_outputs)):
            if not isinstance(terms, dict) or "loss" not in terms:
                raise Failure(f"loss_terms should return a dict with 'loss' ({mode}), got {terms!r}")
            for key, value in terms.items():
                assert_tensor(f"the loss term '{key}' ({mode})", value, ())
                assert_finite(f"the loss term '{key}' ({mode})", value)

    def seeded(self) -> None:
        """loss_terms repeats for a seed."""
        assert_same("between two calls of loss_terms with the same seed", self.eager_own_outputs,
                    self.own_outputs(self.model, self.batch))

    def class_logits(self) -> None:
        """class_logits is finite float32 ``[batch, classes]`` (classes >= 2), in both modes."""
        for training in (False, True):
            logits = attempt(f"class_logits(model, x, training={training})",
                             functools.partial(self.component.class_logits, self.model, self.batch["x"], training))
            assert_tensor("class_logits", logits)
            if logits.shape.rank != 2 or logits.shape[0] != self.batch_size or logits.shape[1] < 2:
                raise Failure(f"class_logits should have shape [{self.batch_size}, classes >= 2], got {logits.shape}")
            assert_finite("class_logits", logits)

    def variational_terms(self) -> None:
        """variational_terms gives log p(x|z) and the rest of each log weight, finite float32
        ``[samples, batch]`` each, the same for the same seed."""

        def terms() -> Any:
            return self.component.variational_terms(self.model, tf.convert_to_tensor(self.batch["x"], tf.float32),
                                                    self.model.condition_of(self.batch.get("y")), seed(3), 3)

        pair = attempt("variational_terms(model, x, condition, seed, samples=3)", terms)
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise Failure(f"variational_terms should return a pair (log p(x|z), the rest), got {pair!r}")
        for name, value in zip(("log p(x|z)", "the rest of the log weight"), pair, strict=True):
            assert_tensor(f"variational_terms' {name}", value, (3, self.batch_size))
            assert_finite(f"variational_terms' {name}", value)
        assert_same("between two calls of variational_terms with the same seed", dict(zip("ab", pair, strict=True)),
                    dict(zip("ab", terms(), strict=True)))


@functools.cache
def _trained_model() -> Any:
    """The small model a callback's trainer trains (one for every callback check: the callback
    does not change it)."""
    return build({"latent_dim": 2, **_SMALL_MODEL}, context=Context((2,), (2,), batch_size=10, epochs=2))


class CallbackSubject(Subject):
    """Check a callback: built as a spec's ``train.callbacks`` entry builds it (with ``run_dir`` if it
    asks for it), every hook accepts what the trainer passes (a real trainer of a small model, two
    epochs of logs with the model's own metric names, ``val_`` ones included) and leaves
    ``stop_training`` a bool; what it writes goes under ``run_dir``, not the working directory;
    and its spec arguments are validated.
    """

    kind = "callback"
    properties = ("hooks", "writes_inside_run_dir")

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, context: Mapping[str, Any] | None = None):
        super().__init__(cls, args, context)

    def applies(self, prop: str) -> bool:
        return prop != "writes_inside_run_dir" or "run_dir" in context_arguments(self.cls)

    @property
    def spec_key(self) -> str:
        return "train.callbacks.0"

    def spec_with(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {"latent_dim": 2, "data": {"type": "toy2d"}, "train": {"callbacks": [entry]}}

    @property
    def model(self) -> Any:
        return _trained_model()

    def logs(self, epoch: int) -> dict[str, float]:
        """What the trainer passes to on_epoch_end: the model's terms, their validation values, timing."""
        terms = {key: 1.0 / epoch for _, keys in self.model.phase_term_keys for key in keys}
        return {"epoch": epoch, "step": 2 * epoch, **terms, **{f"val_{k}": v for k, v in terms.items()},
                "seconds": 0.5, "examples_per_second": 40.0}

    @cached_property
    def session(self) -> list[str]:
        """Every hook called as two epochs of training call them; returns what appeared in the working directory."""
        generator = rng()
        train = ArrayData(generator.normal(size=(20, 2)).astype(np.float32))
        validation = ArrayData(generator.normal(size=(10, 2)).astype(np.float32))
        with tempfile.TemporaryDirectory() as folder:
            run_dir, cwd = Path(folder, "run"), Path(folder, "cwd")
            run_dir.mkdir()
            cwd.mkdir()
            with contextlib.chdir(cwd):
                callback = self.make(run_dir=run_dir)
                trainer = Trainer(self.model, TrainSpec(epochs=2, batch_size=10), train, validation, [callback])
                attempt("on_train_begin(trainer)", lambda: callback.on_train_begin(trainer))
                history = []
                for epoch in (1, 2):
                    attempt(f"on_epoch_begin({epoch})", functools.partial(callback.on_epoch_begin, epoch))
                    for step, loss in ((2 * epoch - 1, None), (2 * epoch, 1.0 / epoch)):
                        attempt(f"on_step_end({step}, {loss})", functools.partial(callback.on_step_end, step, loss))
                    history.append(self.logs(epoch))
                    attempt(f"on_epoch_end({epoch}, logs)",
                            functools.partial(callback.on_epoch_end, epoch, history[-1]))
                    if not isinstance(trainer.stop_training, bool):
                        raise Failure(f"stop_training should stay a bool, got {trainer.stop_training!r}")
                attempt("on_train_end(history)", lambda: callback.on_train_end(history))
                return sorted(os.listdir(cwd))

    def hooks(self) -> None:
        """on_train_begin, on_epoch_begin, on_step_end, on_epoch_end and on_train_end accept the trainer's arguments."""
        _ = self.session

    def writes_inside_run_dir(self) -> None:
        """A callback that takes run_dir writes nothing into the working directory."""
        written = self.session
        if written:
            raise Failure(f"it wrote {written} into the working directory; write under run_dir")
