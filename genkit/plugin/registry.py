"""One registry per component kind, filled from Python entry points.

Built-in plugins (the ``genkit_plugins`` package) are registered through entry points exactly as
a third-party package registers its own, so discovery has a single path:

    [project.entry-points."genkit.priors"]
    student_t = "my_package.priors:StudentT"

A plugin that fails to import becomes a :class:`PluginWarning` naming its package; the rest still
load. When two distributions claim one name, a warning says so and the choice is deterministic:
genkit's own distribution wins, otherwise the alphabetically first distribution name.
Code can also register in-process with :func:`register` (quick experiments, ``--import``).
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import inspect
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from genkit.errors import GenkitError

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

    @property
    def summary(self) -> str:
        """The docstring's first paragraph on one line (a sentence may run over several lines)."""
        doc = (inspect.getdoc(self.obj) or "").strip()
        return " ".join(doc.split("\n\n")[0].split())


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
                entries[name] = Entry(self.kind, name, obj, dist)
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

    def add(self, name: str, obj: Any, origin: str = "<python>") -> None:
        """Register ``obj`` under ``name`` in this process (overrides an entry point)."""
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


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class decorator registering a component in-process: ``@register("prior", "student_t")``."""

    def decorate(obj: T) -> T:
        registry(kind).add(name, obj, origin=getattr(obj, "__module__", "<python>"))
        return obj

    return decorate


def import_plugins(target: str) -> ModuleType:
    """Import plugins without packaging them: ``target`` is a module name or a ``.py`` file path.

    The module registers its components with :func:`register` when imported (the CLI's
    ``--import``). A module name is looked up on ``sys.path`` and in the current directory. This is
    the only way besides installed entry points that code reaches genkit: a spec names components,
    it never imports anything.
    """
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise GenkitError(f"cannot import plugins from {target}: no such file")
        name = path.stem if path.stem not in sys.modules else f"_genkit_import_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise GenkitError(f"cannot import plugins from {target}: not a Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    if str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as err:
        raise GenkitError(f"cannot import plugins from module '{target}': {err}") from None


def reload_plugins() -> None:
    """Re-read entry points of every kind."""
    for reg in _REGISTRIES.values():
        reg.reload()
