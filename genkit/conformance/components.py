"""Components checked alone, on a small batch: networks, heads, priors, corruptions and samplers."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from genkit.conformance.base import (
    Failure,
    Subject,
    Tensors,
    as_tensors,
    assert_differ,
    assert_distribution,
    assert_finite,
    assert_gradients,
    assert_graph_matches,
    assert_reports_finite,
    assert_same,
    assert_seeded,
    assert_state_updates,
    assert_tensor,
    assert_weights_round_trip,
    attempt,
    graph_function,
    grid_values,
    recorded_updates,
    restored,
    rng,
    seed,
    variables_of,
)
from genkit.plugin.component import recording
from genkit.plugin.context import Context, Shape
from genkit.plugin.signature import context_arguments

#: The grid of codes posteriors and priors that take ``latent_shape`` are also checked with.
GRID: Shape = (2, 2, 3)


def small_context(latent_shape: Shape = (3,), data_shape: Shape = (2,), condition_dim: int = 0,
                  batch_size: int = 8) -> dict[str, Any]:
    """Every context name with the small values of a check (100 training examples, one epoch)."""
    return Context(tuple(latent_shape), tuple(data_shape), condition_dim, num_train_examples=100,
                   batch_size=batch_size, epochs=1).arguments()


class ComponentSubject(Subject):
    """A component checked alone: ``compute(component, inputs, training)`` gives the outputs the
    properties inspect, for the subject's ``inputs``; ``loss`` is what gradients flow from."""

    #: Output keys whose entries may be -inf (log-densities outside the support).
    minus_infinity_ok: ClassVar[frozenset[str]] = frozenset({"log_prob_elsewhere"})

    def compute(self, component: Any, inputs: Tensors, training: bool) -> Tensors:
        raise NotImplementedError

    @cached_property
    def inputs(self) -> Tensors:
        raise NotImplementedError

    @cached_property
    def instance(self) -> Any:
        """The instance the read-only properties share."""
        return self.make()

    @property
    def built(self) -> Any:
        """:attr:`instance` with its variables created (computing its outputs once creates them)."""
        _ = self.eager
        return self.instance

    @cached_property
    def eager(self) -> tuple[Tensors, Tensors]:
        """The outputs of :attr:`instance` in inference mode, and the metrics and loss terms it reported."""
        with recording(training=False) as record:
            outputs = attempt("computing its outputs", lambda: self.compute(self.instance, self.inputs, False))
        return outputs, record.totals()

    def finite(self) -> None:
        """No NaN or infinity in the outputs (-inf only in a log-density outside the support), nor in
        the metrics and loss terms it reports."""
        outputs, reported = self.eager
        for key, value in outputs.items():
            assert_finite(key, value, minus_infinity_ok=key in self.minus_infinity_ok)
        assert_reports_finite(reported)

    def tf_function(self) -> None:
        """The same numbers inside tf.function as genkit's training compiles it (no AutoGraph), traced
        with an unknown batch size, as eagerly."""
        assert_graph_matches(self.compute, self.instance, self.inputs, self.eager[0])

    def weights_round_trip(self) -> None:
        """Saved to a Keras .weights.h5 file and loaded into a fresh instance, it gives the same outputs."""
        assert_weights_round_trip(self.compute, self.built, self.make_built, self.inputs)

    def make_built(self) -> Any:
        """A fresh instance with its variables created (computing once creates those not created
        by the constructor)."""
        component = self.make()
        if len(component.variables) != len(self.built.variables):
            self.compute(component, self.inputs, False)
        return component

    def state_updates(self) -> None:
        """Its non-trainable state changes only through add_update, in training (see assert_state_updates)."""
        component = self.built
        assert_state_updates(component, lambda training: recorded_updates(
            lambda: self.compute(component, self.inputs, training), training))

    def loss(self, component: Any, inputs: Tensors) -> tf.Tensor:
        """A scalar of the training-mode outputs that depends on everything that should train."""
        raise NotImplementedError

    def input_sources(self) -> dict[str, tf.Tensor]:
        """Inputs (by label) a gradient of :meth:`loss` must reach, besides the trainable variables."""
        return {}

    def gradients(self) -> None:
        """A finite gradient of the loss reaches every trainable variable (and the inputs that must be
        differentiable)."""
        component = self.built
        with restored(component.variables):  # training mode may move batch-norm statistics
            assert_gradients(lambda: self.loss(component, self.inputs),
                             {**self.input_sources(), **variables_of(component)})


# --- networks -----------------------------------------------------------------------------------


