"""YAML (or a dict) -> a validated, fully resolved :class:`Spec`.

Everything is checked before anything runs: unknown keys, wrong types, missing values, unknown
component names, and every plugin's arguments against its typed signature. Errors name the key
path (``prior.df``) and, for a file, the line. The resolved spec has every default filled in and
is what a run directory stores, so a run can be rebuilt from it alone.
"""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path
from typing import Any

import pydantic

from genkit.errors import GenkitError, SpecError
from genkit.plugin.instantiate import kind_problem
from genkit.plugin.optimizers import optimizer_problem, with_clipping
from genkit.plugin.registry import registry
from genkit.plugin.signature import describe_error, spec_arguments, validate_arguments
from genkit.spec.presets import COMPONENT_KEYS, OPTIONAL_COMPONENT_KEYS, PRESETS
from genkit.spec.schema import DATA_OPTION_KEYS, DataOptions, Spec, TopLevel, TrainSpec
from genkit.spec.yaml_source import LineMap, parse_yaml, read_yaml_file

#: A key path into the spec, e.g. ``("train", "callbacks", 0)``.
Key = tuple[Any, ...]


class _Problems:
    """Collects validation problems so one run of ``genkit validate`` reports them all."""

    def __init__(self, source: str | None, lines: LineMap):
        self.source = source
        self.lines = lines
        self.items: list[tuple[tuple[Any, ...], str]] = []
        self.non_finite: list[tuple[Any, ...]] = []

    def add(self, path: tuple[Any, ...], message: str) -> None:
        if any(path == bad[: len(path)] for bad in self.non_finite):
            return  # the non-finite value below (or at) this key is the problem already reported
        self.items.append((path, message))

    def check_finite(self, value: Any, path: tuple[Any, ...] = ()) -> None:
        """Report every NaN or infinite number in the spec at its key (no spec value can be one)."""
        if isinstance(value, float) and not math.isfinite(value):
            self.add(path, f"must be a finite number, got {value}")
            self.non_finite.append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.check_finite(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.check_finite(item, (*path, index))

    def line_of(self, path: tuple[Any, ...]) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def raise_if_any(self) -> None:
        if not self.items:
            return
        errors = [
            SpecError(msg, ".".join(str(p) for p in path), self.source, self.line_of(path))
            for path, msg in self.items
        ]
        if len(errors) == 1:
            raise errors[0]
        first = errors[0]
        rest = "\n".join(f"  - {e}" for e in errors)
        raise SpecError(
            f"{first.detail} ({len(errors)} problems in this spec:\n{rest})",
            first.path,
            first.source,
            first.line,
        )


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _normalise_component(value: Any, preset_value: Any, path: Key, problems: _Problems) -> dict | None:
    """``name`` -> ``{type: name}``; a mapping without type merges into the preset's component."""
    if value is None:
        value = preset_value
    elif isinstance(value, dict) and "type" not in value:
        base = _normalise_component(preset_value, None, path, problems) if preset_value else None
        if base is None:
            problems.add(path, "a 'type' key is required (the name of a registered component)")
            return None
        value = {**base, **value}
    if value is None:
        return None
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict):
        if not isinstance(value.get("type"), str):
            problems.add((*path, "type"), f"must be a component name (a string), got {value.get('type')!r}")
            return None
        return dict(value)
    problems.add(path, f"must be a component name or a mapping with 'type', got {value!r}")
    return None


def _resolve_component(kind: str, path: Key, value: dict, problems: _Problems, extra_keys=()) -> dict | None:
    """Look the component up and validate its arguments against the plugin signature."""
    reg = registry(kind)
    name = value["type"]
    if name not in reg:
        try:
            reg.get(name)
        except GenkitError as err:
            problems.add((*path, "type"), str(err))
        return None
    plugin = reg.get(name).obj
    wrong_kind = kind_problem(kind, name, plugin)
    if wrong_kind:
        problems.add((*path, "type"), wrong_kind)
        return None
    args = {k: v for k, v in value.items() if k != "type" and k not in extra_keys}
    resolved, errors = validate_arguments(plugin, args)
    for loc, message in errors:
        if message == "unknown key" and loc:
            known = [a.name for a in spec_arguments(plugin)] + list(extra_keys)
            message = (
                f"unknown argument of {kind} '{name}'.{_suggest(str(loc[0]), known)} "
                f"Its arguments are: {', '.join(known) or 'none'}"
            )
        problems.add((*path, *loc), message)
    if errors:
        return None
    return {"type": name, **resolved}


