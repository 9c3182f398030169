"""genkit new-plugin: the generated package installs, is listed, trains, and passes its own tests."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from plugin_install import pip_install

from genkit.cli import main
from genkit.plugin.kinds import BASES
from genkit.plugin.registry import KINDS, registry
from genkit.scaffold import TEMPLATES, new_plugin
from genkit.testing import CHECKS


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def run(command: list[str], cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """A subprocess with the test's Python; ``pythonpath`` (an install --target) comes first on sys.path."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_every_kind_has_a_template_and_a_check():
    assert set(TEMPLATES) == set(CHECKS) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_generated_package_of_each_kind_passes_its_own_tests(kind, tmp_path, monkeypatch):
    """The generated package's own tests, run on its generated plugin without installing it (its
    entry point is stood in for by an in-process registration), and the package is lint clean."""
    name = f"my_{kind}"
    root = new_plugin(kind, name, tmp_path / "pkg")
    monkeypatch.syspath_prepend(str(root))
    loader = importlib.util.spec_from_file_location(f"generated_test_{kind}", root / "tests" / f"test_{name}.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    tests = sorted(attribute for attribute in dir(module) if attribute.startswith("test_"))
    assert tests == ["test_conformance", "test_the_example_spec_uses_the_installed_plugin"]
    (plugin,) = {value for value in vars(module).values() if isinstance(value, type) and issubclass(value, BASES[kind])}
    registry(kind).add(name, plugin)
    try:
        for test in tests:
            getattr(module, test)()
    finally:
        registry(kind).remove(name)
    lint = run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W,I,B,UP",
                "--line-length", "120", str(root)], tmp_path)
    assert lint.returncode == 0, lint.stdout


def test_new_plugin_refuses_bad_names_and_existing_directories(tmp_path):
    bad = invoke("new-plugin", "Wide-Normal", "--kind", "prior", "--dir", str(tmp_path / "a"))
    assert bad.exit_code == 2 and "must be lower case letters" in bad.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    taken = invoke("new-plugin", "wide", "--kind", "prior", "--dir", str(tmp_path / "full"))
    assert taken.exit_code == 2 and "already exists and is not empty" in taken.output
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    unknown = invoke("new-plugin", "wide", "--kind", "priors")
    assert unknown.exit_code == 2 and "'priors' is not one of" in unknown.output


@pytest.mark.slow
def test_generated_prior_package_installs_lists_trains_and_passes_its_tests(tmp_path):
    package = tmp_path / "genkit-wide-normal"
    created = invoke("new-plugin", "wide_normal", "--kind", "prior", "--dir", str(package))
    assert created.exit_code == 0, created.output
    pyproject = (package / "pyproject.toml").read_text()
    assert '[project.entry-points."genkit.priors"]\nwide_normal = "genkit_wide_normal.prior:WideNormal"' in pyproject

    site = tmp_path / "site"
    pip_install(package, site)
    assert (site / "genkit_wide_normal" / "prior.py").is_file()

    genkit_cli = [sys.executable, "-m", "genkit.cli"]
    listed = run([*genkit_cli, "list", "prior"], tmp_path, site)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "wide_normal" in line)
    assert "scale: float = 1.0" in row and "genkit-wide-normal" in row and "Isotropic Gaussian prior" in row

    trained = run([*genkit_cli, "run", str(package / "examples" / "wide_normal.yaml"), "--out", "run", "-q"],
                  tmp_path, site)
    assert trained.returncode == 0, trained.stderr
    assert yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text())["prior"] == {"type": "wide_normal",
                                                                                      "scale": 1.5}
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])

    tested = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], package, site)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout
