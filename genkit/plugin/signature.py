"""A plugin's typed ``__init__`` signature as its spec schema.

Arguments in the component's ``context_args`` are supplied by genkit; the rest are spec
arguments, validated with pydantic in strict JSON mode (``"3"`` is not an int, ``3`` is a
valid float, a YAML list is a valid tuple).
"""

from __future__ import annotations

import inspect
import json
import typing
from dataclasses import dataclass
from typing import Any

import pydantic


@dataclass(frozen=True)
class Argument:
    """One spec argument of a plugin."""

    name: str
    annotation: Any
    default: Any  # inspect.Parameter.empty when required

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def describe(self) -> str:
        """``name: type = default`` as shown by ``genkit list``."""
        annotation = "Any" if self.annotation is inspect.Parameter.empty else _type_name(self.annotation)
        text = f"{self.name}: {annotation}"
        return text if self.required else f"{text} = {self.default!r}"


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _context_args(obj: Any) -> frozenset[str]:
    return frozenset(getattr(obj, "context_args", frozenset()))


def _init_of(obj: Any) -> Any:
    """What describes a plugin's arguments: a class's ``__init__``, or a factory function itself."""
    return obj.__init__ if isinstance(obj, type) else obj  # type: ignore[misc]


def spec_arguments(obj: Any) -> list[Argument]:
    """The spec arguments of a plugin class (its ``__init__`` minus context args and ``**kwargs``)."""
    context = _context_args(obj)
    target = _init_of(obj)
    try:
        signature = inspect.signature(target, eval_str=True)
    except (NameError, TypeError):
        signature = inspect.signature(target)
    arguments = []
    for param in signature.parameters.values():
        if param.name == "self" or param.name in context:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        arguments.append(Argument(param.name, param.annotation, param.default))
    return arguments


def context_arguments(obj: Any) -> set[str]:
    """Which context args a plugin's ``__init__`` accepts by name."""
    context = _context_args(obj)
    params = inspect.signature(_init_of(obj)).parameters
    return {name for name in context if name in params}


#: A validation problem: the key path below the component, and what is wrong.
Problem = tuple[tuple[Any, ...], str]


def validate_arguments(obj: Any, args: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Validate spec ``args`` for plugin ``obj``; return (all arguments with defaults, errors).

    Each error is ``(loc, message)``, ``loc`` a tuple path below the component.
    """
    fields: dict[str, Any] = {}
    for arg in spec_arguments(obj):
        annotation = Any if arg.annotation is inspect.Parameter.empty else arg.annotation
        fields[arg.name] = (annotation, ... if arg.required else arg.default)
    model = pydantic.create_model(
        f"{getattr(obj, '__name__', 'plugin')}Arguments",
        __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )
    try:
        validated = model.model_validate_json(json.dumps(args), strict=True)
    except pydantic.ValidationError as err:
        return {}, [(tuple(e["loc"]), describe_error(e)) for e in err.errors()]
    except (TypeError, ValueError) as err:
        return {}, [((), f"arguments are not plain YAML data: {err}")]
    values = {name: getattr(validated, name) for name in fields}
    return values, []


def describe_error(error: Any) -> str:
    """A pydantic error as a short sentence with the offending value."""
    kind = error.get("type", "")
    if kind == "missing":
        return "a value is required here"
    if kind == "extra_forbidden":
        return "unknown key"
    message = error.get("msg", "invalid value")
    if kind == "value_error":  # genkit's own validators say what they got
        return message.removeprefix("Value error, ")
    if "input" in error:
        shown = repr(error["input"])
        return f"{message} (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
    return message


def to_plain(value: Any) -> Any:
    """Validated values back to YAML-writable data (tuples become lists)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, pydantic.BaseModel):
        return to_plain(value.model_dump())
    return value