def _key_path(data: Any, error: Any) -> tuple[Any, ...]:
    """The key path of a pydantic error without the names pydantic gives the members of a union
    (``steps_per_execution.constrained-int``): the path stops where the spec's data does."""
    if error["type"] == "missing":
        return tuple(error["loc"])
    path: list[Any] = []
    for key in error["loc"]:
        inside = isinstance(data, dict) and key in data or isinstance(data, list) and isinstance(key, int)
        if not inside and error["type"] != "extra_forbidden":
            break
        path.append(key)
        data = data[key] if inside else None
    return tuple(path)


def _check_pydantic(model: type[pydantic.BaseModel], data: Any, prefix: tuple, problems: _Problems):
    data = data if data is not None else {}
    try:
        return model.model_validate(data, strict=True)
    except pydantic.ValidationError as err:
        found: dict[tuple[Any, ...], list[str]] = {}
        for e in err.errors():
            message = describe_error(e)
            if e["type"] == "extra_forbidden" and len(e["loc"]) == 1:
                known = list(model.model_fields)
                section = ".".join(map(str, prefix)) or "the spec"
                message += f".{_suggest(str(e['loc'][0]), known)} The keys of '{section}' are: {', '.join(known)}"
            found.setdefault(_key_path(data, e), []).append(message)
        for path, messages in found.items():  # the members of a union each said why not: one problem
            problems.add((*prefix, *path), "; or ".join(dict.fromkeys(messages)))
        return None


def resolve(raw: Any, source: str | None = None, lines: LineMap | None = None) -> Spec:
    """Validate plain spec data (as parsed from YAML) into a resolved :class:`Spec`.

    Every problem in the spec is collected and reported in one :class:`SpecError`.
    """
    lines = lines or {}
    problems = _Problems(source, lines)
    if not isinstance(raw, dict):
        problems.add((), f"a spec must be a mapping of keys to values, got {type(raw).__name__}")
        problems.raise_if_any()
    raw = copy.deepcopy(raw)
    problems.check_finite(raw)
    known = [*TopLevel.model_fields, *COMPONENT_KEYS, "data", "train"]
    for key in raw:
        if key not in known:
            problems.add((key,), f"unknown key.{_suggest(str(key), known)} Top-level keys are: {', '.join(known)}")
    top = _check_pydantic(TopLevel, {k: v for k, v in raw.items() if k in TopLevel.model_fields}, (), problems)
    latent_problem = None if top is None else top.latent_size_problem()
    if latent_problem is not None:
        problems.add((latent_problem[0],), latent_problem[1])
    model = top.model if top is not None else str(raw.get("model", "vae"))
    if model not in PRESETS:
        problems.add(("model",), f"unknown model preset '{model}'.{_suggest(model, list(PRESETS))} "
                     f"Presets: {', '.join(PRESETS)}")
    preset = PRESETS.get(model, PRESETS["vae"])
    stated = None if top is None else top.conditional
    conditional = bool(preset.get("conditional", False) if stated is None else stated)

    components: dict[str, dict | None] = {}
    for key in COMPONENT_KEYS:
        # an explicit `prior: null` means "no prior"; a missing key takes the preset's default
        explicitly_none = key in raw and raw[key] is None
        value = None if explicitly_none else _normalise_component(raw.get(key), preset.get(key), (key,), problems)
        components[key] = None if value is None else _resolve_component(key, (key,), value, problems)
        if value is None and key not in OPTIONAL_COMPONENT_KEYS:
            problems.add((key,), f"a {key} is required (model preset '{model}' has no default)")

    data = None
    if raw.get("data") is None:  # missing, or written as `data:` / `data: null`
        problems.add(("data",), "a value is required here (the dataset, e.g. 'data: shapes')")
    else:
        data_value = _normalise_component(raw["data"], None, ("data",), problems)
        if data_value is not None:
            data = _resolve_component("dataset", ("data",), data_value, problems, extra_keys=DATA_OPTION_KEYS)
            options = _check_pydantic(
                DataOptions, {k: data_value[k] for k in DATA_OPTION_KEYS if k in data_value}, ("data",), problems
            )
            if data is not None and options is not None:
                data.update(options.model_dump())
                _absolute_paths(data, source, problems)
    train = _check_pydantic(TrainSpec, raw.get("train"), ("train",), problems)
    if train is not None:
        message = optimizer_problem(with_clipping(train.optimizer.model_dump(), train.clip_norm, train.clip_value))
        if message:
            problems.add(("train", "optimizer"), message)
        train.callbacks = _resolve_callbacks(train.callbacks, problems)
    if not problems.items:
        _check_compatibility(components, conditional, problems)
    problems.raise_if_any()
    assert top is not None and data is not None and train is not None  # else raise_if_any raised
    return Spec(top.name, top.model, top.shape, data, components, train, conditional, source, lines)


