"""Installing a plugin package as a user does: pip, into a fresh ``--target`` directory, for the
tests of the example and generated packages."""

from __future__ import annotations

import contextlib
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
