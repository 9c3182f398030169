"""What every subject shares: the plugin built as genkit builds it, the properties of its spec
arguments, and the tensor assertions the kinds' properties are written with."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkit.errors import SpecError
from genkit.plugin.component import recording, shadowed_keras_names
from genkit.plugin.instantiate import describe_exception
from genkit.plugin.kinds import BASES
from genkit.plugin.registry import registry
from genkit.plugin.signature import Argument, context_arguments, spec_arguments, to_plain, validate_arguments
from genkit.spec.resolve import resolve

tfd = tfp.distributions

Tensors = dict[str, tf.Tensor]
#: ``run(component, inputs, training)``: the outputs a property compares between executions.
Run = Callable[[Any, Tensors, bool], Tensors]

#: Values no typed spec argument should accept; the first one an argument rejects is used.
_WRONG_VALUES: tuple[Any, ...] = ({"genkit_check": "wrong type"}, "wrong type", [{"genkit_check": 1}])

#: The spec arguments every kind's subject checks first (cheap, and what ``genkit list`` shows).
ARGUMENT_PROPERTIES = ("docstring_describes_arguments", "arguments_are_typed", "wrong_typed_argument_is_a_spec_error")


class Failure(AssertionError):
    """A property that does not hold; the message says what is wrong (the check adds which plugin
    and which property)."""


class CheckFailure(AssertionError):
    """One failed conformance check: the plugin (``"prior StudentT"``), the property and what is wrong."""

    def __init__(self, plugin: str, check: str, detail: str):
        super().__init__(f"{plugin} [{check}]: {detail}")
        self.plugin, self.check, self.detail = plugin, check, detail


def attempt(what: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, with an exception of the plugin's turned into a Failure saying what was being done."""
    try:
        return fn()
    except AssertionError:
        raise
    except Exception as err:
        raise Failure(f"{what} raised {describe_exception(err)}") from err


def seed(index: int) -> tf.Tensor:
    """A stateless seed, the same in every check."""
    return tf.constant([20240, index], tf.int32)


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def as_tensors(**arrays: Any) -> Tensors:
    return {key: tf.constant(value, tf.float32) for key, value in arrays.items()}


