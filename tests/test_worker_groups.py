"""The suite's own scheduling (tests/worker_groups.py): under ``-n 2 --dist loadgroup`` the tests that
share a module-scoped fixture run in one worker and build it once. pytest 9.2 with pytest-xdist 3.8
silently dropped the grouping (pytest-xdist issue 1386): every shared trained run was then built on
both workers, about 100 s of the suite's 10 minutes. A pytest run of its own, on three tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SHARED_FIXTURE_TESTS = '''
import os

import pytest


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    with open(os.environ["SETUP_LOG"], "a") as log:
        log.write(f"{os.getpid()}\\n")
    return 1


@pytest.fixture(scope="module")
def unlogged():
    return 2


@pytest.mark.parametrize("case", range(4))
def test_shared(shared, case):
    pass


@pytest.mark.parametrize("case", range(4))
def test_alone(case):
    pass


@pytest.mark.parametrize("case", [pytest.param(case, marks=pytest.mark.xdist_group(f"own{case % 2}"))
                                  for case in range(4)])
def test_own_group(unlogged, case):
    pass


def test_slow_alone():
    pass


@pytest.mark.slow
def test_slow_shared(shared):
    pass
'''


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest with the suite's grouping plugin on the three-test file, in ``tmp_path``."""
    (tmp_path / "test_shared.py").write_text(SHARED_FIXTURE_TESTS.replace("def test_slow_alone", "@pytest.mark.slow\n"
                                                                          "def test_slow_alone"))
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "SETUP_LOG": str(tmp_path / "setups.txt"), "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "worker_groups", "-p", "no:cacheprovider",
                           "-W", "ignore::pytest.PytestUnknownMarkWarning", *args, "test_shared.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_tests_sharing_a_module_fixture_run_in_one_worker_that_builds_it_once(tmp_path):
    log = tmp_path / "setups.txt"
    done = _pytest(tmp_path, "-n", "2", "--dist", "loadgroup", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(log.read_text().split()) == 1, done.stdout  # built once, in one worker
    workers = {line.split()[0] for line in done.stdout.splitlines() if "PASSED test_shared.py::test_shared" in line}
    assert len(workers) == 1, done.stdout
    # a test that names its group keeps it (not its module's): each group runs in one worker
    own = [line.split()[-1] for line in done.stdout.splitlines() if "PASSED test_shared.py::test_own_group" in line]
    assert sorted(own) == [f"test_shared.py::test_own_group[{case}]@own{case % 2}" for case in range(4)], own


def test_slow_tests_come_first_with_their_whole_group(tmp_path):
    done = _pytest(tmp_path, "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    order = [line.split("::")[1] for line in done.stdout.splitlines() if "::" in line]
    shared = ["test_shared[0]", "test_shared[1]", "test_shared[2]", "test_shared[3]"]
    assert order[:6] == [*shared, "test_slow_alone", "test_slow_shared"], order  # each in its place otherwise
