"""Every benchmark script imports: the benchmarks are not run by the suite (they take minutes to
hours), so a name one of them imports from another (a shared helper renamed or moved) would
otherwise break it unnoticed until somebody runs it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(path.stem for path in BENCHMARKS.glob("*.py")))
def test_benchmark_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as when the script runs: its folder first on sys.path
    for name in [name for name in sys.modules if (getattr(sys.modules[name], "__file__", None) or "").startswith(
            str(BENCHMARKS))]:
        monkeypatch.delitem(sys.modules, name)  # imported afresh, with the script's own imports
    module = importlib.import_module(script)
    assert callable(getattr(module, "main", None)) or script == "machine"