class NetworkSubject(ComponentSubject):
    """Shared by encoders and decoders: ``first`` is the input key (x or z)."""

    first: ClassVar[str]
    properties = ("shapes", "finite", "examples_independent", "uses_condition", "gradients", "tf_function",
                  "weights_round_trip", "state_updates")

    def __init__(self, cls: type, args: Mapping[str, Any] | None, input_shape: Shape, output_shape: Shape,
                 condition_dim: int, batch_size: int, context: dict[str, Any]):
        self.input_shape, self.output_shape = tuple(input_shape), tuple(output_shape)
        self.condition_dim, self.batch_size = condition_dim, batch_size
        super().__init__(cls, args, context)

    def applies(self, prop: str) -> bool:
        return prop != "uses_condition" or self.condition_dim > 0

    @cached_property
    def inputs(self) -> Tensors:
        generator = rng()
        arrays = {self.first: generator.uniform(size=(self.batch_size, *self.input_shape))}
        if self.condition_dim:
            arrays["condition"] = generator.normal(size=(self.batch_size, self.condition_dim))
        return as_tensors(**arrays)

    def compute(self, network: Any, inputs: Tensors, training: bool) -> Tensors:
        return {"output": network(inputs[self.first], condition=inputs.get("condition"), training=training)}

    def shapes(self) -> None:
        """``[batch, *output_shape]`` float32 outputs, in inference and in training mode."""
        expected = (self.batch_size, *self.output_shape)
        assert_tensor("the output", self.eager[0]["output"], expected)
        with restored(self.instance.variables):  # training mode may move batch-norm statistics
            training = self.compute(self.instance, self.inputs, True)["output"]
        assert_tensor("the output in training mode", training, expected)

    def examples_independent(self) -> None:
        """In inference mode an example's output does not depend on the rest of its batch."""
        single = self.compute(self.instance, {key: value[:1] for key, value in self.inputs.items()}, False)
        assert_same("for the first example alone from within a batch (inference mode)",
                    {"output": self.eager[0]["output"][:1]}, single)

    def uses_condition(self) -> None:
        """Another condition gives another output."""
        shifted = self.compute(self.instance, {**self.inputs, "condition": self.inputs["condition"] + 1.0}, False)
        assert_differ("the output ignores the condition", self.eager[0]["output"], shifted["output"])

    def loss(self, component: Any, inputs: Tensors) -> tf.Tensor:
        return tf.reduce_sum(self.compute(component, inputs, True)["output"] ** 2)


class EncoderSubject(NetworkSubject):
    """Check an encoder: ``[batch, *data_shape]`` (and a ``[batch, condition_dim]`` condition) ->
    ``[batch, output_size]``; the condition changes the output; examples are independent in
    inference mode; training mode works; gradients, tf.function, weights round trip, state
    updates and spec arguments. ``condition_dim=0`` checks the unconditioned network only.
    """

    kind = "encoder"
    first = "x"

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, data_shape: Shape = (12, 12, 1),
                 output_size: int = 5, condition_dim: int = 3, batch_size: int = 4,
                 context: Mapping[str, Any] | None = None):
        shapes = {"data_shape": tuple(data_shape), "output_size": output_size, "output_shape": (output_size,),
                  "condition_dim": condition_dim}
        super().__init__(cls, args, data_shape, (output_size,), condition_dim, batch_size,
                         {**small_context(data_shape=data_shape, condition_dim=condition_dim), **shapes,
                          **(context or {})})


class DecoderSubject(NetworkSubject):
    """Check a decoder: ``[batch, latent_dim]`` (and a condition) -> ``[batch, *output_shape]``,
    with the same properties as an encoder.
    """

    kind = "decoder"
    first = "z"

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, latent_dim: int = 3,
                 output_shape: Shape = (12, 12, 1), condition_dim: int = 3, batch_size: int = 4,
                 context: Mapping[str, Any] | None = None):
        shapes = {"output_shape": tuple(output_shape), "condition_dim": condition_dim}
        super().__init__(cls, args, (latent_dim,), output_shape, condition_dim, batch_size,
                         {**small_context((latent_dim,), condition_dim=condition_dim), **shapes, **(context or {})})


# --- distributions: posteriors, priors, likelihoods ---------------------------------------------


def _assert_param_shape(shape: Any) -> None:
    if not isinstance(shape, tuple) or not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise Failure(f"param_shape should be a tuple of positive ints, got {shape!r}")


