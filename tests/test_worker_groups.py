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


@pytest.mark.parametrize("case", range(4))
def test_shared(shared, case):
    pass


@pytest.mark.parametrize("case", range(4))
def test_alone(case):
    pass
'''


def test_tests_sharing_a_module_fixture_run_in_one_worker_that_builds_it_once(tmp_path):
    (tmp_path / "test_shared.py").write_text(SHARED_FIXTURE_TESTS)
    log = tmp_path / "setups.txt"
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "SETUP_LOG": str(log), "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "worker_groups", "-p", "no:cacheprovider", "-n", "2",
         "--dist", "loadgroup", "-v", "test_shared.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(log.read_text().split()) == 1, done.stdout  # built once, in one worker
    workers = {line.split()[0] for line in done.stdout.splitlines() if "PASSED test_shared.py::test_shared" in line}
    assert len(workers) == 1, done.stdout
