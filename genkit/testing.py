"""The public conformance suite: checks every genkit plugin passes, built-in or third-party.

A plugin author calls the check of their plugin's kind from their own tests, with the class and
the spec arguments to try::

    from genkit.testing import check_prior

    def test_student_t_prior():
        check_prior(StudentT, {"df": 5.0})

Each check builds the plugin the way genkit does (spec arguments validated against its typed
``__init__`` signature, context arguments such as ``latent_dim`` supplied by the check) and
raises ``AssertionError`` naming the plugin and what failed. Where they apply to the kind, it
checks: the docstring names every spec argument; a wrong-typed (or missing required) spec
argument gives a :class:`~genkit.errors.SpecError` naming its key; shapes and dtypes of outputs,
samples and log-probabilities; finite values; sampling reproducible from a stateless seed;
gradients reach every trainable variable (and the inputs that must be differentiable); the same
numbers inside ``tf.function`` with an unknown batch size as in eager mode; and identical outputs
after the weights go through a Keras ``.weights.h5`` save and a load into a fresh instance.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from genkit.assembly.build import build
from genkit.assembly.data import load_split
from genkit.errors import SpecError
from genkit.plugin.dataset import ArrayData, Dataset
from genkit.plugin.divergence import Divergence
from genkit.plugin.heads import Likelihood, Posterior
from genkit.plugin.instantiate import instantiate
from genkit.plugin.kinds import BASES
from genkit.plugin.networks import Decoder, Encoder
from genkit.plugin.prior import Prior
from genkit.plugin.registry import registry
from genkit.plugin.signature import context_arguments, spec_arguments, to_plain, validate_arguments
from genkit.spec.resolve import resolve

tfd = tfp.distributions

Tensors = dict[str, tf.Tensor]
#: ``run(component, inputs, training)``: the outputs a check compares between executions.
Run = Callable[[Any, Tensors, bool], Tensors]

#: Values no typed spec argument should accept; the first one an argument rejects is used.
_WRONG_VALUES: tuple[Any, ...] = ({"genkit_check": "wrong type"}, "wrong type", [{"genkit_check": 1}])


def _seed(index: int) -> tf.Tensor:
    """A stateless seed, the same in every check."""
    return tf.constant([20240, index], tf.int32)


def _fail(name: str, message: str) -> AssertionError:
    return AssertionError(f"{name}: {message}")


def _attempt(name: str, what: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, with any exception turned into an AssertionError saying what was being done."""
    try:
        return fn()
    except AssertionError:
        raise
    except Exception as err:
        raise _fail(name, f"{what} raised {type(err).__name__}: {err}") from err


# --- arguments and construction ----------------------------------------------------------------


@contextlib.contextmanager
def _registered(kind: str, cls: type) -> Iterator[str]:
    """Register ``cls`` under a temporary name, so specs (and ``genkit.build``) can use it."""
    name = f"genkit_testing_{cls.__name__.lower()}"
    reg = registry(kind)
    reg.add(name, cls, origin="genkit.testing")
    try:
        yield name
    finally:
        reg.remove(name)