class LatentSubject(ComponentSubject):
    """Shared by posteriors and priors: distributions over codes of ``latent_shape``, also checked
    on a grid of codes (:data:`GRID`) when the class takes ``latent_shape`` and the check's own
    shape is flat."""

    properties = ("shapes", "finite", "seeded", "gradients", "tf_function", "weights_round_trip", "state_updates",
                  "grid_latent_shape")

    def __init__(self, cls: type, args: Mapping[str, Any] | None, latent_dim: int, latent_shape: Shape | None,
                 context: Mapping[str, Any] | None):
        self.latent_shape: Shape = tuple(latent_shape) if latent_shape else (latent_dim,)
        self.own_context = dict(context or {})
        super().__init__(cls, args, {**small_context(self.latent_shape), **self.own_context})

    def applies(self, prop: str) -> bool:
        if prop == "grid_latent_shape":
            return len(self.latent_shape) == 1 and "latent_shape" in context_arguments(self.cls)
        return True

    def on_grid(self) -> LatentSubject:
        """The same check with the codes a grid."""
        raise NotImplementedError

    def grid_latent_shape(self) -> None:
        """With ``latent_shape`` a grid such as ``[2, 2, 3]``, shapes are right and values finite."""
        grid = self.on_grid()
        for prop in ("shapes", "finite"):
            try:
                getattr(grid, prop)()
            except Failure as err:
                raise Failure(f"with latent_shape {list(GRID)}: {err}") from err.__cause__

    def assert_outputs(self, n: int) -> None:
        """Samples (and points) ``[n, *latent_shape]``, log-densities ``[n]``."""
        for key, value in self.eager[0].items():
            assert_tensor(key, value, (n,) if key.startswith("log_prob") else (n, *self.latent_shape))


class PosteriorSubject(LatentSubject):
    """Check a posterior head: ``[batch, *param_shape]`` encoder outputs -> q(z|x) with event shape
    ``latent_shape`` and batch shape ``[batch]``; seeded, reparameterized samples (one and several
    per example); ``point``; finite ``log_prob`` of samples and NaN-free ``log_prob`` of arbitrary
    points (-inf outside the support; neither for ``deterministic`` heads); gradients,
    tf.function, weights round trip, state updates (an EMA codebook's), spec arguments. Pass
    ``latent_shape`` for a head over grids of codes only.
    """

    kind = "posterior"

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, latent_dim: int = 3,
                 latent_shape: Shape | None = None, batch_size: int = 4, context: Mapping[str, Any] | None = None):
        self.batch_size = batch_size
        super().__init__(cls, args, latent_dim, latent_shape, context)
        self.stochastic = not getattr(cls, "deterministic", False)

    def applies(self, prop: str) -> bool:
        return (prop != "seeded" or self.stochastic) and super().applies(prop)

    def on_grid(self) -> PosteriorSubject:
        return PosteriorSubject(self.cls, self.args, latent_shape=GRID, batch_size=self.batch_size,
                                context=self.own_context)

    @cached_property
    def param_shape(self) -> Shape:
        shape = tuple(self.instance.param_shape)
        _assert_param_shape(shape)
        return shape

    @cached_property
    def inputs(self) -> Tensors:
        generator = rng()
        return as_tensors(params=generator.normal(size=(self.batch_size, *self.param_shape)),
                          z=generator.normal(size=(self.batch_size, *self.latent_shape)))

    def compute(self, head: Any, inputs: Tensors, training: bool) -> Tensors:
        q = head.distribution(inputs["params"])
        z = q.sample(seed=seed(1))
        out = {"sample": z, "point": head.point(q)}
        if self.stochastic:
            out.update(log_prob=q.log_prob(z), log_prob_elsewhere=q.log_prob(inputs["z"]))
        return out

    def shapes(self) -> None:
        """param_shape is a tuple of positive ints; q has event shape latent_shape and batch shape
        [batch]; one and three samples per example, the point and log-densities have their shapes."""
        q = attempt("distribution(params)", lambda: self.instance.distribution(self.inputs["params"]))
        assert_distribution(q, self.latent_shape, (self.batch_size,))
        self.assert_outputs(self.batch_size)
        several = attempt("q.sample(3)", lambda: q.sample(3, seed=seed(3)))
        assert_tensor("q.sample(3)", several, (3, self.batch_size, *self.latent_shape))
        if self.stochastic:
            assert_tensor("log_prob of q.sample(3)", q.log_prob(several), (3, self.batch_size))

    def seeded(self) -> None:
        """q.sample() repeats for a seed and changes with it."""
        assert_seeded("q.sample()", lambda s: self.instance.distribution(self.inputs["params"]).sample(seed=s),
                      self.eager[0]["sample"])

    def loss(self, component: Any, inputs: Tensors) -> tf.Tensor:
        out = self.compute(component, inputs, True)
        return tf.reduce_sum(out["sample"] ** 2) - tf.reduce_sum(out.get("log_prob", 0.0))

    def gradients(self) -> None:
        """The encoder output gets a gradient through q.sample() (reparameterization, or a straight-through
        estimator), and every trainable variable through samples and log-densities."""
        assert_gradients(lambda: tf.reduce_sum(self.instance.distribution(self.inputs["params"]).sample(seed=seed(1))),
                         {"the encoder output through q.sample() (is it reparameterized?)": self.inputs["params"]})
        super().gradients()


