"""examples/plugins/genkit-laplace, installed with pip and used through its entry point."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow_probability as tfp
from click.testing import CliRunner
from plugin_install import installed_package, run_tests

import genkit
from genkit.cli import main
from genkit.plugin.registry import registry
from genkit.spec.yaml_source import read_yaml_file

PACKAGE = Path(__file__).resolve().parent.parent / "examples" / "plugins" / "genkit-laplace"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package pip-installed into a fresh --target directory that is put on sys.path."""
    with installed_package(PACKAGE, tmp_path_factory.mktemp("laplace")) as site:
        yield site


def test_the_prior_is_found_through_its_entry_point(installed):
    entry = registry("prior").get("laplace")
    assert entry.origin == "genkit-laplace"
    assert Path(sys.modules[entry.obj.__module__].__file__).is_relative_to(installed)  # the installed copy
    listed = CliRunner().invoke(main, ["list", "prior"], catch_exceptions=False).output
    assert "│ laplace " in listed and "genkit-laplace" in listed


def test_the_packages_own_tests_pass_against_the_installed_package(installed, tmp_path):
    assert len(run_tests(PACKAGE / "tests" / "test_laplace.py", tmp_path)) == 3


def test_its_example_spec_trains_with_the_registered_closed_form_kl(installed, tmp_path):
    raw, _ = read_yaml_file(PACKAGE / "examples" / "laplace_vae.yaml")
    spec = genkit.load_spec(PACKAGE / "examples" / "laplace_vae.yaml")
    assert spec.components["prior"] == {"type": "laplace", "scale": 0.7, "learn_scale": True}
    raw["data"].update(size=12, n_train=300, n_test=50)  # the same model, smaller, to stay quick here
    raw["train"]["epochs"] = 2
    result = genkit.train(raw, tmp_path / "run", progress=False)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    model = genkit.load(tmp_path / "run")
    assert float(model.prior.scale) != pytest.approx(0.7, abs=1e-6)  # learn_scale: the scale trained
    x = np.random.default_rng(0).uniform(size=(6, 12, 12, 1)).astype(np.float32)
    normal = model.posterior_distribution(x).distribution  # the Normal inside tfd.Independent
    per_dimension = tfp.distributions.Laplace(0.0, model.prior.scale)
    expected = sys.modules["genkit_laplace.prior"].kl_normal_laplace(normal, per_dimension).numpy().sum(axis=-1)
    # model.elbo uses tfd.kl_divergence: it found the plugin's closed form (no Monte Carlo noise)
    np.testing.assert_allclose(model.elbo_terms(x)["kl"], expected, rtol=1e-5)
    np.testing.assert_allclose(model.elbo_terms(x, seed=1)["kl"], expected, rtol=1e-5)