def _spec_with(kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The smallest spec whose ``kind`` component is ``entry``; the vae preset fills the rest."""
    spec: dict[str, Any] = {"latent_dim": 2, "data": {"type": "toy2d"}}
    spec["data" if kind == "dataset" else kind] = entry
    return spec


def _spec_error_path(kind: str, entry: dict[str, Any]) -> str | None:
    """The key path of the SpecError a spec with this component entry raises (None if it is accepted)."""
    try:
        resolve(_spec_with(kind, entry))
    except SpecError as err:
        return err.path
    return None


def _check_signature(kind: str, cls: type, args: dict[str, Any], name: str) -> None:
    """Docstring, JSON-valid defaults, and SpecErrors naming the key for wrong or missing values."""
    doc = cls.__doc__ or ""
    if not doc.strip():
        raise _fail(name, "has no docstring; `genkit list` shows its first line and users read the rest")
    prefix = "data" if kind == "dataset" else kind
    for argument in spec_arguments(cls):
        key = argument.name
        if key not in doc:
            raise _fail(name, f"the docstring does not describe spec argument '{key}'")
        # a resolved spec stores defaults as plain data (to_plain); read back, they must validate
        if not argument.required and validate_arguments(cls, {**args, key: to_plain(argument.default)})[1]:
            raise _fail(name, f"the default of '{key}' ({argument.default!r}) is not a valid value of its own type")
        wrong = next((v for v in _WRONG_VALUES if validate_arguments(cls, {**args, key: v})[1]), None)
        if wrong is None:
            raise _fail(
                name,
                f"spec argument '{key}' accepts any value, so genkit cannot validate it; annotate it with "
                "its type (int, float, str, list[int], Literal[...], ...)",
            )
        with _registered(kind, cls) as registered:
            base = {"type": registered, **args}
            cases = [("a wrong-typed value", {**base, key: wrong})]
            if argument.required:
                cases.append(("a missing required value", {k: v for k, v in base.items() if k != key}))
            for case, entry in cases:
                path = _spec_error_path(kind, entry)
                if path is None or not path.startswith(f"{prefix}.{key}"):
                    raise _fail(
                        name,
                        f"{case} of spec argument '{key}' should give a SpecError at key '{prefix}.{key}', "
                        f"got {'no error' if path is None else f'one at key {path!r}'}",
                    )


def _prepare(kind: str, cls: type, args: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """Check the class and its signature; return its display name and validated arguments."""
    name = f"{kind} {getattr(cls, '__name__', cls)!s}"
    if not (isinstance(cls, type) and issubclass(cls, BASES[kind])):
        raise _fail(name, f"is not a subclass of genkit.{BASES[kind].__name__}")
    args = dict(args or {})
    resolved, problems = validate_arguments(cls, args)
    if problems:
        listed = "; ".join(f"{'.'.join(map(str, loc)) or '(arguments)'}: {message}" for loc, message in problems)
        raise _fail(name, f"the arguments given to the check are not valid spec arguments: {listed}")
    _check_signature(kind, cls, args, name)
    return name, resolved


def _factory(name: str, cls: type, args: dict[str, Any], context: dict[str, Any]) -> Callable[[], Any]:
    """Builds a fresh instance as genkit's assembly does: validated arguments plus wanted context."""
    wanted = {key: context[key] for key in context_arguments(cls) if key in context}
    return lambda: _attempt(name, "the constructor", lambda: cls(**wanted, **args))


# --- behaviour shared by the kinds ----------------------------------------------------------


def _assert_tensor(name: str, what: str, value: Any, shape: tuple[int, ...], minus_infinity_ok: bool = False) -> None:
    """``value`` is a float32 tensor of ``shape`` with finite entries (or -inf, where allowed:
    the log-density of a point outside a distribution's support)."""
    if not isinstance(value, (tf.Tensor, np.ndarray)):
        raise _fail(name, f"{what} should be a tensor, got {type(value).__name__}")
    value = tf.convert_to_tensor(value)
    if value.dtype != tf.float32:
        raise _fail(name, f"{what} should be float32, got {value.dtype.name}")
    actual = tuple(value.shape)
    if actual != tuple(shape):
        raise _fail(name, f"{what} should have shape {tuple(shape)}, got {actual}")
    allowed = tf.math.is_finite(value) | (minus_infinity_ok & tf.equal(value, -np.inf))
    if not bool(tf.reduce_all(allowed)):
        raise _fail(name, f"{what} holds NaN or {'+' if minus_infinity_ok else ''}infinite values")


def _assert_same(name: str, context: str, expected: Tensors, actual: Tensors) -> None:
    for key, value in expected.items():
        if not np.allclose(value.numpy(), actual[key].numpy(), rtol=1e-5, atol=1e-5):
            gap = float(np.max(np.abs(value.numpy() - actual[key].numpy())))
            raise _fail(name, f"'{key}' differs {context} (largest difference {gap:.3g})")


def _assert_differ(name: str, message: str, first: tf.Tensor, second: tf.Tensor) -> None:
    if np.allclose(first.numpy(), second.numpy()):
        raise _fail(name, message)


def _check_gradients(name: str, loss: Callable[[], tf.Tensor], sources: dict[str, Any]) -> None:
    """A gradient, finite, reaches every source (variables by path, tensors by label)."""
    if not sources:
        return
    with tf.GradientTape() as tape:
        for source in sources.values():
            if not isinstance(source, (tf.Variable, keras.Variable)):
                tape.watch(source)
        value = loss()
    gradients = tape.gradient(value, list(sources.values()))
    pairs = list(zip(sources, gradients, strict=True))
    missing = [label for label, g in pairs if g is None]
    if missing:
        raise _fail(name, f"no gradient reaches {', '.join(missing)} (a stop_gradient, a non-differentiable op, "
                    "or a variable the computation never uses)")
    broken = [label for label, g in pairs if not bool(tf.reduce_all(tf.math.is_finite(g)))]
    if broken:
        raise _fail(name, f"the gradient of {', '.join(broken)} holds NaN or infinite values")


def _variables(component: Any) -> dict[str, tf.Variable]:
    return {f"variable '{getattr(v, 'path', v.name)}'": v for v in component.trainable_variables}


def _relaxed(inputs: Tensors) -> list[dict[str, tf.TensorSpec]]:
    """A tf.function input signature for ``inputs`` with an unknown batch size."""
    return [{key: tf.TensorSpec((None, *value.shape[1:]), value.dtype) for key, value in inputs.items()}]


def _check_graph(name: str, run: Run, component: Any, inputs: Tensors) -> None:
    """Inside tf.function, traced for any batch size, ``run`` gives the eager numbers."""
    eager = run(component, inputs, False)
    compiled = tf.function(lambda batch: run(component, batch, False), input_signature=_relaxed(inputs))
    graph = _attempt(name, "running inside tf.function (batch size unknown while tracing)", lambda: compiled(inputs))
    _assert_same(name, "inside tf.function from eager execution", eager, graph)


class _Holder(keras.Model):
    """A Keras model around one component, so its weights go through Keras' own .weights.h5 files."""

    def __init__(self, component: Any):
        super().__init__()
        self.component = component
        self.built = True


def _perturb(component: Any) -> None:
    """Move every trainable variable off its initial value, so a load that does nothing shows."""
    for index, variable in enumerate(component.trainable_variables):
        noise = tf.random.stateless_normal(tf.shape(variable), _seed(1000 + index), dtype=variable.dtype)
        variable.assign(variable + 0.05 * noise)


def _check_round_trip(name: str, run: Run, make: Callable[[], Any], original: Any, inputs: Tensors) -> None:
    """Weights saved from ``original`` and loaded into a fresh instance reproduce its outputs."""
    _perturb(original)
    expected = run(original, inputs, False)
    fresh = make()
    run(fresh, inputs, False)  # creates its variables
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "component.weights.h5")
        _attempt(name, "saving weights to .weights.h5", lambda: _Holder(original).save_weights(path))
        _attempt(name, "loading .weights.h5 into a fresh instance", lambda: _Holder(fresh).load_weights(path))
    _assert_same(name, "after its weights were saved and loaded into a fresh instance", expected,
                 run(fresh, inputs, False))