class PriorSubject(LatentSubject):
    """Check a prior: ``distribution()`` has event shape ``latent_shape`` and no batch shape;
    seeded ``sample(n)``; finite ``log_prob`` of samples and NaN-free ``log_prob`` of arbitrary
    points (-inf outside the support; neither for ``sample_only`` priors); gradients reach every
    trainable variable (through log_prob, or through samples); tf.function, weights round trip,
    state updates, spec arguments. ``context`` adds context arguments the prior declares;
    ``setup`` is called on every instance the check builds, before it is used (e.g. to connect a
    prior that depends on other components, such as pseudo-inputs through an encoder, to a small
    model).
    """

    kind = "prior"

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, latent_dim: int = 3,
                 latent_shape: Shape | None = None, n: int = 16, context: Mapping[str, Any] | None = None,
                 setup: Callable[[Any], None] | None = None):
        self.n, self.setup = n, setup
        super().__init__(cls, args, latent_dim, latent_shape, context)
        self.has_density = not getattr(cls, "sample_only", False)

    def on_grid(self) -> PriorSubject:
        return PriorSubject(self.cls, self.args, latent_shape=GRID, n=self.n, context=self.own_context,
                            setup=self.setup)

    def make(self, **context: Any) -> Any:
        prior = super().make(**context)
        if self.setup is not None:
            setup = self.setup
            attempt("setup(prior)", lambda: setup(prior))
        return prior

    @cached_property
    def inputs(self) -> Tensors:
        return as_tensors(z=2.0 * rng().normal(size=(self.n, *self.latent_shape)))

    def compute(self, prior: Any, inputs: Tensors, training: bool) -> Tensors:
        p = prior.distribution()
        z = p.sample(tf.shape(inputs["z"])[0], seed=seed(1))
        out = {"sample": z}
        if self.has_density:
            out.update(log_prob=p.log_prob(z), log_prob_elsewhere=p.log_prob(inputs["z"]))
        return out

    def shapes(self) -> None:
        """p has event shape latent_shape and no batch shape; samples and log-densities have their shapes."""
        p = attempt("distribution()", self.instance.distribution)
        assert_distribution(p, self.latent_shape, ())
        self.assert_outputs(self.n)

    def seeded(self) -> None:
        """sample(n) repeats for a seed and changes with it."""
        assert_seeded("sample(n)", lambda s: self.instance.distribution().sample(self.n, seed=s),
                      self.eager[0]["sample"])

    def loss(self, component: Any, inputs: Tensors) -> tf.Tensor:
        out = self.compute(component, inputs, True)
        return tf.reduce_sum(out["sample"] ** 2) - tf.reduce_sum(out.get("log_prob", 0.0))