def grid_values(generator: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in [0, 1] on the 8-bit grid: data every built-in likelihood (and corruption) accepts."""
    return generator.integers(0, 256, size=shape) / 255.0


class Subject:
    """One plugin class under check, with the spec arguments and options of the check.

    A subclass sets ``kind`` and ``properties`` (the ids of its checks, in the order they run) and
    defines a method per property; :meth:`applies` leaves out the properties a plugin's class says
    do not concern it (no log-density for a ``sample_only`` prior). Nothing is built until a
    property runs; what several properties share (the instance, its outputs, an assembled model)
    is built once, by the first that needs it, and never changed: a property that changes a
    component (training mode, perturbed weights, state updates) builds its own.
    """

    kind: ClassVar[str]
    properties: ClassVar[tuple[str, ...]]

    def __init__(self, cls: type, args: Mapping[str, Any] | None = None, context: Mapping[str, Any] | None = None):
        #: The plugin class (Any: each kind reads class attributes of its own, ``splits``, ``deterministic`` ...).
        self.cls: Any = cls
        self.name = f"{self.kind} {getattr(cls, '__name__', cls)!s}"
        base = BASES[self.kind]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise Failure(f"{self.name}: is not a subclass of genkit.{base.__name__}")
        shadowed = shadowed_keras_names(cls) if issubclass(cls, keras.layers.Layer) else []
        if shadowed:
            raise Failure(f"{self.name}: defines {', '.join(map(repr, shadowed))}, which Keras layers already have "
                          "and Keras calls itself, so genkit refuses it; rename it (e.g. with a leading underscore)")
        self.args = dict(args or {})
        resolved, problems = validate_arguments(cls, self.args)
        if problems:
            listed = "; ".join(f"{'.'.join(map(str, loc)) or '(arguments)'}: {message}" for loc, message in problems)
            raise Failure(f"{self.name}: the arguments given to the check are not valid spec arguments: {listed}")
        self.kwargs = resolved
        self.context = {**self.default_context(), **(context or {})}

    # --- what the checks are ------------------------------------------------------------------
    def applies(self, prop: str) -> bool:
        """Whether property ``prop`` concerns this plugin (decided from its class, without building it)."""
        return True

    def check_ids(self) -> list[str]:
        """The ids of the properties this plugin is checked for, in the order they run."""
        return [prop for prop in (*ARGUMENT_PROPERTIES, *self.properties) if self.applies(prop)]

    def run(self, prop: str) -> None:
        """Check property ``prop``; a failure is a :class:`CheckFailure` naming the plugin and the property."""
        try:
            getattr(self, prop)()
        except Failure as err:
            raise CheckFailure(self.name, prop, str(err)) from err.__cause__
        except Exception as err:  # the plugin raised where the check did not expect it
            raise CheckFailure(self.name, prop, f"raised {describe_exception(err)}") from err

    # --- building -----------------------------------------------------------------------------
    def default_context(self) -> dict[str, Any]:
        """The context values genkit would offer this kind in the check's small setting."""
        return {}

    def make(self, **context: Any) -> Any:
        """A fresh instance, built as genkit's assembly builds one: validated arguments plus the
        context arguments the class asks for (``context`` adds to the subject's)."""
        offered = {**self.context, **context}
        wanted = {key: offered[key] for key in context_arguments(self.cls) if key in offered}
        return attempt("the constructor", lambda: self.cls(**wanted, **self.kwargs))

    # --- spec arguments -----------------------------------------------------------------------
    @property
    def spec_key(self) -> str:
        """Where the plugin's entry stands in a spec (the prefix of its SpecErrors' key paths)."""
        return self.kind

    def spec_with(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The smallest spec whose component of this kind is ``entry``; the vae preset fills the rest."""
        return {"latent_dim": 2, "data": {"type": "toy2d"}, self.kind: entry}

    def docstring_describes_arguments(self) -> None:
        """The class has a docstring naming every spec argument (``genkit list`` and the spec reference show it)."""
        doc = self.cls.__doc__ or ""
        if not doc.strip():
            raise Failure("has no docstring; `genkit list` shows its first line and users read the rest")
        missing = [a.name for a in spec_arguments(self.cls) if not re.search(rf"\b{re.escape(a.name)}\b", doc)]
        if missing:
            raise Failure(f"the docstring does not describe spec argument {', '.join(map(repr, missing))} "
                          "(describe each under 'Args:')")

    def _wrong_value(self, argument: Argument) -> Any:
        """A value the argument's annotation rejects, or None when it accepts all of them."""
        return next((v for v in _WRONG_VALUES if validate_arguments(self.cls, {**self.args, argument.name: v})[1]),
                    None)

    def arguments_are_typed(self) -> None:
        """Every spec argument is annotated with a type genkit can validate, and its default is a valid value."""
        for argument in spec_arguments(self.cls):
            # a resolved spec stores defaults as plain data (to_plain); read back, they must validate
            default = {**self.args, argument.name: to_plain(argument.default)}
            if not argument.required and validate_arguments(self.cls, default)[1]:
                raise Failure(f"the default of '{argument.name}' ({argument.default!r}) is not a valid value of "
                              "its own type")
            if self._wrong_value(argument) is None:
                raise Failure(f"spec argument '{argument.name}' accepts any value, so genkit cannot validate it; "
                              "annotate it with its type (int, float, str, list[int], Literal[...], ...)")

    def wrong_typed_argument_is_a_spec_error(self) -> None:
        """In a spec, a wrong-typed (or missing required) argument is a SpecError at its own key (all
        in one spec: genkit reports every problem of a spec at once, each with its key)."""
        arguments = spec_arguments(self.cls)
        wrong = {a.name: value for a in arguments if (value := self._wrong_value(a)) is not None}
        required = [a.name for a in arguments if a.required]
        with registered(self.kind, self.cls) as name:
            base = {"type": name, **self.args}
            cases = [("a wrong-typed value", {**base, **wrong}, list(wrong)),
                     ("a missing required value", {k: v for k, v in base.items() if k not in required}, required)]
            for case, entry, keys in cases:
                message = self._spec_error(entry) if keys else ""
                for key in keys:
                    expected = f"{self.spec_key}.{key}"
                    if message is None or not re.search(rf"key '{re.escape(expected)}(\.[^']*)?'", message):
                        got = "no error" if message is None else f"the error {message!r}"
                        raise Failure(f"{case} of spec argument '{key}' should give a SpecError at key "
                                      f"'{expected}', got {got}")

    def _spec_error(self, entry: dict[str, Any]) -> str | None:
        """The message of the SpecError a spec with this entry raises (None if it is accepted)."""
        try:
            resolve(self.spec_with(entry))
        except SpecError as err:
            return str(err)
        return None


@contextlib.contextmanager
def registered(kind: str, cls: type) -> Iterator[str]:
    """Register ``cls`` under a temporary name, so specs (and ``genkit.build``) can use it."""
    name = f"genkit_testing_{cls.__name__.lower()}"
    kind_registry = registry(kind)
    kind_registry.add(name, cls, origin="genkit.testing")
    try:
        yield name
    finally:
        kind_registry.remove(name)


# --- tensor assertions --------------------------------------------------------------------------


def assert_tensor(what: str, value: Any, shape: tuple[int, ...] | None = None, dtype: tf.DType = tf.float32) -> None:
    """``value`` is a tensor of ``dtype`` and ``shape`` (when given)."""
    if not isinstance(value, (tf.Tensor, tf.Variable, np.ndarray)):
        raise Failure(f"{what} should be a tensor, got {type(value).__name__}")
    value = tf.convert_to_tensor(value)
    if value.dtype != dtype:
        raise Failure(f"{what} should be {dtype.name}, got {value.dtype.name}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise Failure(f"{what} should have shape {tuple(shape)}, got {tuple(value.shape)}")


def assert_finite(what: str, value: Any, minus_infinity_ok: bool = False) -> None:
    """No NaN and no infinity in ``value`` (-inf allowed where asked: the log-density of a point
    outside a distribution's support)."""
    value = tf.convert_to_tensor(value)
    allowed = tf.math.is_finite(value) | (minus_infinity_ok & tf.equal(value, -np.inf))
    if not bool(tf.reduce_all(allowed)):
        raise Failure(f"{what} holds NaN or {'+' if minus_infinity_ok else ''}infinite values")


def assert_reports_finite(reported: Tensors) -> None:
    """The metrics and loss terms a component reported are finite scalars."""
    for key, value in reported.items():
        assert_tensor(f"the reported metric or loss term '{key}'", value, ())
        assert_finite(f"the reported metric or loss term '{key}'", value)


def assert_same(context: str, expected: Tensors, actual: Tensors) -> None:
    for key, value in expected.items():
        first, second = np.asarray(value), np.asarray(actual[key])
        if first.shape != second.shape or not np.allclose(first, second, rtol=1e-5, atol=1e-5, equal_nan=True):
            gap = float(np.max(np.abs(first - second))) if first.shape == second.shape else float("nan")
            raise Failure(f"'{key}' differs {context} (largest difference {gap:.3g})")


def assert_differ(message: str, first: Any, second: Any) -> None:
    if np.allclose(np.asarray(first), np.asarray(second)):
        raise Failure(message)


def variables_of(component: Any) -> dict[str, Any]:
    """A component's trainable variables by path (what the gradient property names)."""
    return {f"variable '{variable_path(v)}'": v for v in component.trainable_variables}


def variable_path(variable: Any) -> str:
    return str(getattr(variable, "path", variable.name))


def assert_gradients(loss: Callable[[], tf.Tensor], sources: Mapping[str, Any]) -> None:
    """A gradient, finite, reaches every source (variables by path, tensors by label)."""
    if not sources:
        return
    with tf.GradientTape() as tape:
        for source in sources.values():
            if not isinstance(source, (tf.Variable, keras.Variable)):
                tape.watch(source)
        value = loss()
    assert_reached(dict(zip(sources, tape.gradient(value, list(sources.values())), strict=True)))


def assert_reached(gradients: Mapping[str, Any]) -> None:
    """Each gradient (by the label of its source) exists and is finite."""
    missing = [label for label, g in gradients.items() if g is None]
    if missing:
        raise Failure(f"no gradient reaches {', '.join(missing)} (a stop_gradient, a non-differentiable op, "
                      "or a variable the computation never uses)")
    broken = [label for label, g in gradients.items() if not bool(tf.reduce_all(tf.math.is_finite(g)))]
    if broken:
        raise Failure(f"the gradient of {', '.join(broken)} holds NaN or infinite values")


def relaxed(inputs: Mapping[str, Any]) -> list[dict[str, tf.TensorSpec]]:
    """A tf.function input signature for ``inputs`` with an unknown batch size."""
    return [{key: tf.TensorSpec((None, *value.shape[1:]), value.dtype) for key, value in inputs.items()}]


def graph_function(fn: Callable[..., Any], input_signature: list[Any]) -> Any:
    """``fn`` as genkit's training compiles it: a tf.function without AutoGraph (so Python control
    flow on tensors fails here as it would in training)."""
    return tf.function(fn, input_signature=input_signature, autograph=False)


def assert_graph_matches(run: Run, component: Any, inputs: Tensors, eager: Tensors) -> None:
    """Inside tf.function, traced for any batch size, ``run`` gives the ``eager`` numbers."""
    compiled = graph_function(lambda batch: run(component, batch, False), relaxed(inputs))
    graph = attempt("running inside tf.function (batch size unknown while tracing, no AutoGraph)",
                    lambda: compiled(inputs))
    assert_same("inside tf.function from eager execution", eager, graph)


class _Holder(keras.Model):
    """A Keras model around one component, so its weights go through Keras' own .weights.h5 files."""

    def __init__(self, component: Any):
        super().__init__()
        self.component = component
        self.built = True


def perturb(component: Any) -> None:
    """Move every float variable (weights and state) off its initial value, so a load that does
    nothing shows. The shift is positive, so counts and variances stay valid."""
    for index, variable in enumerate(component.variables):
        if variable.dtype in ("float16", "float32", "float64", "bfloat16"):
            noise = tf.random.stateless_normal(tf.shape(variable), seed(1000 + index), dtype=variable.dtype)
            variable.assign(variable + 0.05 * tf.abs(noise))


@contextlib.contextmanager
def restored(variables: list[Any]) -> Iterator[None]:
    """Put ``variables`` back to their values on leaving the block: a property may use a shared
    instance in ways that change it (training mode, perturbed weights) and leave it as it was."""
    values = [np.array(v.numpy()) for v in variables]
    try:
        yield
    finally:
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)


def assert_weights_round_trip(run: Run, original: Any, make: Callable[[], Any], inputs: Tensors) -> None:
    """Weights (and state) saved from ``original`` (left unchanged) and loaded into a fresh
    instance from ``make`` reproduce its outputs; so does a fresh instance of a component without
    variables (anything it keeps outside variables would be lost). Both have their variables
    created already."""
    with restored(original.variables), tempfile.TemporaryDirectory() as folder:
        perturb(original)
        expected = run(original, copied(inputs), False)
        fresh = make()
        if original.variables:
            path = os.path.join(folder, "component.weights.h5")
            attempt("saving weights to .weights.h5", lambda: _Holder(original).save_weights(path))
            attempt("loading .weights.h5 into a fresh instance", lambda: _Holder(fresh).load_weights(path))
    assert_same("after its weights were saved and loaded into a fresh instance", expected,
                run(fresh, copied(inputs), False))


def copied(inputs: Tensors) -> Tensors:
    """New tensor objects with the same values: TFP bijectors cache results by input tensor, and a
    result cached before the weights changed must not be read back after."""
    return {key: tf.identity(value) for key, value in inputs.items()}


def assert_seeded(what: str, draw: Callable[[tf.Tensor], tf.Tensor], first: tf.Tensor) -> None:
    """``draw(seed)`` repeats ``first`` (a draw with seed 1) for seed 1 and changes with the seed:
    runs must be reproducible from the run seed alone."""
    assert_same(f"between two {what} draws with the same seed", {"sample": first},
                {"sample": attempt(what, lambda: draw(seed(1)))})
    assert_differ(f"{what} ignores the seed: two seeds gave the same draw", first, draw(seed(2)))


def assert_distribution(dist: Any, event: tuple[int, ...], batch: tuple[int, ...]) -> None:
    if not isinstance(dist, tfd.Distribution):
        raise Failure(f"should return a tfd.Distribution, got {type(dist).__name__}")
    if tuple(dist.event_shape) != event or tuple(dist.batch_shape) != batch:
        raise Failure(f"the distribution should have event shape {event} and batch shape {batch}, got "
                      f"{tuple(dist.event_shape)} and {tuple(dist.batch_shape)} (wrap per-value distributions "
                      "in tfd.Independent)")


Updates = list[tuple[Any, tf.Tensor]]


def recorded_updates(compute: Callable[[], Any], training: bool) -> Updates:
    """The state updates components ask for while ``compute()`` runs inside genkit's recording."""
    with recording(training) as record:
        compute()
    return record.updates


def assert_state_updates(owner: Any, compute: Callable[[bool], Updates]) -> None:
    """State changes only through ``add_update``: ``compute(training)`` runs the computation as a
    training step or an evaluation does and returns the updates collected. At evaluation it
    leaves ``owner``'s non-trainable variables as they were and collects none; in training every
    update targets a variable of ``owner`` (add_update itself refuses trainable ones) with a
    finite value of its shape. The updates are then applied, as genkit does after a step; ``owner``
    is left as it was found."""
    state = list(owner.non_trainable_variables)
    with restored(state):
        if state:  # without state, an evaluation has nothing to change, and add_update drops its updates
            before = [np.array(v.numpy()) for v in state]
            collected = compute(False)
            changed = [variable_path(v) for v, value in zip(state, before, strict=True)
                       if not np.array_equal(value, v.numpy())]
            if changed or collected:
                raise Failure(f"an evaluation changed its state ({', '.join(changed) or 'updates collected'}); "
                              "state may change only through add_update, which genkit applies after a training "
                              "step")
        updates = compute(True)
        own = {id(v) for v in owner.variables}
        for variable, value in updates:
            path = variable_path(variable)
            if id(variable) not in own:
                raise Failure(f"add_update targets {path}, which is not among its own variables")
            if tuple(value.shape) != tuple(variable.shape):
                raise Failure(f"add_update gives {path} (shape {tuple(variable.shape)}) a value of shape "
                              f"{tuple(value.shape)}")
            assert_finite(f"the update of {path}", value)
        for variable, value in updates:
            attempt(f"applying the update of {variable_path(variable)}", functools.partial(variable.assign, value))


def has_own_method(cls: type, base: type, name: str) -> bool:
    """Whether ``cls`` overrides ``base.name``."""
    return inspect.getattr_static(cls, name) is not inspect.getattr_static(base, name)
