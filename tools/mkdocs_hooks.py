"""mkdocs hooks: pages generated at build time, so the reference cannot go stale.

- ``reference/spec.md``: every registered component of every kind (entry points of the installed
  packages), with its arguments, types, defaults and full docstring, plus the top-level spec keys.
- ``reference/cli.md``: the help of every ``genkit`` command, from click itself.
- ``<!-- include: PATH -->`` in a page becomes a fenced code block holding the file at PATH
  (relative to the repository root), so example specs are shown exactly as they are.
"""

from __future__ import annotations

import html
import inspect
import re
from pathlib import Path
from typing import Any

import click
import pydantic
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r"<!-- include: (\S+) -->")
FENCE = {".yaml": "yaml", ".py": "python", ".toml": "toml"}


def _cell(text: str) -> str:
    """Code in a table cell; a raw pipe (``int | None``) would end the cell, so it is an entity."""
    return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"


def _fields_table(model: Any) -> list[str]:
    from genkit.plugin.signature import Argument

    lines = ["| key | type | default |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, pydantic.BaseModel):
            default = default.model_dump()
        _, _, described = Argument(name, field.annotation, default).describe().partition(": ")
        annotation, _, shown = described.partition(" = ")
        lines.append(f"| `{name}` | {_cell(annotation)} | {_cell(shown)} |")
    return lines


def spec_reference() -> str:
    """Markdown for every registered component, kind by kind, and the spec's own keys."""
    from genkit.plugin.registry import KINDS, registry
    from genkit.plugin.signature import spec_arguments
    from genkit.spec.presets import COMPONENT_KEYS, OPTIONAL_COMPONENT_KEYS, PRESETS
    from genkit.spec.schema import DataOptions, TrainSpec

    out = [
        "# Spec reference",
        "",
        "Generated from the registry when this site was built: every component installed then, with "
        "the arguments a spec may give it (its typed `__init__`), their defaults, and its docstring. "
        "`genkit list KIND` prints the same from your own installation.",
        "",
        "## Top-level keys",
        "",
        "`name` (str, default `run`), `model` (a preset: " + ", ".join(f"`{p}`" for p in PRESETS) + "), "
        "`latent_dim` (positive int) or `latent_shape` (a list, for a grid of codes: one of the two is "
        "required), `conditional` (bool; the preset decides when left out), `data`, one key per component "
        "kind below (" + ", ".join(f"`{key}`" for key in COMPONENT_KEYS) + "; `"
        + "`, `".join(OPTIONAL_COMPONENT_KEYS) + "` may be null), and `train` (whose `callbacks` list "
        "holds the callbacks below).",
        "",
        "### `train`",
        "",
        *_fields_table(TrainSpec),
        "",
        "### Data options (any dataset)",
        "",
        *_fields_table(DataOptions),
        "",
        "### Presets",
        "",
        "| preset | components it fills in |",
        "|---|---|",
    ]
    for preset, parts in PRESETS.items():
        out.append(f"| `{preset}` | " + ", ".join(f"{k}: `{v}`" for k, v in parts.items()) + " |")
    for kind, group in KINDS.items():
        key = "data" if kind == "dataset" else "train.callbacks[]" if kind == "callback" else kind
        out += ["", f"## {kind.capitalize()}s", "", f"Spec key `{key}`; entry point group `{group}`."]
        for entry in registry(kind).entries():
            obj = entry.obj
            out += ["", f"### `{entry.name}`", "",
                    f"`{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}` "
                    f"from package `{entry.origin}`", ""]
            arguments = spec_arguments(obj)
            if arguments:
                out += ["| argument | type | default |", "|---|---|---|"]
                for argument in arguments:
                    name, _, rest = argument.describe().partition(": ")
                    annotation, _, default = rest.partition(" = ")
                    shown = _cell(default) if default else "required"
                    out.append(f"| `{name}` | {_cell(annotation)} | {shown} |")
            else:
                out.append("No arguments.")
            doc = inspect.getdoc(obj) or ""
            out += ["", "```text", doc, "```"] if doc else []
    return "\n".join(out) + "\n"


def cli_reference() -> str:
    """Markdown with the ``--help`` of ``genkit`` and of each of its commands."""
    from genkit.cli import main

    out = ["# CLI reference", "", "Generated from the command definitions when this site was built.", ""]
    root = click.Context(main, info_name="genkit")
    out += ["## genkit", "", "```text", main.get_help(root), "```"]
    for name in sorted(main.commands):
        command = main.commands[name]
        context = click.Context(command, info_name=name, parent=root)
        out += ["", f"## genkit {name}", "", "```text", command.get_help(context), "```"]
    return "\n".join(out) + "\n"


def on_files(files: Files, config: Any) -> Files:
    """Add the generated reference pages."""
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # the plugins import TensorFlow; keep its start-up chatter out of the build log
    for path, content in (("reference/spec.md", spec_reference()), ("reference/cli.md", cli_reference())):
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace each include marker with the file it names, in a fenced block."""

    def include(match: re.Match[str]) -> str:
        path = ROOT / match.group(1)
        return f"```{FENCE.get(path.suffix, 'text')}\n{path.read_text().rstrip()}\n```"

    return INCLUDE.sub(include, markdown)