class LikelihoodSubject(ComponentSubject):
    """Check a likelihood head: ``[batch, *param_shape]`` -> p(x|z) with event shape ``data_shape``;
    finite ``log_prob`` of ``data`` (default: 8-bit values in [0, 1], which ``check_data`` must
    accept; pass your own ``[batch, *data_shape]`` array otherwise); seeded samples that pass its
    own ``check_data``; ``mean``; gradients to the parameters and every variable, tf.function,
    weights round trip, state updates, spec arguments.
    """

    kind = "likelihood"
    properties = ("param_shape", "check_data", "shapes", "finite", "seeded", "samples_pass_check_data", "gradients",
                  "tf_function", "weights_round_trip", "state_updates")

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, data_shape: Shape = (3, 3, 1),
                 data: np.ndarray | None = None, batch_size: int = 4, context: Mapping[str, Any] | None = None):
        self.data_shape, self.batch_size = tuple(data_shape), batch_size
        self.x = grid_values(rng(), (batch_size, *data_shape)) if data is None else np.asarray(data)
        super().__init__(cls, args, {**small_context(data_shape=self.data_shape, batch_size=batch_size),
                                     **(context or {})})

    def param_shape(self) -> None:
        """param_shape is a tuple of positive ints."""
        _assert_param_shape(self.instance.param_shape)

    @cached_property
    def inputs(self) -> Tensors:
        self.param_shape()
        shape = (self.batch_size, *self.instance.param_shape)
        return as_tensors(params=rng().normal(size=shape), x=self.x)

    def compute(self, head: Any, inputs: Tensors, training: bool) -> Tensors:
        p = head.distribution(inputs["params"])
        return {"log_prob": p.log_prob(inputs["x"]), "mean": head.mean(p), "sample": p.sample(seed=seed(1))}

    def check_data(self) -> None:
        """check_data accepts the data the check uses and answers None or a sentence for nonsense."""
        problem = self.instance.check_data(self.x)
        if problem is not None:
            raise Failure(f"check_data rejects the data the check uses ({problem}); pass data= that fits")
        nonsense = self.instance.check_data(self.x * 1000.0 - 500.0)
        if not (nonsense is None or (isinstance(nonsense, str) and nonsense)):
            raise Failure(f"check_data should return None or a sentence, got {nonsense!r}")

    def shapes(self) -> None:
        """p(x|z) has event shape data_shape and batch shape [batch]; log_prob, mean and samples their shapes."""
        p = attempt("distribution(params)", lambda: self.instance.distribution(self.inputs["params"]))
        assert_distribution(p, self.data_shape, (self.batch_size,))
        outputs = self.eager[0]
        assert_tensor("log_prob", outputs["log_prob"], (self.batch_size,))
        for key in ("mean", "sample"):
            assert_tensor(key, outputs[key], (self.batch_size, *self.data_shape))

    def seeded(self) -> None:
        """p.sample() repeats for a seed and changes with it."""
        assert_seeded("p.sample()", lambda s: self.instance.distribution(self.inputs["params"]).sample(seed=s),
                      self.eager[0]["sample"])

    def samples_pass_check_data(self) -> None:
        """Its own samples are data it accepts."""
        problem = self.instance.check_data(np.asarray(self.eager[0]["sample"]))
        if problem is not None:
            raise Failure(f"its own samples fail its check_data: {problem}")

    def input_sources(self) -> dict[str, tf.Tensor]:
        return {"the decoder output (params)": self.inputs["params"]}

    def loss(self, component: Any, inputs: Tensors) -> tf.Tensor:
        return -tf.reduce_sum(self.compute(component, inputs, True)["log_prob"])


# --- corruptions and samplers -------------------------------------------------------------------


class CorruptionSubject(ComponentSubject):
    """Check a corruption: ``corrupt(x, seed)`` keeps the shape and dtype of ``x``, is finite,
    repeats for a seed and changes with it, differs from ``x``, and gives the same numbers
    inside tf.function; and its spec arguments are validated. ``data`` (default: 8-bit values in
    [0, 1], ``[batch, *data_shape]``) is what it corrupts.
    """

    kind = "corruption"
    properties = ("shapes", "finite", "seeded", "differs_from_input", "tf_function")

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, data_shape: Shape = (12, 12, 1),
                 data: np.ndarray | None = None, batch_size: int = 4, context: Mapping[str, Any] | None = None):
        self.x = grid_values(rng(), (batch_size, *data_shape)) if data is None else np.asarray(data)
        super().__init__(cls, args, {**small_context(data_shape=tuple(data_shape), batch_size=batch_size),
                                     **(context or {})})

    @cached_property
    def inputs(self) -> Tensors:
        return as_tensors(x=self.x)

    def compute(self, corruption: Any, inputs: Tensors, training: bool) -> Tensors:
        return {"corrupted": corruption.corrupt(inputs["x"], seed(1))}

    def shapes(self) -> None:
        """The corrupted batch has the shape and dtype of the clean one."""
        assert_tensor("the corrupted batch", self.eager[0]["corrupted"], tuple(self.x.shape))

    def seeded(self) -> None:
        """corrupt(x, seed) repeats for a seed and changes with it."""
        assert_seeded("corrupt(x, seed)", lambda s: self.instance.corrupt(self.inputs["x"], s),
                      self.eager[0]["corrupted"])

    def differs_from_input(self) -> None:
        """The corrupted batch is not the clean one."""
        assert_differ("corrupt(x, seed) returns x unchanged", self.eager[0]["corrupted"], self.inputs["x"])


