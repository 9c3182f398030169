"""Fuzzing the spec loader: any text or structure gives a valid Spec or a GenkitError, nothing else.

Four generators: arbitrary text, text built from YAML's syntax characters, arbitrary nested
plain data, and a valid spec with one value anywhere replaced by arbitrary data (this reaches the
plugin-argument, optimizer and cross-component checks). A spec that validates must also survive
the round trip the run directory makes (``to_dict`` -> YAML -> parse) unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

from conftest import TINY_VAE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genkit.errors import GenkitError
from genkit.spec.resolve import parse_spec_text, resolve
from genkit.spec.schema import Spec
from genkit.spec.yaml_source import dump_yaml

EXAMPLES = 200
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPEC_WORDS = ["type", "name", "model", "latent_dim", "data", "train", "encoder", "decoder", "prior", "likelihood",
              "divergence", "posterior", "hidden", "epochs", "batch_size", "optimizer", "learning_rate", "seed",
              "mlp", "vae", "ae", "kl", "none", "shapes", "npz", "bernoulli", "gaussian", "standard_normal",
              "on_nan", "clip_norm", "clip_value", "checkpoint_every", "keep_checkpoints", "binarize", "path"]

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(SPEC_WORDS))
plain = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(SPEC_WORDS) | st.text(max_size=8), children, max_size=5),
    max_leaves=12,
)
yaml_text = st.lists(st.sampled_from(list(":-[]{},&*!#|>'\"\n ?%@`.0123456789abcdeklmnptvy_") + SPEC_WORDS),
                     max_size=60).map("".join)


def _check(make: Any) -> Spec | None:
    """Run ``make()``: a Spec (checked to round-trip) or a GenkitError; any other exception fails."""
    try:
        spec = make()
    except GenkitError:
        return None
    assert isinstance(spec, Spec)
    again = parse_spec_text(dump_yaml(spec.to_dict()))
    assert again.to_dict() == spec.to_dict()
    return spec


@FUZZ
@given(st.text(max_size=200))
def test_any_text(text):
    _check(lambda: parse_spec_text(text, "fuzz.yaml"))


@FUZZ
@given(yaml_text)
def test_yaml_like_text(text):
    _check(lambda: parse_spec_text(text, "fuzz.yaml"))


@FUZZ
@given(plain)
def test_any_structure(raw):
    _check(lambda: resolve(raw))


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a nested spec, containers included."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


SPEC_PATHS = _paths(TINY_VAE)


@FUZZ
@given(st.sampled_from(SPEC_PATHS), plain, st.booleans())
def test_valid_spec_with_one_value_replaced(path, value, through_yaml):
    raw = copy.deepcopy(TINY_VAE)
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    if through_yaml:
        _check(lambda: parse_spec_text(dump_yaml(raw), "fuzz.yaml"))
    else:
        _check(lambda: resolve(raw))
