"""The public API: what genkit/__init__.py exports, its py.typed marker, and mypy on the public modules."""

from __future__ import annotations

import inspect
import subprocess
import sys
import tomllib
from pathlib import Path

import genkit

ROOT = Path(__file__).resolve().parent.parent

#: What mypy checks: the whole genkit package, the built-in plugins and the research plugin
#: package (whose contract methods are typed against genkit.ModelSurface, so a plugin calling
#: something the model surface does not offer fails here).
CHECKED = ["genkit", "plugins", "examples/plugins/genkit-research/genkit_research"]


def test_all_lists_every_export_and_each_resolves_with_a_docstring():
    assert sorted(genkit.__all__) == sorted(["__version__", *genkit._EXPORTS])
    for name in genkit._EXPORTS:
        value = getattr(genkit, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"genkit.{name} has no docstring"
            assert value.__module__.startswith("genkit"), name


def test_registry_is_the_function_even_after_its_module_is_imported():
    import genkit.plugin.registry as module  # noqa: F401 - what any plugin import does first

    assert genkit.registry("prior").kind == "prior"


def test_public_functions_are_fully_annotated():
    for name in ("build", "train", "load", "export", "load_spec", "register", "registry", "import_plugins"):
        signature = inspect.signature(getattr(genkit, name))
        missing = [p for p in signature.parameters.values() if p.annotation is inspect.Parameter.empty]
        assert not missing and signature.return_annotation is not inspect.Signature.empty, name


def test_py_typed_is_shipped():
    assert (ROOT / "genkit" / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["genkit"]


def test_mypy_passes_on_genkit_and_the_plugins():
    done = subprocess.run([sys.executable, "-m", "mypy", *CHECKED], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
