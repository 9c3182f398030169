"""The core is laid out by stage, and no module imports a later stage or takes part in a cycle.

Every ``import`` statement of every module under ``genkit/`` is read from the source (function-level
and ``TYPE_CHECKING`` imports included, since a lazy import is still a dependency), so the test
sees what a reader sees, not what happens to be imported at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import genkit

ROOT = Path(genkit.__file__).parent

#: The stages of the data flow, first to last. A module may import its own stage and earlier ones.
#: ``cache``, ``errors``, ``quiet``, ``signals`` and ``version`` are ground-level modules
#: (``signals`` imports ``errors``).
STAGES = ["ground", "plugin", "spec", "assembly", "training", "results", "runs", "top"]
GROUND = {"genkit.cache", "genkit.errors", "genkit.quiet", "genkit.signals", "genkit.version"}
TOP = {"genkit", "genkit.cli", "genkit.testing", "genkit.scaffold"}
#: Packages of the top stage: the conformance properties behind genkit.testing.
TOP_PACKAGES = ("genkit.conformance",)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def stage_of(module: str) -> str:
    if module in GROUND:
        return "ground"
    if module in TOP or module.startswith(TOP_PACKAGES):
        return "top"
    return module.split(".")[1]


def imports_in(source: str, package: str, known: set[str]) -> set[str]:
    """The ``known`` modules that the imports anywhere in ``source`` refer to: ``import a.b`` is
    ``a.b``; ``from a import b`` is ``a.b`` when that is a module, else ``a``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up node.level - 1 levels
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names)
    return found & known


def imported_modules(module: str) -> set[str]:
    """The genkit modules ``module`` imports (at the top, inside functions or for type checking)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package, set(MODULES)) - {module}


GRAPH = {module: imported_modules(module) for module in MODULES}


def test_every_module_belongs_to_a_stage():
    for module in MODULES:
        assert stage_of(module) in STAGES, f"{module} is in no stage folder"


def test_every_stage_folder_says_its_job():
    for folder in sorted(p for p in ROOT.iterdir() if p.is_dir() and p.name != "__pycache__"):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 15, f"{folder.name}/__init__.py needs a docstring saying its job"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_later_stage(module):
    rank = STAGES.index(stage_of(module))
    later = sorted(name for name in GRAPH[module] if STAGES.index(stage_of(name)) > rank)
    assert not later, f"{module} ({stage_of(module)}) imports later stages: {later}"


def test_no_import_cycle():
    """Depth-first search over the import graph; a back edge is a cycle, reported as its path."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module)


def test_the_parser_sees_lazy_and_type_checking_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from genkit.runs.train import train\n"
        "def later():\n    import genkit.results.report\n    from genkit.spec import resolve\n"
    )
    found = imports_in(source, "genkit.plugin", set(MODULES))
    assert found == {"genkit.runs.train", "genkit.results.report", "genkit.spec.resolve"}
