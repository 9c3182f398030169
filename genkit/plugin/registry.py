"""One registry per component kind, filled from Python entry points.

Built-in plugins (the ``genkit_plugins`` package) are registered through entry points exactly as
a third-party package registers its own, so discovery has a single path:

    [project.entry-points."genkit.priors"]
    student_t = "my_package.priors:StudentT"

A plugin that fails to import becomes a :class:`PluginWarning` naming its package; the rest still
load. When two distributions claim one name, a warning says so and the choice is deterministic:
genkit's own distribution wins, otherwise the alphabetically first distribution name.
Code can also register in-process with :func:`register` (quick experiments, ``--import``); a
name that is already taken (by an installed plugin or another registration) is refused unless the
registration says ``override=True``, and then it warns, so a built-in is never replaced silently.
Every entry knows where it came from (:meth:`Entry.provenance`: the object, its package and
version), which a run records in its model.json.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import inspect
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from genkit.errors import GenkitError
from genkit.plugin.paths import path_problem

#: Component kinds and their entry-point groups.
KINDS: dict[str, str] = {
    "encoder": "genkit.encoders",
    "decoder": "genkit.decoders",
    "posterior": "genkit.posteriors",
    "likelihood": "genkit.likelihoods",
    "prior": "genkit.priors",
    "divergence": "genkit.divergences",
    "corruption": "genkit.corruptions",
    "objective": "genkit.objectives",
    "sampler": "genkit.samplers",
    "dataset": "genkit.datasets",
    "callback": "genkit.callbacks",
}

#: The distribution whose plugins win a name clash.
BUILTIN_DISTRIBUTION = "tf-genkit"

T = TypeVar("T")


class PluginWarning(UserWarning):
    """A plugin could not be loaded, or two plugins claim the same name."""


@dataclass(frozen=True)
class Entry:
    """One registered component: its name, the class (or factory) and where it came from."""

    kind: str
    name: str
    obj: Any
    origin: str
    #: True when found through an installed package's entry point, False for in-process registrations.
    installed: bool = True
    #: The version of the package it came from (None for code that is not an installed package).
    version: str | None = None

    @property
    def summary(self) -> str:
        """The docstring's first paragraph on one line (a sentence may run over several lines)."""
        doc = (inspect.getdoc(self.obj) or "").strip()
        return " ".join(doc.split("\n\n")[0].split())

    @property
    def qualified_name(self) -> str:
        """``module.Class`` of the registered object."""
        return f"{getattr(self.obj, '__module__', '?')}.{getattr(self.obj, '__qualname__', repr(self.obj))}"

    def provenance(self) -> dict[str, str | None]:
        """Where the component came from, as a run's model.json records it: the object and, for
        installed code, its package and version."""
        package = self.origin if self.installed else _package_of(self.obj)
        version = self.version if self.installed else _version_of(package)
        return {"object": self.qualified_name, "package": package, "version": version}


def _package_of(obj: Any) -> str | None:
    """The installed distribution that provides ``obj``'s top-level module (None for a loose file)."""
    top = str(getattr(obj, "__module__", "")).split(".")[0]
    names = importlib.metadata.packages_distributions().get(top, [])
    return names[0] if names else None


def _version_of(package: str | None) -> str | None:
    if package is None:
        return None
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _source_of(obj: Any) -> tuple[str | None, str]:
    """(source file, qualified name) of an object: the same definition imported twice has the same."""
    try:
        source = inspect.getsourcefile(obj)
    except TypeError:
        source = None
    return source, str(getattr(obj, "__qualname__", repr(obj)))


