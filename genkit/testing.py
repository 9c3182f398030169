"""The public conformance suite: the properties every genkit plugin has, built-in or third-party.

A plugin author checks a plugin from their own tests, one pytest result per property (as
scikit-learn's ``parametrize_with_checks`` does for estimators)::

    from genkit.testing import parametrize_checks

    @parametrize_checks("prior", StudentT, {"df": 5.0})
    def test_student_t(check):
        check()

which pytest reports as ``test_student_t[docstring_describes_arguments]``,
``test_student_t[shapes]``, ``test_student_t[gradients]`` ... so every failing property shows at
once. ``check_prior(StudentT, {"df": 5.0})`` (one function per kind, :data:`CHECKS`) runs the
same checks in one test and raises one ``AssertionError`` listing every property that fails.

Each check builds the plugin the way genkit does (spec arguments validated against its typed
``__init__`` signature, context arguments such as ``latent_dim`` supplied by the check) and the
failure names the plugin, the property and what is wrong. Where they apply to the kind, the
properties are: the docstring names every spec argument, each argument is typed and a
wrong-typed (or missing required) one is a :class:`~genkit.errors.SpecError` naming its key;
shapes and dtypes of outputs, samples and log-probabilities; finite values (reported metrics and
loss terms included); draws reproducible from a stateless seed; gradients reach every trainable
variable (and the inputs that must be differentiable); the same numbers inside ``tf.function``
as genkit's training compiles it (no AutoGraph) with an unknown batch size; identical outputs
after the weights go through a Keras ``.weights.h5`` file into a fresh instance; and
non-trainable state that changes only through ``add_update``, in training. Each kind adds its
own (a posterior or prior that takes ``latent_shape`` is also checked on a grid of codes; a
sampler's state round trip; an objective's phases ...): :func:`checks` lists them, and the
``check_*`` docstrings describe them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from genkit.conformance import SUBJECTS
from genkit.conformance.base import CheckFailure


class Check(NamedTuple):
    """One conformance property of one plugin: ``id`` names the property, calling the check
    checks it and raises :class:`CheckFailure` (an ``AssertionError``) saying what is wrong."""

    id: str
    run: Callable[[], None]

    def __call__(self) -> None:
        self.run()


def checks(kind: str, cls: type, args: Mapping[str, Any] | None = None, **options: Any) -> list[Check]:
    """The checks of a ``kind`` plugin class with spec arguments ``args``, one per property.

    ``options`` are those of the kind's ``check_<kind>`` function (``latent_shape``,
    ``data_shape``, ``setup`` ...). Nothing is built until a check runs, and the checks of one call
    share what they build (an instance, an assembled model), so running them all costs what one
    ``check_<kind>`` call costs. Raises ``AssertionError`` at once when ``cls`` is no subclass of
    the kind's base class or ``args`` are not valid spec arguments of it: then no property can be
    checked.
    """
    if kind not in SUBJECTS:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(SUBJECTS)}")
    subject = SUBJECTS[kind](cls, args, **options)
    return [Check(prop, functools.partial(subject.run, prop)) for prop in subject.check_ids()]


def parametrize_checks(kind: str, cls: type, args: Mapping[str, Any] | None = None, **options: Any) -> Any:
    """A ``pytest.mark.parametrize`` of a test's ``check`` argument over :func:`checks`, with the
    property as the pytest id: decorate a test taking ``check`` and calling it."""
    import pytest

    return pytest.mark.parametrize("check", [pytest.param(c, id=c.id) for c in checks(kind, cls, args, **options)])


def run_checks(kind: str, cls: type, args: Mapping[str, Any] | None = None, **options: Any) -> None:
    """Run every check of a plugin; if any fails, raise one ``AssertionError`` listing each failing
    property with what is wrong (properties failing for the same reason share a line)."""
    found = checks(kind, cls, args, **options)
    failures: list[CheckFailure] = []
    for check in found:
        try:
            check()
        except CheckFailure as failure:
            failures.append(failure)
    if failures:
        grouped: dict[str, list[str]] = {}
        for failed in failures:
            grouped.setdefault(failed.detail, []).append(failed.check)
        lines = [f"  {', '.join(names)}: {detail}" for detail, names in grouped.items()]
        raise AssertionError(f"{failures[0].plugin} fails {len(failures)} of {len(found)} conformance checks:\n"
                             + "\n".join(lines)) from failures[0]


def _check_function(kind: str) -> Callable[..., None]:
    """``check_<kind>(cls, args=None, **options)``: :func:`run_checks` for one kind, with the kind's
    options as its signature and the kind's properties as its docstring."""

    def check(cls: type, args: Mapping[str, Any] | None = None, **options: Any) -> None:
        run_checks(kind, cls, args, **options)

    functools.update_wrapper(check, SUBJECTS[kind], assigned=("__doc__",), updated=())
    check.__name__ = check.__qualname__ = f"check_{kind}"
    return check


check_encoder = _check_function("encoder")
check_decoder = _check_function("decoder")
check_posterior = _check_function("posterior")
check_likelihood = _check_function("likelihood")
check_prior = _check_function("prior")
check_divergence = _check_function("divergence")
check_corruption = _check_function("corruption")
check_objective = _check_function("objective")
check_sampler = _check_function("sampler")
check_dataset = _check_function("dataset")
check_callback = _check_function("callback")

#: The check of each component kind (every kind genkit has).
CHECKS: dict[str, Callable[..., None]] = {
    "encoder": check_encoder,
    "decoder": check_decoder,
    "posterior": check_posterior,
    "likelihood": check_likelihood,
    "prior": check_prior,
    "divergence": check_divergence,
    "corruption": check_corruption,
    "objective": check_objective,
    "sampler": check_sampler,
    "dataset": check_dataset,
    "callback": check_callback,
}

__all__ = [
    "CHECKS",
    "Check",
    "CheckFailure",
    "check_callback",
    "check_corruption",
    "check_dataset",
    "check_decoder",
    "check_divergence",
    "check_encoder",
    "check_likelihood",
    "check_objective",
    "check_posterior",
    "check_prior",
    "check_sampler",
    "checks",
    "parametrize_checks",
    "run_checks",
]
