"""The README's quick start and CI stay in step, and the plugin it shows passes the conformance suite as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from genkit.testing import CheckFailure, checks

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def section_python_blocks(title: str) -> list[str]:
    """The ```python blocks of one ``## title`` section of the README, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)\n```", section, flags=re.S)


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    install_and_run, install_and_test = readme_commands()[:2]
    assert install_and_run == "pip install -e . && genkit run examples/vae_shapes.yaml"
    assert (ROOT / "examples" / "vae_shapes.yaml").is_file()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_and_test in ci_lines
    assert ci_lines[-1] == install_and_test  # the test command is what decides CI's exit code


def test_layout_section_names_every_stage_folder_and_example_plugin_package():
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    folders = [path.name for path in sorted((ROOT / "genkit").iterdir()) if (path / "__init__.py").is_file()]
    packages = [path.name for path in sorted((ROOT / "examples" / "plugins").iterdir()) if path.is_dir()]
    assert [name for name in (*(f"{f}/" for f in folders), *packages) if name not in layout] == []


def test_the_readme_plugin_passes_every_conformance_check_with_its_own_test():
    plugin, test = section_python_blocks("Writing a plugin")
    namespace: dict = {"__name__": "readme_plugin"}
    exec(compile(plugin, "README.md (the plugin)", "exec"), namespace)  # noqa: S102 - the README's own code
    exec(compile(test, "README.md (its test)", "exec"), namespace)  # noqa: S102
    test_student_t = namespace["test_student_t"]
    (mark,) = test_student_t.pytestmark
    params = mark.args[1]
    assert [param.id for param in params] == [
        "docstring_describes_arguments", "arguments_are_typed", "wrong_typed_argument_is_a_spec_error", "shapes",
        "finite", "seeded", "gradients", "tf_function", "weights_round_trip", "state_updates"]
    for param in params:
        test_student_t(*param.values)  # each raises CheckFailure if its property does not hold


def test_without_its_args_section_the_readme_plugin_fails_the_docstring_check():
    """The check the README plugin once failed still holds it to describing ``df``."""
    plugin = section_python_blocks("Writing a plugin")[0]
    undocumented = re.sub(r"\n\n    Args:\n.*?\n    \"\"\"", '"""', plugin, flags=re.S)
    assert "Args:" not in undocumented
    namespace: dict = {"__name__": "readme_plugin"}
    exec(compile(undocumented, "README.md (without Args)", "exec"), namespace)  # noqa: S102
    docstring = next(c for c in checks("prior", namespace["StudentT"], {"df": 5.0})
                     if c.id == "docstring_describes_arguments")
    with pytest.raises(CheckFailure, match="the docstring does not describe spec argument 'df'"):
        docstring()