def _check_seeded(name: str, what: str, draw: Callable[[tf.Tensor], tf.Tensor], stochastic: bool) -> tf.Tensor:
    """``draw(seed)`` (which builds the distribution afresh) repeats for one seed and, when
    ``stochastic``, changes with the seed: runs must be reproducible from the run seed alone."""
    first = draw(_seed(1))
    _assert_same(name, f"between two {what} draws with the same seed", {"sample": first}, {"sample": draw(_seed(1))})
    if stochastic:
        _assert_differ(name, f"{what} ignores the seed: two seeds gave the same draw", first, draw(_seed(2)))
    return first


def _check_event(name: str, dist: Any, event: tuple[int, ...], batch: tuple[int, ...]) -> None:
    if not isinstance(dist, tfd.Distribution):
        raise _fail(name, f"should return a tfd.Distribution, got {type(dist).__name__}")
    if tuple(dist.event_shape) != event or tuple(dist.batch_shape) != batch:
        raise _fail(name, f"the distribution should have event shape {event} and batch shape {batch}, got "
                    f"{tuple(dist.event_shape)} and {tuple(dist.batch_shape)} (wrap per-value distributions "
                    "in tfd.Independent)")


def _inputs(**arrays: np.ndarray) -> Tensors:
    return {key: tf.constant(value, tf.float32) for key, value in arrays.items()}


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


