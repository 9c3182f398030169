"""Safe YAML loading that remembers on which line every key path was written.

Only YAML's plain data types are built (no ``!!python/...`` tags). Floats written the way people
write them in Python (``1e-3``) are floats here, not the strings YAML 1.1 makes of them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from genkit.errors import SpecError
from genkit.plugin.paths import path_problem

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader with Python-style floats and without timestamps (a spec holds no dates)."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_SpecLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))

LineMap = dict[tuple[str | int, ...], int]


#: How many nodes a spec may have, counting every use of an alias (a spec has a few dozen).
MAX_NODES = 10_000


def _check_nodes(node: yaml.Node, path: tuple[str | int, ...], source: str | None, seen: list[int],
                 active: frozenset[int] = frozenset()) -> None:
    """Refuse what safe YAML still allows but a spec must not hold, before anything is built.

    A key written twice in one mapping (YAML would silently keep the last), an alias that
    contains itself, and alias fan-out past :data:`MAX_NODES` ("billion laughs").
    """
    def fail(message: str, at: tuple[str | int, ...], mark: yaml.Mark) -> None:
        raise SpecError(message, ".".join(str(p) for p in at), source, mark.line + 1)

    seen[0] += 1
    if seen[0] > MAX_NODES:
        fail(f"the spec has more than {MAX_NODES} values (counting each use of an alias)", path, node.start_mark)
    if id(node) in active:
        fail("an alias refers to a value that contains it (recursive YAML)", path, node.start_mark)
    inner = active | {id(node)}
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in first_line and key != "<<":
                fail(f"duplicate key (first written on line {first_line[key]})", (*path, key), key_node.start_mark)
            first_line[key] = key_node.start_mark.line + 1
            _check_nodes(value_node, (*path, key), source, seen, inner)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_nodes(item, (*path, index), source, seen, inner)


def _collect_lines(node: yaml.Node, path: tuple[str | int, ...], lines: LineMap) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*path, str(key_node.value))
            _collect_lines(value_node, key_path, lines)
            lines[key_path] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*path, index), lines)


def parse_yaml(text: str, source: str | None = None) -> tuple[Any, LineMap]:
    """Parse YAML text safely; return the data and a map from key path to 1-based line."""
    try:
        loader = _SpecLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, {}
            _check_nodes(node, (), source, [0])
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        column = f", column {mark.column + 1}" if mark else ""
        problem = ", ".join(filter(None, [err.context, err.problem])) or "malformed YAML"
        if isinstance(err, yaml.constructor.ConstructorError) and "tag" in problem:
            problem += " (only plain YAML data is allowed in a spec: tags such as !!python/object are refused)"
        raise SpecError(f"cannot parse YAML{column}: {problem}", source=source, line=line) from None
    except yaml.YAMLError as err:
        raise SpecError(f"cannot parse YAML: {str(err).splitlines()[0]}", source=source) from None
    except RecursionError:
        raise SpecError("cannot parse YAML: it is nested too deeply", source=source) from None
    lines: LineMap = {}
    _collect_lines(node, (), lines)
    return data, lines


#: How binary files a user may give instead of a spec begin, and what they are.
_BINARY_KINDS = {b"PK\x03\x04": "a zip archive (as .npz data files are)", b"\x93NUMPY": "a NumPy .npy array",
                 b"\x89HDF": "an HDF5 file (as .h5 data files are)", b"\x89PNG": "a PNG picture"}


def read_yaml_file(path: str | Path) -> tuple[Any, LineMap]:
    """Read and parse a YAML file; a missing, unreadable or binary file (a data file given where a
    spec belongs) is a :class:`SpecError` saying what it is."""
    problem = path_problem(path)
    if problem:
        raise SpecError("file not found" if problem == "not found" else f"cannot read the spec file: {problem}",
                        source=str(path))
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SpecError(f"cannot read file: {err.strerror or err}", source=str(path)) from None
    kind = next((name for magic, name in _BINARY_KINDS.items() if raw.startswith(magic)), None)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text, kind = "", kind or "binary data, not UTF-8 text"
    if kind is None and "\0" in text:
        kind = "binary data (it holds NUL bytes)"
    if kind is not None:
        raise SpecError(f"not a spec: the file is {kind}; a spec is a YAML text file (its data section names "
                        "the data files)", source=str(path))
    return parse_yaml(text, source=str(path))


def dump_yaml(data: Any) -> str:
    """Write plain data as block-style YAML, keys in the order given."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