class Registry:
    """Name -> component for one kind. Entry points are read on first use."""

    def __init__(self, kind: str):
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}")
        self.kind = kind
        self.group = KINDS[kind]
        self._entries: dict[str, Entry] = {}
        self._manual: dict[str, Entry] = {}
        self._failed: dict[str, str] = {}  # name -> why its plugin could not be imported
        self._loaded = False

    def _discover(self) -> None:
        found: dict[str, list[tuple[str, importlib.metadata.EntryPoint]]] = {}
        for ep in importlib.metadata.entry_points(group=self.group):
            dist = ep.dist.name if ep.dist is not None else "<unknown>"
            found.setdefault(ep.name, []).append((dist, ep))
        entries: dict[str, Entry] = {}
        self._failed = {}
        for name in sorted(found):
            claims = sorted(
                {dist: ep for dist, ep in found[name]}.items(),
                key=lambda item: (item[0] != BUILTIN_DISTRIBUTION, item[0].lower()),
            )
            if len(claims) > 1:
                warnings.warn(
                    f"{self.kind} '{name}' is registered by several packages "
                    f"({', '.join(d for d, _ in claims)}); using the one from '{claims[0][0]}'",
                    PluginWarning,
                    stacklevel=3,
                )
            for dist, ep in claims:
                try:
                    obj = ep.load()
                except Exception as err:  # a broken plugin must not take the others down
                    self._failed[name] = f"package '{dist}' ({ep.value}): {type(err).__name__}: {err}"
                    warnings.warn(
                        f"could not load {self.kind} plugin '{name}' from {self._failed[name]}",
                        PluginWarning,
                        stacklevel=3,
                    )
                    continue
                entries[name] = Entry(self.kind, name, obj, dist, version=ep.dist.version if ep.dist else None)
                break
        self._entries = entries
        self._loaded = True

    def _all(self) -> dict[str, Entry]:
        if not self._loaded:
            self._discover()
        return {**self._entries, **self._manual}

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._all())

    def entries(self) -> list[Entry]:
        """All entries, sorted by name."""
        everything = self._all()
        return [everything[name] for name in sorted(everything)]

    def __contains__(self, name: str) -> bool:
        return name in self._all()

    def get(self, name: str, where: str = "") -> Entry:
        """The entry for ``name``; an unknown name lists what is registered and the closest."""
        everything = self._all()
        if name in everything:
            return everything[name]
        if name in self._failed:
            raise GenkitError(
                f"{self.kind} '{name}'{' at ' + where if where else ''} is installed but its plugin failed to "
                f"import, from {self._failed[name]}; fix or reinstall that package"
            )
        close = difflib.get_close_matches(name, everything, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        registered = ", ".join(sorted(everything)) or "none"
        raise GenkitError(
            f"unknown {self.kind} '{name}'{' at ' + where if where else ''}.{hint} "
            f"Registered {self.kind}s: {registered}. A third-party {self.kind} is found through the "
            f"'{self.group}' entry point of an installed package, or loaded with --import."
        )

    def _taken_by(self, name: str) -> str | None:
        """Who already holds ``name``: a package's entry point or an in-process registration (None if free).

        Entry points are read from the package metadata without importing them, so registering
        from a plugin module that is itself being imported through an entry point is safe.
        """
        if name in self._manual:
            entry = self._manual[name]
            return f"{entry.qualified_name} (registered in this process)"
        dists = sorted({ep.dist.name if ep.dist else "<unknown>"
                        for ep in importlib.metadata.entry_points(group=self.group, name=name)})
        return f"package '{dists[0]}'" if dists else None

    def add(self, name: str, obj: Any, origin: str = "<python>", override: bool = False) -> None:
        """Register ``obj`` under ``name`` in this process.

        A name already registered (by an installed package or in this process) is refused with a
        :class:`GenkitError` unless ``override`` is True; overriding warns with a :class:`PluginWarning`.
        Registering the same definition again (a module imported twice) just replaces it.
        """
        holder = self._taken_by(name)
        same = name in self._manual and _source_of(self._manual[name].obj) == _source_of(obj)
        if holder is not None and not same:
            if not override:
                raise GenkitError(
                    f"cannot register {self.kind} '{name}' from {origin}: the name is already taken by {holder}. "
                    f"Choose another name, or pass override=True (genkit.register({self.kind!r}, {name!r}, "
                    "override=True)) to replace it in this process"
                )
            warnings.warn(f"{self.kind} '{name}' of {holder} is replaced by {origin} in this process",
                          PluginWarning, stacklevel=3)
        self._manual[name] = Entry(self.kind, name, obj, origin, installed=False)

    def remove(self, name: str) -> None:
        """Forget an in-process registration made with :meth:`add` (entry points are kept)."""
        self._manual.pop(name, None)

    def reload(self) -> None:
        """Forget discovered entry points (e.g. after installing a package)."""
        self._loaded = False


_REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}


def registry(kind: str) -> Registry:
    """The registry of one component kind (``encoder``, ``prior``, ...)."""
    if kind not in _REGISTRIES:
        raise GenkitError(f"unknown component kind '{kind}'; kinds are: {', '.join(KINDS)}")
    return _REGISTRIES[kind]


def register(kind: str, name: str, override: bool = False) -> Callable[[T], T]:
    """Class decorator registering a component in-process: ``@register("prior", "student_t")``.

    A name that is already registered (a built-in such as ``standard_normal``, an installed
    plugin's) is refused unless ``override=True``, which replaces it in this process with a warning.
    """

    def decorate(obj: T) -> T:
        registry(kind).add(name, obj, origin=getattr(obj, "__module__", "<python>"), override=override)
        return obj

    return decorate


def import_plugins(target: str) -> ModuleType:
    """Import plugins without packaging them: ``target`` is a module name or a ``.py`` file path.

    The module registers its components with :func:`register` when imported (the CLI's
    ``--import``). A module name is looked up on ``sys.path`` and in the current directory. This is
    the only way besides installed entry points that code reaches genkit: a spec names components,
    it never imports anything. A module that cannot be imported (a missing file, a syntax error,
    an exception while it runs, a name it may not register) is a :class:`GenkitError` naming it
    and the line at fault. No bytecode cache is written next to an imported file.
    """
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        problem = path_problem(path)
        if problem:
            raise GenkitError(f"cannot import plugins from {target}: {problem.replace('not found', 'no such file')}")
        name = path.stem if path.stem not in sys.modules else f"_genkit_import_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise GenkitError(f"cannot import plugins from {target}: not a Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            loader_spec.loader.exec_module(module)
        except BaseException as err:
            del sys.modules[name]
            if not isinstance(err, Exception):
                raise
            raise GenkitError(f"cannot import plugins from {target}: {_import_failure(err, path)}") from err
        finally:
            sys.dont_write_bytecode = writes_bytecode
        return module
    if str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as err:
        raise GenkitError(f"cannot import plugins from module '{target}': {err}") from None
    except Exception as err:
        raise GenkitError(f"cannot import plugins from module '{target}': {_import_failure(err, None)}") from err


def _import_failure(err: Exception, path: Path | None) -> str:
    """What went wrong importing a plugin module, with the line of its file at fault when known."""
    if isinstance(err, GenkitError):
        return str(err)
    if isinstance(err, SyntaxError):
        return f"{type(err).__name__}: {err.msg} (line {err.lineno})"
    lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__)
             if path is not None and Path(frame.filename).resolve() == path.resolve()]
    return f"{type(err).__name__}: {err}" + (f" (raised at line {lines[-1]})" if lines else "")


def reload_plugins() -> None:
    """Re-read entry points of every kind."""
    for reg in _REGISTRIES.values():
        reg.reload()
