"""A pytest plugin (loaded by conftest.py): under ``--dist loadgroup`` (pyproject's addopts) the tests
of a module that share one of its module-scoped fixtures (a trained run, an installed package) run in
one worker, which computes the fixture once; every other test goes to whichever worker is free, so no
file's tests wait behind another long file at the end of the run. Tests marked ``slow`` are handed
out first: at the end of the run a worker holds up to three tests ahead, and one of 20-40 s there
left the other worker idle for as long. tests/test_worker_groups.py checks that the installed
pytest and pytest-xdist honour both."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test that uses a module-scoped fixture with its module's ``xdist_group``, unless the
    test names a group of its own (a finer one: e.g. one per trained preset, so that a long module's
    tests can share both workers); then move the ``slow`` tests, with the rest of their group, to
    the front (a stable sort: otherwise in their order)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        definitions = getattr(item, "_fixtureinfo", None)
        scopes = {d.scope for defs in (definitions.name2fixturedefs.values() if definitions else ()) for d in defs}
        if "module" in scopes:
            module = getattr(item, "module", None)
            item.add_marker(pytest.mark.xdist_group(module.__name__ if module else item.nodeid))
    slow_groups = {_group(item) for item in items if item.get_closest_marker("slow") is not None}
    # xdist hands out groups by their number of tests, most first, and keeps this order among equals
    items.sort(key=lambda item: _group(item) not in slow_groups)


def _group(item: pytest.Item) -> str:
    """The item's worker group: its ``xdist_group`` name, or its own node id when it has none."""
    marker = item.get_closest_marker("xdist_group")
    return item.nodeid if marker is None else str(marker.args[0])