class SamplerSubject(Subject):
    """Check a sampler: fitted on ``codes`` (default: 64 Gaussian codes ``[64, *latent_shape]``;
    pass codes of the kind it expects, e.g. codebook vectors), ``sample(n, seed)`` is a finite
    float32 ``[n, *latent_shape]`` tensor that repeats for a seed and changes with it; fitting
    again with the same seed gives the same samples; ``state()`` is arrays that survive an
    ``.npz`` file without pickles and, loaded into a fresh instance, give identical samples;
    samples inside tf.function (``n`` and the seed tensors, as in an exported model) are the eager
    ones; and its spec arguments are validated. ``setup`` is called on every instance before it
    is fitted (e.g. to attach it to a small model).
    """

    kind = "sampler"
    properties = ("shapes", "finite", "seeded", "state_round_trip", "tf_function")

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, *, latent_shape: Shape = (3,),
                 codes: np.ndarray | None = None, n: int = 8, context: Mapping[str, Any] | None = None,
                 setup: Callable[[Any], None] | None = None):
        self.latent_shape, self.n, self.setup = tuple(latent_shape), n, setup
        self.codes = (rng().normal(size=(64, *self.latent_shape)) if codes is None else np.asarray(codes))
        super().__init__(cls, args, {**small_context(self.latent_shape), **(context or {})})

    def prepared(self) -> Any:
        """A fresh instance, set up, not fitted yet."""
        sampler = self.make()
        if self.setup is not None:
            setup = self.setup
            attempt("setup(sampler)", lambda: setup(sampler))
        return sampler

    def fitted(self) -> Any:
        """A fresh instance fitted on the codes with seed 0."""
        sampler = self.prepared()
        attempt("fit(codes, seed)", lambda: sampler.fit(self.codes.astype(np.float32), 0))
        return sampler

    @cached_property
    def instance(self) -> Any:
        return self.fitted()

    def draw(self, sampler: Any, index: int = 1) -> tf.Tensor:
        return attempt("sample(n, seed)", lambda: sampler.sample(self.n, seed(index)))

    @cached_property
    def samples(self) -> tf.Tensor:
        return self.draw(self.instance)

    def shapes(self) -> None:
        """Samples are float32 ``[n, *latent_shape]``."""
        assert_tensor("sample(n, seed)", self.samples, (self.n, *self.latent_shape))

    def finite(self) -> None:
        """Samples hold no NaN or infinity."""
        assert_finite("sample(n, seed)", self.samples)

    def seeded(self) -> None:
        """Samples repeat for a seed and change with it; a second fit with the same seed samples the same."""
        assert_seeded("sample(n, seed)", lambda s: self.instance.sample(self.n, s), self.samples)
        assert_same("after fitting a fresh instance with the same seed", {"sample": self.samples},
                    {"sample": self.draw(self.fitted())})

    def state_round_trip(self) -> None:
        """state() is named numeric arrays; written to an .npz file, read back without pickles and loaded
        into a fresh instance, they give identical samples."""
        state = attempt("state()", self.instance.state)
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise Failure(f"state() should return a dict of named arrays, got {type(state).__name__}")
        file = io.BytesIO()
        arrays = {key: np.asarray(value) for key, value in state.items()}
        attempt("writing state() to an .npz file", lambda: np.savez(file, **arrays))
        file.seek(0)
        try:
            with np.load(file, allow_pickle=False) as stored:
                read_back = {key: stored[key] for key in stored.files}
        except ValueError as err:
            raise Failure(f"state() holds values that need pickles to be read back ({err}); use numeric "
                          "arrays") from err
        fresh = self.prepared()
        attempt("load_state(state)", lambda: fresh.load_state(read_back))
        assert_same("after state() was saved and loaded into a fresh instance", {"sample": self.samples},
                    {"sample": self.draw(fresh)})

    def tf_function(self) -> None:
        """Inside tf.function, with ``n`` and the seed as tensors (as in an exported model), samples are
        the eager ones."""
        sampler = self.instance
        compiled = graph_function(lambda n, s: sampler.sample(n, s),
                                  [tf.TensorSpec((), tf.int32), tf.TensorSpec((2,), tf.int32)])
        graph = attempt("sampling inside tf.function (n and seed tensors)",
                        lambda: compiled(tf.constant(self.n, tf.int32), seed(1)))
        assert_same("inside tf.function from eager execution", {"sample": self.samples}, {"sample": graph})
