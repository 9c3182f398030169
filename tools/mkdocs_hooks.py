"""mkdocs hooks: pages generated at build time, so the reference cannot go stale.

- ``reference/spec.md``: every registered component of every kind (entry points of the installed
  packages), with its arguments, types, defaults and full docstring, plus the top-level spec keys.
- ``reference/cli.md``: the help of every ``genkit`` command, from click itself.
- ``<!-- include: PATH -->`` in a page becomes a fenced code block holding the file at PATH
  (relative to the repository root), so example specs are shown exactly as they are;
  ``<!-- include: PATH#NAME -->`` holds only the top-level class or function NAME of a Python file.
- ``<!-- members: MODULE.CLASS -->`` becomes a table of the class's own public members (signatures
  and types as written in the code, the first paragraph of each docstring or ``#:`` comment), its
  bases and, for a contract, the context names its ``__init__`` may ask for.
- ``<!-- builtins: KIND -->`` becomes a table of the plugins of KIND that genkit itself registers.
- ``<!-- check: KIND -->`` becomes the signature and docstring of ``genkit.testing.check_KIND``, or
  a sentence saying the conformance suite has no check of that kind.

So the plugin contract pages cannot drift from ``genkit/plugin/`` and ``genkit/testing.py``.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import click
import pydantic
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r"<!-- include: (\S+) -->")
MEMBERS = re.compile(r"<!-- members: (\S+) -->")
BUILTINS = re.compile(r"<!-- builtins: (\w+) -->")
CHECK = re.compile(r"<!-- check: (\w+) -->")
FENCE = {".yaml": "yaml", ".py": "python", ".toml": "toml"}


def _entities(text: str) -> str:
    """HTML-escaped text that markdown leaves alone inside a table cell: a raw pipe (``int | None``)
    would end the cell, and ``__init__`` or ``*args`` would become emphasis."""
    return html.escape(text).replace("|", "&#124;").replace("_", "&#95;").replace("*", "&#42;")


def _cell(text: str) -> str:
    """Code in a table cell."""
    return "<code>" + _entities(text) + "</code>"


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
    from genkit.spec.schema import DataOptions, TopLevel, TrainSpec

    def keys(names: tuple[str, ...] | list[str]) -> str:
        return ", ".join(f"`{name}`" for name in names)

    out = [
        "# Spec reference",
        "",
        "Generated from the registry when this site was built: every component installed then, with "
        "the arguments a spec may give it (its typed `__init__`), their defaults, and its docstring. "
        "`genkit list KIND` prints the same from your own installation.",
        "",
        "## Top-level keys",
        "",
        *_fields_table(TopLevel),
        "",
        "The code size is `latent_dim` (a flat code) or `latent_shape` (a grid of codes, e.g. `[7, 7, 64]`): "
        "exactly one of them. `model` is a preset (" + keys(list(PRESETS)) + "); `conditional` left out "
        "means the preset's choice.",
        "",
        "Besides these: `data` (a dataset below, plus the data options), `train`, and one key per component "
        f"kind: {keys(COMPONENT_KEYS)}. A component key left out takes the preset's component; "
        f"{keys(OPTIONAL_COMPONENT_KEYS)} may be left without one (or set to null).",
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
        out += ["", f"## {kind.capitalize()}s", "",
                f"Spec key `{key}`; entry point group `{group}`; the contract: [{kind}](../contracts/{kind}.md)."]
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


def _inline(text: str) -> str:
    """Docstring text (reST roles and double backticks allowed) as HTML safe inside a table cell."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text).replace("``", "`")
    parts = text.split("`")
    return "".join(_cell(part) if index % 2 else _entities(part) for index, part in enumerate(parts))


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _documented_fields(cls: type) -> dict[str, str]:
    """``#:`` comments above attributes in the class body, and ``Attributes:`` entries of its docstring."""
    found: dict[str, str] = {}
    doc = inspect.getdoc(cls) or ""
    section = re.search(r"^Attributes:\n((?:    .*\n?|\n)*)", doc, flags=re.M)
    if section:
        for name, text in re.findall(r"^    (\w+): (.*(?:\n        .*)*)", section.group(1), flags=re.M):
            found[name] = " ".join(text.split())
    lines, _ = inspect.getsourcelines(cls)
    comment: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#:"):
            comment.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+)\s*[:=]", stripped)
        if comment and match and line.startswith("    ") and not line.startswith("     "):
            found[match.group(1)] = " ".join(comment)
        comment = []
    return found


