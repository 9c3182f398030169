"""Installing a plugin package as a user does: pip, into a fresh ``--target`` directory, for the
tests of the example and generated packages."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from genkit.plugin.registry import reload_plugins


def pip_install(source: Path, target: Path) -> None:
    """``pip install`` the package at ``source`` into ``target`` (no dependencies, no index, no build
    isolation: genkit and setuptools come from this environment)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr


@contextlib.contextmanager
def installed_package(package: Path, workdir: Path) -> Iterator[Path]:
    """``package`` installed into ``workdir/site`` (from a copy: builds leave files in the source),
    on ``sys.path`` and in genkit's registries inside the block. Afterwards its modules are
    forgotten and the registries reloaded without it; TFP's KL table, which ``tfd.RegisterKL``
    changes for the whole process, is put back as it was (a private table, touched by tests only),
    so tests that rely on a KL pair being absent see TFP as it was."""
    from tensorflow_probability.python.distributions import kullback_leibler

    site = workdir / "site"
    source = shutil.copytree(package, workdir / "source" / package.name)
    pip_install(source, site)
    tops = {path.name for path in site.iterdir() if (path / "__init__.py").is_file()}
    registered = dict(kullback_leibler._DIVERGENCES)
    sys.path.insert(0, str(site))
    reload_plugins()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        for name in [name for name in sys.modules if name.split(".")[0] in tops]:
            del sys.modules[name]
        kullback_leibler._DIVERGENCES.clear()
        kullback_leibler._DIVERGENCES.update(registered)
        reload_plugins()


def run_tests(path: Path, tmp_path: Path) -> list[str]:
    """Run a package's test file in this process (TensorFlow and genkit are loaded once), as pytest
    would: every ``test_*`` function in file order, once per case of its ``pytest.mark.parametrize``
    (cases given as ``pytest.param``, as :func:`genkit.testing.parametrize_checks` gives them),
    with a fresh directory where it asks for ``tmp_path`` (the only fixture supported). A failing
    test raises; returns the ids of the tests run."""
    loader = importlib.util.spec_from_file_location(f"package_tests_{path.stem}", path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    ran: list[str] = []
    for name, test in list(vars(module).items()):
        if not (name.startswith("test_") and inspect.isfunction(test)):
            continue
        cases = [(f"{name}[{case.id}]", case.values) for mark in getattr(test, "pytestmark", [])
                 if mark.name == "parametrize" for case in mark.args[1]] or [(name, ())]
        for case_id, values in cases:
            fixtures = {}
            if "tmp_path" in inspect.signature(test).parameters:
                fixtures["tmp_path"] = tmp_path / f"case{len(ran)}"
                fixtures["tmp_path"].mkdir()
            test(*values, **fixtures)
            ran.append(case_id)
    return ran