# --- networks -------------------------------------------------------------------------------


def _check_network(name: str, make: Callable[[], Any], inputs: Tensors, first: str,
                   output_shape: tuple[int, ...]) -> None:
    """Shared by encoders and decoders: ``first`` is the input key (x or z)."""

    def run(network: Any, batch: Tensors, training: bool) -> Tensors:
        return {"output": network(batch[first], condition=batch.get("condition"), training=training)}

    network = make()
    eager = _attempt(name, "calling it on a batch", lambda: run(network, inputs, False))
    batch_size = int(inputs[first].shape[0])
    _assert_tensor(name, "the output", eager["output"], (batch_size, *output_shape))
    single = run(network, {key: value[:1] for key, value in inputs.items()}, False)
    _assert_same(name, "for the first example alone from within a batch (inference mode)",
                 {"output": eager["output"][:1]}, single)
    if "condition" in inputs:
        shifted = run(network, {**inputs, "condition": inputs["condition"] + 1.0}, False)
        _assert_differ(name, "the output ignores the condition", eager["output"], shifted["output"])
    _check_graph(name, run, network, inputs)
    # training mode last: it may change state (batch-norm statistics) the comparisons above share
    _assert_tensor(name, "the output in training mode", run(network, inputs, True)["output"],
                   (batch_size, *output_shape))
    _check_gradients(name, lambda: tf.reduce_sum(run(network, inputs, True)["output"] ** 2), _variables(network))
    _check_round_trip(name, run, make, network, inputs)


def check_encoder(
    cls: type[Encoder],
    args: Mapping[str, Any] | None = None,
    *,
    data_shape: tuple[int, ...] = (12, 12, 1),
    output_size: int = 5,
    condition_dim: int = 3,
    batch_size: int = 4,
) -> None:
    """Check an encoder: ``[batch, *data_shape]`` (and a ``[batch, condition_dim]`` condition) ->
    ``[batch, output_size]``; the condition changes the output; examples are independent in
    inference mode; training mode works; gradients, tf.function, weights round trip, arguments.
    ``condition_dim=0`` checks the unconditioned network only.
    """
    name, kwargs = _prepare("encoder", cls, args)
    context = {"data_shape": tuple(data_shape), "output_size": output_size, "condition_dim": condition_dim}
    rng = _rng()
    arrays = {"x": rng.uniform(size=(batch_size, *data_shape))}
    if condition_dim:
        arrays["condition"] = rng.normal(size=(batch_size, condition_dim))
    _check_network(name, _factory(name, cls, kwargs, context), _inputs(**arrays), "x", (output_size,))


def check_decoder(
    cls: type[Decoder],
    args: Mapping[str, Any] | None = None,
    *,
    latent_dim: int = 3,
    output_shape: tuple[int, ...] = (12, 12, 1),
    condition_dim: int = 3,
    batch_size: int = 4,
) -> None:
    """Check a decoder: ``[batch, latent_dim]`` (and a condition) -> ``[batch, *output_shape]``,
    with the same behavioural checks as :func:`check_encoder`.
    """
    name, kwargs = _prepare("decoder", cls, args)
    context = {"latent_dim": latent_dim, "output_shape": tuple(output_shape), "condition_dim": condition_dim}
    rng = _rng()
    arrays = {"z": rng.normal(size=(batch_size, latent_dim))}
    if condition_dim:
        arrays["condition"] = rng.normal(size=(batch_size, condition_dim))
    _check_network(name, _factory(name, cls, kwargs, context), _inputs(**arrays), "z", tuple(output_shape))


# --- heads ----------------------------------------------------------------------------------