def _annotation(value: Any) -> str:
    return value if isinstance(value, str) else inspect.formatannotation(value)


def _signature(function: Any) -> str:
    """``(self, q: tfd.Distribution, ...) -> tf.Tensor`` with the annotations as written in the code."""
    signature = inspect.signature(function)
    parts, keyword_only = [], False
    for param in signature.parameters.values():
        text = {param.VAR_POSITIONAL: "*", param.VAR_KEYWORD: "**"}.get(param.kind, "") + param.name
        if param.kind == param.KEYWORD_ONLY and not keyword_only:
            parts.append("*")
            keyword_only = True
        if param.annotation is not param.empty:
            text += f": {_annotation(param.annotation)}"
        if param.default is not param.empty:
            text += f" = {param.default!r}" if param.annotation is not param.empty else f"={param.default!r}"
        parts.append(text)
    returned = signature.return_annotation
    return f"({', '.join(parts)})" + ("" if returned is signature.empty else f" -> {_annotation(returned)}")


def _own_members(cls: type) -> list[tuple[str, str, str]]:
    """(name, signature or type, summary) of the public members a class itself defines."""
    fields = _documented_fields(cls)
    annotations = vars(cls).get("__annotations__", {})
    rows: list[tuple[str, str, str]] = []
    names = [*annotations, *(name for name in vars(cls) if name not in annotations)]
    for name in names:
        if name in ("context_args", "model_config") or (name.startswith("_") and name not in ("__init__", "__call__")):
            continue
        value = vars(cls).get(name, dataclasses.MISSING)
        if isinstance(value, (classmethod, staticmethod)):
            value = value.__func__
        if isinstance(value, property):
            returned = inspect.signature(value.fget).return_annotation
            kind = "property" + ("" if returned is inspect.Signature.empty else f": {_annotation(returned)}")
            rows.append((name, kind, _first_paragraph(inspect.getdoc(value.fget))))
        elif inspect.isfunction(value):
            inherited = value.__qualname__ != f"{cls.__qualname__}.{name}"
            if name == "__init__" and (dataclasses.is_dataclass(cls) or inherited):
                continue
            summary = _first_paragraph(value.__doc__ and inspect.cleandoc(value.__doc__))
            if name == "__init__" and not summary:
                summary = "what ``super().__init__`` takes"
            rows.append((name, _signature(value), summary))
        elif name in annotations:
            shown = _annotation(annotations[name])
            if isinstance(value, dataclasses.Field):
                value = value.default
            if value is not dataclasses.MISSING and not callable(value):
                shown += f" = {value!r}"
            rows.append((name, shown, fields.get(name, "")))
    return rows


