"""A pytest plugin (loaded by conftest.py): under ``--dist loadgroup`` (pyproject's addopts) the tests
of a module that share one of its module-scoped fixtures (a trained run, an installed package) run in
one worker, which computes the fixture once; every other test goes to whichever worker is free, so no
file's tests wait behind another long file at the end of the run. tests/test_worker_groups.py checks
that the installed pytest and pytest-xdist honour it."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test that uses a module-scoped fixture with its module's ``xdist_group``."""
    for item in items:
        definitions = getattr(item, "_fixtureinfo", None)
        scopes = {d.scope for defs in (definitions.name2fixturedefs.values() if definitions else ()) for d in defs}
        if "module" in scopes:
            module = getattr(item, "module", None)
            item.add_marker(pytest.mark.xdist_group(module.__name__ if module else item.nodeid))
