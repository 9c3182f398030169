"""examples/plugins/genkit-research, installed with pip: its own tests pass against the installed
copy, and each of its example specs trains through the entry points (one epoch on a small cut of
the data) with the metrics its plugin reports."""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from plugin_install import installed_package, run_tests

import genkit
from genkit.cli import main
from genkit.plugin.registry import registry
from genkit.spec.yaml_source import read_yaml_file

PACKAGE = Path(__file__).resolve().parent.parent / "examples" / "plugins" / "genkit-research"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The package pip-installed into a fresh --target directory that is put on sys.path."""
    with installed_package(PACKAGE, tmp_path_factory.mktemp("research")) as site:
        yield site


def test_its_own_tests_pass_against_the_installed_package(site, tmp_path):
    ran = run_tests(PACKAGE / "tests" / "test_research.py", tmp_path)
    cases = collections.Counter(case.split("[")[0] for case in ran)
    plugins = ("iwae", "beta_tc", "vector_quantized", "code_histogram")  # its test_<plugin>_conformance tests
    assert {f"test_{plugin}_conformance" for plugin in plugins} <= set(cases) and len(cases) == 8
    assert all(cases[f"test_{plugin}_conformance"] >= 8 for plugin in plugins)  # one case per property
    assert "test_vector_quantized_conformance[state_updates]" in ran


def train_example(name: str, out: Path) -> tuple[genkit.RunResult, dict[str, str]]:
    """The example spec ``name`` trained for one epoch on 200 examples; the run and its metrics.csv row."""
    raw, _ = read_yaml_file(PACKAGE / "examples" / f"{name}.yaml")
    raw["data"].update(n_train=200, n_test=50)
    raw["train"]["epochs"] = 1
    result = genkit.train(raw, out / name, progress=False)
    (row,) = csv.DictReader((out / name / "metrics.csv").open())
    return result, row


def test_the_iwae_example_trains_on_the_importance_weighted_bound(site, tmp_path):
    entry = registry("objective").get("iwae")
    assert entry.origin == "genkit-research"
    assert Path(sys.modules[entry.obj.__module__].__file__).is_relative_to(site)  # the installed copy
    _, row = train_example("iwae_shapes", tmp_path)
    bound = float(row["iwae_bound"])
    assert np.isfinite(bound) and float(row["loss"]) == pytest.approx(-bound, rel=1e-5)
    assert np.isfinite(float(row["val_iwae_bound"]))


def test_the_beta_tc_example_reports_its_decomposed_kl(site, tmp_path):
    result, row = train_example("beta_tc_shapes", tmp_path)
    assert result.model.divergence.size == 180  # N from the context: 200 examples less 10% for validation
    mi, tc, dimension_wise = (float(row[key]) for key in ("mi", "tc", "dimension_wise_kl"))
    assert float(row["divergence"]) == pytest.approx(mi + 6.0 * tc + dimension_wise, rel=1e-4)  # beta: 6
    assert {"val_mi", "val_tc", "val_dimension_wise_kl"} <= set(row)


def test_the_vq_example_trains_a_code_grid_and_samples_through_its_code_histogram(site, tmp_path):
    _, row = train_example("vq_shapes", tmp_path)
    assert float(row["commitment"]) > 0 and 1.0 <= float(row["perplexity"]) <= 32.0
    run = tmp_path / "vq_shapes"
    assert (run / "samplers" / "code_histogram.npz").is_file()
    drawn = CliRunner().invoke(main, ["sample", str(run), "-n", "6", "--seed", "3", "--out", str(tmp_path / "s.npy")],
                               catch_exceptions=False)
    assert drawn.exit_code == 0, drawn.output
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (6, 28, 28, 1) and samples.min() >= 0.0 and samples.max() <= 1.0
    model = genkit.load(run)  # an autoencoder without a prior: only its fitted sampler can draw codes
    np.testing.assert_allclose(samples, model.sample(6, seed=3), rtol=1e-5, atol=1e-6)
    codes = model.sample_latent(6, seed=3).reshape(-1, 8)
    fitted = model.sampler.vectors
    assert np.all(np.any(np.all(np.isclose(codes[:, None, :], fitted[None]), axis=-1), axis=1))