def members_table(dotted: str) -> str:
    """Markdown for ``<!-- members: MODULE.CLASS -->`` (see the module docstring)."""
    import genkit
    from genkit.plugin.component import Reporting
    from genkit.plugin.context import CONTEXT_NAMES

    module_name, _, class_name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    public = f"genkit.{class_name}" if getattr(genkit, class_name, None) is cls else dotted
    source = Path(inspect.getsourcefile(cls) or "").resolve().relative_to(ROOT)
    import keras

    def base_name(base: type) -> str:
        if base is keras.layers.Layer:
            return "keras.layers.Layer"
        return base.__name__ if base.__module__.startswith("genkit") else f"{base.__module__}.{base.__name__}"

    bases = ", ".join(f"`{base_name(base)}`" for base in cls.__bases__ if base is not object)
    lines = [f"`{public}`, defined in `{source}`" + (f"; bases: {bases}." if bases else "."), "",
             "| member | signature or type | what |", "|---|---|---|"]
    lines += [f"| `{name}` | {_cell(shown)} | {_inline(summary)} |" for name, shown, summary in _own_members(cls)]
    if issubclass(cls, Reporting) and cls is not Reporting:
        inherited = [name for name in vars(Reporting) if not name.startswith("_")]
        lines += ["", "Inherited from `Reporting`: " + ", ".join(f"`{name}`" for name in inherited) + "."]
    if "context_args" in dir(cls):
        context = frozenset(cls.context_args)
        shared, extra = sorted(context & CONTEXT_NAMES), sorted(context - CONTEXT_NAMES)
        if not context:
            lines += ["", "Context names its `__init__` may ask for: none (genkit passes it no context)."]
        else:
            said = ", ".join(f"`{name}`" for name in shared + extra)
            lines += ["", f"Context names its `__init__` may ask for (`context_args`): {said}" +
                      (f" (beyond the shared `CONTEXT_NAMES`: {', '.join(f'`{e}`' for e in extra)})"
                       if extra and shared else "") + "."]
    return "\n".join(lines)


def builtins_table(kind: str) -> str:
    """Markdown for ``<!-- builtins: KIND -->``: the plugins of KIND registered by genkit's own package."""
    from genkit.plugin.registry import BUILTIN_DISTRIBUTION, registry

    entries = [entry for entry in registry(kind).entries() if entry.origin == BUILTIN_DISTRIBUTION]
    if not entries:
        return f"genkit itself registers no {kind}."
    lines = ["| name | class | what |", "|---|---|---|"]
    for entry in entries:
        where = f"{entry.obj.__module__}.{entry.obj.__qualname__}"
        lines.append(f"| `{entry.name}` | `{where}` | {_inline(entry.summary)} |")
    return "\n".join(lines)


def check_text(kind: str) -> str:
    """Markdown for ``<!-- check: KIND -->``: the conformance check of KIND, or that there is none."""
    import genkit.testing

    check = getattr(genkit.testing, f"check_{kind}", None)
    if check is None:
        return (f"`genkit.testing` has no `check_{kind}` in this version of genkit. Exercise a plugin of this kind "
                "in a small model instead (`genkit.build(spec, data_shape=...)`, or `genkit.train` with a spec that "
                "names it), as `tests/test_docs.py` does with the example on this page.")
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", inspect.getdoc(check) or "").replace("``", "`")
    return f"```python\ngenkit.testing.check_{kind}{_signature(check)}\n```\n\n{doc}"


def on_files(files: Files, config: Any) -> Files:
    """Add the generated reference pages."""
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # the plugins import TensorFlow; keep its start-up chatter out of the build log
    for path, content in (("reference/spec.md", spec_reference()), ("reference/cli.md", cli_reference())):
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Expand the include, members, builtins and check markers (see the module docstring)."""

    def include(match: re.Match[str]) -> str:
        target, _, name = match.group(1).partition("#")
        path = ROOT / target
        text = path.read_text()
        if name:  # one top-level class or function of a Python file
            found = [node for node in ast.parse(text).body if getattr(node, "name", None) == name]
            if not found:
                raise ValueError(f"{target} has no top-level {name} (included by {page.file.src_uri})")
            text = ast.get_source_segment(text, found[0]) or ""
        return f"```{FENCE.get(path.suffix, 'text')}\n{text.rstrip()}\n```"

    markdown = INCLUDE.sub(include, markdown)
    markdown = MEMBERS.sub(lambda match: members_table(match.group(1)), markdown)
    markdown = BUILTINS.sub(lambda match: builtins_table(match.group(1)), markdown)
    return CHECK.sub(lambda match: check_text(match.group(1)), markdown)