def check_posterior(
    cls: type[Posterior], args: Mapping[str, Any] | None = None, *, latent_dim: int = 3, batch_size: int = 4
) -> None:
    """Check a posterior head: ``param_size`` numbers per example -> q(z|x) with event shape
    ``[latent_dim]`` and batch shape ``[batch]``; seeded, reparameterized samples (one and several
    per example); ``point``; finite ``log_prob`` of samples and NaN-free ``log_prob`` of arbitrary
    points (-inf outside the support; neither for ``deterministic`` heads); gradients,
    tf.function, weights round trip, arguments.
    """
    name, kwargs = _prepare("posterior", cls, args)
    make = _factory(name, cls, kwargs, {"latent_dim": latent_dim})
    posterior = make()
    shape = tuple(posterior.param_shape)
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise _fail(name, f"param_shape should be a tuple of positive ints, got {shape!r}")
    rng = _rng()
    inputs = _inputs(params=rng.normal(size=(batch_size, *shape)), z=rng.normal(size=(batch_size, latent_dim)))
    stochastic = not cls.deterministic

    def run(head: Posterior, batch: Tensors, training: bool) -> Tensors:
        q = head.distribution(batch["params"])
        z = q.sample(seed=_seed(1))
        out = {"sample": z, "point": head.point(q)}
        if stochastic:
            out.update(log_prob=q.log_prob(z), log_prob_elsewhere=q.log_prob(batch["z"]))
        return out

    q = _attempt(name, "distribution(params)", lambda: posterior.distribution(inputs["params"]))
    _check_event(name, q, (latent_dim,), (batch_size,))
    several = _attempt(name, "q.sample(3)", lambda: q.sample(3, seed=_seed(3)))
    _assert_tensor(name, "q.sample(3)", several, (3, batch_size, latent_dim))
    if stochastic:
        _assert_tensor(name, "log_prob of q.sample(3)", q.log_prob(several), (3, batch_size))
    _check_gradients(name, lambda: tf.reduce_sum(posterior.distribution(inputs["params"]).sample(seed=_seed(1))),
                     {"the encoder output through q.sample() (is it reparameterized?)": inputs["params"]})
    _check_sampler(name, make, posterior, run, inputs, "q.sample()",
                   lambda seed: posterior.distribution(inputs["params"]).sample(seed=seed), stochastic)


def _check_sampler(name: str, make: Callable[[], Any], component: Any, run: Run, inputs: Tensors, what: str,
                   draw: Callable[[tf.Tensor], tf.Tensor], stochastic: bool) -> None:
    """Shared by posteriors and priors, whose ``run`` gives ``sample`` (and ``point``) ``[n, latent_dim]``
    and, with a density, ``log_prob`` of the sample and ``log_prob_elsewhere`` of ``inputs["z"]``,
    ``[n]``: shapes, seeded draws, gradients, tf.function and the weights round trip.
    """
    eager = _attempt(name, "sampling and log_prob", lambda: run(component, inputs, False))
    n, latent_dim = inputs["z"].shape
    for key in eager:
        shape = (n,) if key.startswith("log_prob") else (n, latent_dim)
        _assert_tensor(name, key, eager[key], shape, minus_infinity_ok=key == "log_prob_elsewhere")
    _check_seeded(name, what, draw, stochastic)

    def loss() -> tf.Tensor:
        out = run(component, inputs, True)
        return tf.reduce_sum(out["sample"] ** 2) - tf.reduce_sum(out.get("log_prob", 0.0))

    _check_gradients(name, loss, _variables(component))
    _check_graph(name, run, component, inputs)
    _check_round_trip(name, run, make, component, inputs)