def _resolve_callbacks(entries: list[str | dict[str, Any]], problems: _Problems) -> list[str | dict[str, Any]]:
    """Each ``train.callbacks`` entry resolved against its registered callback's signature."""
    resolved: list[str | dict[str, Any]] = []
    for index, entry in enumerate(entries):
        path = ("train", "callbacks", index)
        if entry is None:
            problems.add(path, "must be a callback name or a mapping with 'type'")
            continue
        value = _normalise_component(entry, None, path, problems)
        callback = None if value is None else _resolve_component("callback", path, value, problems)
        if callback is not None:
            resolved.append(callback)
    return resolved


def _absolute_paths(data: dict[str, Any], source: str | None, problems: _Problems) -> None:
    """Make the dataset's file arguments absolute: relative to the spec file, else to the cwd. A
    path that cannot be one (a NUL byte, a symlink loop) is reported at its key."""
    plugin = registry("dataset").get(data["type"]).obj
    base = Path(source).parent if source else Path.cwd()
    for key in getattr(plugin, "path_args", ()):
        if isinstance(data.get(key), str):
            try:
                data[key] = str((base / data[key]).resolve())
            except (ValueError, RuntimeError, OSError) as err:  # NUL byte; symlink loop (RuntimeError before 3.13)
                problems.add(("data", key), f"is not a usable path: {err} (got {data[key]!r})")


def _check_compatibility(components: dict[str, Any], conditional: bool, problems: _Problems) -> None:
    """Cross-component rules: a divergence that needs a prior gets one it can use; a conditional
    prior or an objective that needs labels as the condition gets ``conditional: true``."""
    for key, flag in (("prior", "conditional"), ("objective", "requires_conditional")):
        entry = components[key]
        if entry is not None and getattr(registry(key).get(entry["type"]).obj, flag, False) and not conditional:
            problems.add((key,), f"{key} '{entry['type']}' needs labels as the condition; set 'conditional: true' "
                         "(and give the data labels)")
    divergence = registry("divergence").get(components["divergence"]["type"]).obj
    prior_spec = components["prior"]
    if divergence.requires_prior and prior_spec is None:
        problems.add(("prior",), f"divergence '{components['divergence']['type']}' needs a prior; add e.g. "
                     "'prior: standard_normal'")
    elif prior_spec is not None:
        prior = registry("prior").get(prior_spec["type"]).obj
        if prior.sample_only and not divergence.sample_only_prior_ok:
            problems.add(("prior",), f"prior '{prior_spec['type']}' can only be sampled (it has no log_prob), "
                         f"so divergence '{components['divergence']['type']}' cannot use it; use an "
                         "adversarial or MMD divergence")


def load_spec(source: str | Path | dict[str, Any] | Spec) -> Spec:
    """A :class:`Spec` from a YAML file path, YAML text already parsed into a dict, or a Spec."""
    if isinstance(source, Spec):
        return source
    if isinstance(source, dict):
        return resolve(source)
    data, lines = read_yaml_file(source)
    return resolve(data, str(source), lines)


def parse_spec_text(text: str, source: str | None = None) -> Spec:
    """A :class:`Spec` from YAML text."""
    data, lines = parse_yaml(text, source)
    return resolve(data, source, lines)
