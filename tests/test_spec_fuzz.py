"""Fuzzing what a user gives genkit: any spec, data array or command-line option gives a valid
result or a clean error, nothing else.

Specs: arbitrary text, text built from YAML's syntax characters, arbitrary nested plain data,
and a valid spec with one value anywhere replaced by arbitrary data (this reaches the
plugin-argument, optimizer and cross-component checks); a spec that validates must also survive
the round trip the run directory makes (``to_dict`` -> YAML -> parse) unchanged. Run names: a
name the spec accepts is one path component under runs/. Data: arrays of any dtype, shape and
values (and labels) in an .npz file are refused with a GenkitError or come out as what training
assumes (finite float32 examples, whole class indices or finite label vectors). Options: the
``sample`` and ``evaluate`` commands with any values exit with 0 or 2, never a traceback. The
option and data examples are fewer (each loads data or a model).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TINY_VAE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from genkit.assembly.data import prepare_data
from genkit.cli import main
from genkit.errors import GenkitError
from genkit.plugin.registry import registry
from genkit.runs.layout import default_run_dir
from genkit.spec.resolve import parse_spec_text, resolve
from genkit.spec.schema import Spec, run_name_problem
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


@FUZZ
@given(st.text(max_size=300) | st.sampled_from([".", "..", "", "a/b", "/", "~", " ", "\0", "-x", "x" * 256]))
def test_an_accepted_run_name_is_one_path_component_under_runs(name):
    if run_name_problem(name) is None:
        path = default_run_dir(name)
        assert path.parent == Path("runs") and path.name == name and len(path.parts) == 2
        assert len(name.encode()) <= 255


CONTROL = Path(__file__).parent / "bad_inputs" / "control.yaml"
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])

dtypes = st.sampled_from([np.uint8, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_, np.complex64])
special = st.sampled_from([0.0, 1.0, 255.0, -1.0, 0.5, np.nan, np.inf, -np.inf, 1e39, 2.0**31, -(2.0**70)])


def _cast(value: float, dtype: type) -> object:
    with np.errstate(over="ignore", invalid="ignore"):  # 1e39 as float16 is inf, on purpose
        return np.asarray(value).astype(dtype).item()


def _arrays(shapes: st.SearchStrategy) -> st.SearchStrategy:
    """Arrays of any numeric dtype and these shapes, values drawn to include the awkward ones, or text."""
    numeric = dtypes.flatmap(lambda dtype: hnp.arrays(
        dtype, shapes, elements=special.map(lambda v: _cast(v, dtype)) if np.dtype(dtype).kind in "fc" else None))
    return numeric | hnp.arrays(np.dtype("<U2"), shapes)


examples = _arrays(st.tuples(st.integers(0, 25)) | st.tuples(st.integers(0, 25), st.integers(0, 4))
                   | st.tuples(st.integers(1, 25), st.integers(1, 3), st.integers(1, 3)))


@FEW
@given(x=examples, y=st.none() | _arrays(st.tuples(st.integers(0, 25)) | st.tuples(st.integers(0, 25), st.just(2))),
       conditional=st.booleans(), binarize=st.sampled_from(["none", "dynamic"]),
       likelihood=st.sampled_from(["bernoulli", "gaussian", "continuous_bernoulli", "categorical_8bit"]))
def test_any_data_array_is_refused_cleanly_or_comes_out_as_training_assumes(tmp_path, x, y, conditional, binarize,
                                                                          likelihood):
    path = tmp_path / "fuzz.npz"
    np.savez(path, x_train=x, **({} if y is None else {"y_train": y}))
    raw = {**TINY_VAE, "conditional": conditional, "likelihood": likelihood,
           "data": {"type": "npz", "path": str(path), "labels": None if y is None else "y_train",
                    "binarize": binarize, "validation_split": 0.0},
           "train": {"epochs": 1, "batch_size": 1}}
    try:
        spec = resolve(raw)
        data = prepare_data(spec)
        head = registry("likelihood").get(likelihood).obj(data_shape=data.data_shape)
        problem = head.check_data(data.train.x)
    except GenkitError:
        return
    x_out, y_out = data.train.x, data.train.y
    assert x_out.dtype == np.float32 and np.all(np.isfinite(x_out)) and x_out.ndim >= 2
    if binarize != "none":
        assert x_out.min() >= 0 and x_out.max() <= 1
    if y_out is not None:
        assert (y_out.dtype == np.int64 and y_out.ndim == 1 and y_out.min() >= -1) or (
            y_out.dtype == np.float32 and y_out.ndim == 2 and np.all(np.isfinite(y_out)))
    assert problem is None or isinstance(problem, str)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz-run") / "run"
    assert CliRunner().invoke(main, ["run", str(CONTROL), "--out", str(out), "-q"]).exit_code == 0
    return out


numbers = (st.integers(-3, 30) | st.sampled_from([2**31 - 1, 2**31, 2**63, 2**70, -(2**70), 10**7, 10**7 + 1])).map(str)
option_values = numbers | st.sampled_from(["", "x", "1.5", "nan", "-", "--", "\0"])


def _assert_clean(result) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output


@FEW
@given(n=option_values, seed=st.none() | option_values, label=st.none() | option_values,
       out=st.sampled_from(["s.png", "s.npy", "s.jpeg", "", "missing/s.png", "s\0.png", "."]))
def test_sample_with_any_options_exits_0_or_2(finished_run, tmp_path, n, seed, label, out):
    args = ["sample", str(finished_run), "-n", n, "--out", str(tmp_path / out) if out else ""]
    args += [] if seed is None else ["--seed", seed]
    args += [] if label is None else ["--label", label]
    _assert_clean(CliRunner().invoke(main, args))


#: Importance samples: every class of value but the largest valid one (10**7 samples per example is
#: accepted, and would take hours, not a clean exit).
k_values = option_values.filter(lambda value: value != str(10**7))


@FEW
@given(k=k_values, batch=option_values, seed=option_values,
       split=st.sampled_from(["test", "train", "validation", ""]))
def test_evaluate_with_any_options_exits_0_or_2(finished_run, k, batch, seed, split):
    args = ["evaluate", str(finished_run), "-k", k, "--batch-size", batch, "--seed", seed, "--split", split]
    _assert_clean(CliRunner().invoke(main, args))
