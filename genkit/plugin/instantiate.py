"""Instantiate a registered plugin from its resolved spec entry, with the context it asks for."""

from __future__ import annotations

import re
from typing import Any

import keras

from genkit.errors import GenkitError, SpecError
from genkit.plugin.component import shadowed_keras_names
from genkit.plugin.kinds import BASES
from genkit.plugin.registry import registry
from genkit.plugin.signature import context_arguments


def kind_problem(kind: str, name: str, plugin: Any) -> str | None:
    """Why ``plugin`` cannot serve as a ``kind`` (it must subclass that kind's base and leave Keras'
    own layer attributes alone), or None."""
    if not (isinstance(plugin, type) and issubclass(plugin, BASES[kind])):
        return f"plugin '{name}' is registered as a {kind} but is not a genkit.{BASES[kind].__name__} subclass"
    shadowed = shadowed_keras_names(plugin) if issubclass(plugin, keras.layers.Layer) else []
    if shadowed:
        return (f"{kind} '{name}' ({plugin.__module__}.{plugin.__name__}) defines {', '.join(map(repr, shadowed))}, "
                "which Keras layers already have and Keras calls itself; rename "
                f"{'it' if len(shadowed) == 1 else 'them'} (e.g. with a leading underscore)")
    return None


def describe_exception(err: BaseException) -> str:
    """``TypeName: message`` of an exception, as error messages quote a plugin's failure.

    Keras wraps an error raised inside a layer's ``call`` in "Exception encountered when calling
    X.call()" with the real message on a later line (in terminal bold): that line is quoted.
    """
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(err).splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
        lines = [f"{lines[1]} (in {lines[0].removeprefix('Exception encountered when calling ').rstrip('.')})"]
    return f"{type(err).__name__}: {lines[0] if lines else '(no message)'}"


def instantiate(kind: str, entry: dict[str, Any], path: str, context: dict[str, Any] | None = None) -> Any:
    """Build plugin ``entry["type"]`` of ``kind`` with its spec arguments plus the context it asks for.

    ``entry`` holds the plugin's own arguments only (a dataset entry without genkit's data options).
    A constructor that rejects a value (``ValueError``/``TypeError``) becomes a :class:`SpecError`
    naming the spec key; any other exception becomes one too, naming the component and quoting the
    exception, which stays attached as the cause (``genkit --debug`` prints its traceback).
    """
    plugin = registry(kind).get(entry["type"], where=path).obj
    problem = kind_problem(kind, entry["type"], plugin)
    if problem:
        raise SpecError(problem, path)
    context = context or {}
    wanted = {name: context[name] for name in context_arguments(plugin) if name in context}
    args = {k: v for k, v in entry.items() if k != "type"}
    try:
        return plugin(**wanted, **args)
    except GenkitError:
        raise
    except (ValueError, TypeError) as err:
        raise SpecError(f"{kind} '{entry['type']}' rejected its arguments: {err}", path) from err
    except Exception as err:
        raise SpecError(f"{kind} '{entry['type']}' failed while being built: {describe_exception(err)}",
                        path) from err
