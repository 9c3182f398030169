"""Instantiate a registered plugin from its resolved spec entry."""

from __future__ import annotations

from typing import Any

from genkit.errors import SpecError
from genkit.plugin.registry import registry
from genkit.plugin.signature import context_arguments


def kind_problem(kind: str, name: str, plugin: Any) -> str | None:
    """Why ``plugin`` cannot serve as a ``kind`` (it must subclass that kind's base), or None."""
    from genkit.plugin.contracts import BASES

    if isinstance(plugin, type) and issubclass(plugin, BASES[kind]):
        return None
    return f"plugin '{name}' is registered as a {kind} but is not a genkit.{BASES[kind].__name__} subclass"


def instantiate(kind: str, entry: dict[str, Any], path: str, context: dict[str, Any] | None = None) -> Any:
    """Build plugin ``entry["type"]`` of ``kind`` with its spec arguments plus the context it asks for.

    A plugin constructor that rejects a value (``ValueError``/``TypeError``) becomes a
    :class:`SpecError` naming the spec key.
    """
    from genkit.spec.resolve import DATA_OPTION_KEYS  # genkit.spec imports this module

    plugin = registry(kind).get(entry["type"], where=path).obj
    problem = kind_problem(kind, entry["type"], plugin)
    if problem:
        raise SpecError(problem, path)
    context = context or {}
    wanted = {name: context[name] for name in context_arguments(plugin) if name in context}
    args = {k: v for k, v in entry.items() if k != "type" and not (kind == "dataset" and k in DATA_OPTION_KEYS)}
    try:
        return plugin(**wanted, **args)
    except (ValueError, TypeError) as err:
        raise SpecError(f"{kind} '{entry['type']}' rejected its arguments: {err}", path) from None