def _grid_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in [0, 1] on the 8-bit grid: data every built-in likelihood accepts."""
    return rng.integers(0, 256, size=shape) / 255.0


def check_likelihood(
    cls: type[Likelihood],
    args: Mapping[str, Any] | None = None,
    *,
    data_shape: tuple[int, ...] = (3, 3, 1),
    data: np.ndarray | None = None,
    batch_size: int = 4,
) -> None:
    """Check a likelihood head: ``[batch, *param_shape]`` -> p(x|z) with event shape ``data_shape``;
    finite ``log_prob`` of ``data`` (default: 8-bit values in [0, 1], which ``check_data`` must
    accept; pass your own ``[batch, *data_shape]`` array otherwise); seeded samples that pass its
    own ``check_data``; ``mean``; gradients to the parameters and every variable, tf.function,
    weights round trip, arguments.
    """
    name, kwargs = _prepare("likelihood", cls, args)
    make = _factory(name, cls, kwargs, {"data_shape": tuple(data_shape)})
    likelihood = make()
    param_shape = likelihood.param_shape
    if not isinstance(param_shape, tuple) or not all(isinstance(d, int) and d > 0 for d in param_shape):
        raise _fail(name, f"param_shape should be a tuple of positive ints, got {param_shape!r}")
    rng = _rng()
    x = _grid_values(rng, (batch_size, *data_shape)) if data is None else np.asarray(data)
    problem = likelihood.check_data(x)
    if problem is not None:
        raise _fail(name, f"check_data rejects the data the check uses ({problem}); pass data= that fits")
    nonsense = likelihood.check_data(x * 1000.0 - 500.0)
    if not (nonsense is None or (isinstance(nonsense, str) and nonsense)):
        raise _fail(name, f"check_data should return None or a sentence, got {nonsense!r}")
    inputs = _inputs(params=rng.normal(size=(batch_size, *param_shape)), x=x)

    def run(head: Likelihood, batch: Tensors, training: bool) -> Tensors:
        p = head.distribution(batch["params"])
        return {"log_prob": p.log_prob(batch["x"]), "mean": head.mean(p), "sample": p.sample(seed=_seed(1))}

    p = _attempt(name, "distribution(params)", lambda: likelihood.distribution(inputs["params"]))
    _check_event(name, p, tuple(data_shape), (batch_size,))
    eager = _attempt(name, "log_prob, mean and sampling", lambda: run(likelihood, inputs, False))
    _assert_tensor(name, "log_prob", eager["log_prob"], (batch_size,))
    _assert_tensor(name, "mean", eager["mean"], (batch_size, *data_shape))
    sample = _check_seeded(name, "p.sample()", lambda seed: likelihood.distribution(inputs["params"]).sample(seed=seed),
                           True)
    _assert_tensor(name, "a sample", sample, (batch_size, *data_shape))
    problem = likelihood.check_data(sample.numpy())
    if problem is not None:
        raise _fail(name, f"its own samples fail its check_data: {problem}")
    sources = {"the decoder output (params)": inputs["params"], **_variables(likelihood)}
    _check_gradients(name, lambda: -tf.reduce_sum(run(likelihood, inputs, True)["log_prob"]), sources)
    _check_graph(name, run, likelihood, inputs)
    _check_round_trip(name, run, make, likelihood, inputs)


def check_prior(
    cls: type[Prior],
    args: Mapping[str, Any] | None = None,
    *,
    latent_dim: int = 3,
    n: int = 16,
    context: Mapping[str, Any] | None = None,
    setup: Callable[[Prior], None] | None = None,
) -> None:
    """Check a prior: ``distribution()`` has event shape ``[latent_dim]`` and no batch shape;
    seeded ``sample(n)``; finite ``log_prob`` of samples and NaN-free ``log_prob`` of arbitrary
    points (-inf outside the support; neither for ``sample_only`` priors); gradients reach every
    trainable variable (through log_prob, or through samples); tf.function, weights round trip,
    arguments. ``context`` adds context arguments beyond ``latent_dim`` that the prior declares;
    ``setup`` is called on every instance the check builds, before it is used (e.g. to connect a
    prior that depends on other components, such as pseudo-inputs through an encoder, to a small
    model).
    """
    name, kwargs = _prepare("prior", cls, args)
    construct = _factory(name, cls, kwargs, {"latent_dim": latent_dim, **(context or {})})

    def make() -> Prior:
        prior = construct()
        if setup is not None:
            _attempt(name, "setup(prior)", lambda: setup(prior))
        return prior

    prior = make()
    inputs = _inputs(z=2.0 * _rng().normal(size=(n, latent_dim)))
    has_density = not cls.sample_only

    def run(component: Prior, batch: Tensors, training: bool) -> Tensors:
        p = component.distribution()
        z = p.sample(tf.shape(batch["z"])[0], seed=_seed(1))
        out = {"sample": z}
        if has_density:
            out.update(log_prob=p.log_prob(z), log_prob_elsewhere=p.log_prob(batch["z"]))
        return out

    p = _attempt(name, "distribution()", prior.distribution)
    _check_event(name, p, (latent_dim,), ())
    _check_sampler(name, make, prior, run, inputs, "sample(n)", lambda seed: prior.distribution().sample(n, seed=seed),
                   True)


def check_divergence(
    cls: type[Divergence],
    args: Mapping[str, Any] | None = None,
    *,
    latent_dim: int = 3,
    batch_size: int = 8,
    prior: str | dict[str, Any] | None = "standard_normal",
    posterior: str | dict[str, Any] = "diagonal_gaussian",
) -> None:
    """Check a divergence, alone and inside a small model.

    Alone: ``per_example(q, prior, z, seed)`` for a batch of ``posterior`` heads and the
    registered ``prior`` is a finite ``[batch]`` tensor, reproducible for a seed; ``weight(step)``
    is a finite scalar; a divergence that needs no prior accepts ``prior=None``.

    In a model (MLP networks on 2-D data, assembled by ``genkit.build``): every phase's loss is a
    finite scalar and reaches each of the phase's variables; the divergence's own trainable
    variables belong to some phase; the same numbers inside tf.function; the model's weights
    round trip. A divergence that needs a prior must regularise the encoder: through
    ``per_example`` (differentiable with respect to q's parameters) unless one of its own phases
    trains the encoder (as the adversarial one does). And its spec arguments are validated.
    """
    name, kwargs = _prepare("divergence", cls, args)
    make = _factory(name, cls, kwargs, {"latent_dim": latent_dim})
    divergence = make()

    def entry(value: str | dict[str, Any]) -> dict[str, Any]:
        return {"type": value} if isinstance(value, str) else dict(value)

    latent = {"latent_dim": latent_dim}
    head = instantiate("posterior", entry(posterior), "posterior", latent)
    p = None if prior is None else instantiate("prior", entry(prior), "prior", latent).distribution()
    inputs = _inputs(params=_rng().normal(size=(batch_size, *head.param_shape)))

    def per_example(component: Divergence, batch: Tensors, with_prior: bool = True) -> tf.Tensor:
        q = head.distribution(batch["params"])
        return component.per_example(q, p if with_prior else None, q.sample(seed=_seed(1)), _seed(2))

    values = _attempt(name, "per_example(q, prior, z, seed)", lambda: per_example(divergence, inputs))
    _assert_tensor(name, "per_example", values, (batch_size,))
    _assert_same(name, "between two calls with the same seed", {"per_example": values},
                 {"per_example": per_example(divergence, inputs)})
    for step in (0, 10_000):
        weight = _attempt(name, f"weight({step})", functools.partial(divergence.weight, tf.constant(step, tf.int64)))
        _assert_tensor(name, f"weight({step})", tf.cast(weight, tf.float32), ())
    if not cls.requires_prior:
        _assert_tensor(name, "per_example without a prior", per_example(divergence, inputs, False), (batch_size,))
    trains_encoder = _check_divergence_in_model(name, cls, kwargs, latent_dim, batch_size, prior, posterior)
    if cls.requires_prior and not trains_encoder:
        _check_gradients(name, lambda: tf.reduce_sum(per_example(divergence, inputs)),
                         {"q's parameters (the encoder output) through per_example, and no phase of its own trains "
                          "the encoder": inputs["params"]})


def _phase_loss(phase: Any, inputs: Tensors, index: int) -> tf.Tensor:
    return phase.loss(inputs, _seed(index))["loss"]


def _check_divergence_in_model(name: str, cls: type[Divergence], args: dict[str, Any], latent_dim: int,
                               batch_size: int, prior: Any, posterior: Any) -> bool:
    """The checks in an assembled model; returns whether the divergence's own phases train the encoder."""

    def run(model: Any, batch: Tensors, training: bool) -> Tensors:
        return {phase.name: phase.loss(batch, _seed(index))["loss"] for index, phase in enumerate(model.phases())}

    inputs = _inputs(x=_rng().normal(size=(batch_size, 2)))
    with _registered("divergence", cls) as registered:
        spec = {
            "latent_dim": latent_dim,
            "data": {"type": "toy2d"},
            "encoder": {"type": "mlp", "hidden": [8]},
            "decoder": {"type": "mlp", "hidden": [8]},
            "likelihood": "gaussian",
            "posterior": posterior,
            "prior": prior,
            "divergence": {"type": registered, **to_plain(args)},
        }

        def make() -> Any:
            return _attempt(name, "assembling a model with it (genkit.build)", lambda: build(spec, (2,)))

        model = make()
        eager = _attempt(name, "running the model's phases", lambda: run(model, inputs, True))
        phases = model.phases()
        trained: set[int] = set()
        for index, phase in enumerate(phases):
            _assert_tensor(name, f"the loss of phase '{phase.name}'", eager[phase.name], ())
            variables = phase.variables()
            trained |= {id(v) for v in variables}
            labelled = {f"variable '{getattr(v, 'path', v.name)}' of phase '{phase.name}'": v for v in variables}
            _check_gradients(name, functools.partial(_phase_loss, phase, inputs, index), labelled)
        untrained = [getattr(v, "path", v.name) for v in model.divergence.trainable_variables if id(v) not in trained]
        if untrained:
            raise _fail(name, f"its trainable variables {untrained} are in no phase, so they never train")
        _check_graph(name, run, model, inputs)
        _check_round_trip(name, run, make, model, inputs)
    encoder = {id(v) for v in model.encoder.trainable_variables}
    return any(id(v) in encoder for phase in phases[1:] for v in phase.variables())


# --- datasets -------------------------------------------------------------------------------


def _check_split(name: str, split: str, arrays: Any) -> None:
    if not isinstance(arrays, ArrayData):
        raise _fail(name, f"load('{split}') should return genkit.ArrayData, got {type(arrays).__name__}")
    n = len(arrays)
    if arrays.y is not None and len(arrays.y) != n:
        raise _fail(name, f"the '{split}' split has {n} examples but {len(arrays.y)} labels")
    if arrays.factors is not None:
        factors = np.asarray(arrays.factors)
        if factors.ndim != 2 or len(factors) != n:
            raise _fail(name, f"factors of the '{split}' split should have shape [{n}, F], got {factors.shape}")
        if arrays.factor_names and len(arrays.factor_names) != factors.shape[1]:
            raise _fail(name, f"{len(arrays.factor_names)} factor_names for {factors.shape[1]} factors")
    if arrays.class_names and arrays.y is not None and np.asarray(arrays.y).ndim == 1:
        if np.max(arrays.y) >= len(arrays.class_names) or np.min(arrays.y) < 0:
            raise _fail(name, f"labels of the '{split}' split leave the range of its {len(arrays.class_names)} "
                        "class_names")


def check_dataset(cls: type[Dataset], args: Mapping[str, Any] | None = None) -> None:
    """Check a dataset: every split in ``splits`` loads through genkit's own loader (numeric,
    finite, non-empty ``[N, ...]`` arrays), labels and factors line up with the examples, every
    split has the same example shape, loading twice gives the same arrays (generated data is
    deterministic for its seed), and its spec arguments are validated. (A dataset has no
    variables, so gradients, tf.function and weights do not apply.)
    """
    name, kwargs = _prepare("dataset", cls, args)
    if not cls.splits or not all(isinstance(s, str) for s in cls.splits):
        raise _fail(name, f"splits should be a non-empty tuple of names, got {cls.splits!r}")
    dataset = _factory(name, cls, kwargs, {})()
    shapes = set()
    with _registered("dataset", cls) as registered:
        spec = resolve(_spec_with("dataset", {"type": registered, **dict(args or {})}))
        for split in cls.splits:
            arrays = _attempt(name, f"load('{split}')", functools.partial(dataset.load, split))
            _check_split(name, split, arrays)
            again = dataset.load(split)
            for key in ("x", "y", "factors"):
                if not np.array_equal(getattr(arrays, key), getattr(again, key)):
                    raise _fail(name, f"two loads of the '{split}' split gave different '{key}' (not deterministic)")
            loaded = _attempt(name, f"genkit's loader on the '{split}' split",
                              functools.partial(load_split, spec, split))
            shapes.add(loaded.x.shape[1:])
    if len(shapes) != 1:
        raise _fail(name, f"its splits have different example shapes: {sorted(shapes)}")


#: The check of each component kind.
CHECKS: dict[str, Callable[..., None]] = {
    "encoder": check_encoder,
    "decoder": check_decoder,
    "posterior": check_posterior,
    "likelihood": check_likelihood,
    "prior": check_prior,
    "divergence": check_divergence,
    "dataset": check_dataset,
}

__all__ = [
    "CHECKS",
    "check_dataset",
    "check_decoder",
    "check_divergence",
    "check_encoder",
    "check_likelihood",
    "check_posterior",
    "check_prior",
]
