"""The README's quick start and CI stay in step."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


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
