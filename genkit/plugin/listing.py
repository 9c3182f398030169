"""What ``genkit list`` shows, kept in a cache so that listing does not import TensorFlow.

Listing the installed components means importing every plugin module, and plugin modules import
TensorFlow: about 5-8 s on 2 CPU cores, for a table that changes only when a package is installed,
removed or edited. The rows (name, arguments, summary, package) are therefore kept in
``components.json`` in genkit's cache folder (:func:`genkit.cache.cache_dir`) under a fingerprint
of everything they are made from:

- every ``genkit.*`` entry point (group, name, target, distribution and its version);
- the size and modification time of every ``.py`` file of the packages those entry points name
  and of genkit itself (a plugin's arguments may come from a base class in another module);
- the Python and genkit versions.

Any change gives another fingerprint, and the next listing imports the plugins again and
rewrites the cache. A listing during which a plugin failed to load or two packages claimed one
name is never cached, so its warnings are shown every time until the problem is fixed. The
cache is a convenience: when it cannot be read or written, listing works as without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from genkit.cache import cache_dir
from genkit.plugin.registry import KINDS, PluginWarning, registry
from genkit.plugin.signature import spec_arguments
from genkit.version import __version__

#: The cache file, in :func:`genkit.cache.cache_dir`.
CACHE_FILE = "components.json"
#: Part of the fingerprint: change it whenever the cached rows' layout changes.
FORMAT = 1


@dataclass(frozen=True)
class ListedComponent:
    """One row of ``genkit list``: a registered component as text."""

    name: str
    #: ``name: type = default`` of each spec argument, comma-separated ("-" for none).
    arguments: str
    #: The docstring's first paragraph on one line.
    summary: str
    #: The package it came from (its module, for an in-process registration).
    package: str


#: Component kind -> its rows, sorted by name.
Listing = dict[str, list[ListedComponent]]


def registered_listing(installed_only: bool = False) -> Listing:
    """The rows of every registered component (only those of installed packages' entry points with
    ``installed_only``), read from the registries: this imports every plugin."""
    return {
        kind: [ListedComponent(entry.name, ", ".join(a.describe() for a in spec_arguments(entry.obj)) or "-",
                               entry.summary, entry.origin)
               for entry in registry(kind).entries() if entry.installed or not installed_only]
        for kind in KINDS
    }


def installed_listing() -> Listing:
    """The rows of every installed package's component (in-process registrations are not listed:
    they are not installed, and a cache must not keep them): from the cache when its fingerprint still matches,
    otherwise from the registries (importing TensorFlow and the plugins), cached for next time."""
    key = fingerprint(genkit_entry_points())
    cached = _read_cache(key)
    if cached is not None:
        return cached
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        listing = registered_listing(installed_only=True)
    for warning in caught:  # shown as they would have been, after the cache decision
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if not any(issubclass(warning.category, PluginWarning) for warning in caught):
        _write_cache(key, listing)
    return listing


def genkit_entry_points() -> list[importlib.metadata.EntryPoint]:
    """Every installed entry point of a component kind's group."""
    return [ep for group in KINDS.values() for ep in importlib.metadata.entry_points(group=group)]


def fingerprint(entry_points: Iterable[importlib.metadata.EntryPoint]) -> str:
    """A hash of what the listing of ``entry_points`` is made from (see the module docstring)."""
    digest = hashlib.sha256(f"{FORMAT} {__version__} {platform.python_version()}".encode())
    packages = {"genkit"}
    for ep in sorted(entry_points, key=lambda ep: (ep.group, ep.name, ep.value)):
        dist = ep.dist
        owner = f"{dist.name} {dist.version}" if dist is not None else "-"
        digest.update(f"\n{ep.group} {ep.name} {ep.value} {owner}".encode())
        packages.add(ep.value.split(":")[0].split(".")[0])
    for package in sorted(packages):
        for path in sorted(_source_files(package)):
            with contextlib.suppress(OSError):
                stat = path.stat()
                digest.update(f"\n{path} {stat.st_size} {stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _source_files(package: str) -> Iterator[Path]:
    """The ``.py`` files of a top-level module or package, found without importing it."""
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return
    if found is None:
        return
    if found.submodule_search_locations:
        for folder in found.submodule_search_locations:
            yield from Path(folder).rglob("*.py")
    elif found.origin and found.origin.endswith(".py"):
        yield Path(found.origin)


def _cache_path() -> Path:
    return cache_dir() / CACHE_FILE


def _read_cache(key: str) -> Listing | None:
    """The cached listing if it was made under ``key`` (None when absent, stale or unreadable)."""
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
        if data.get("fingerprint") != key:
            return None
        return {kind: [ListedComponent(**row) for row in data["kinds"][kind]] for kind in KINDS}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_cache(key: str, listing: Listing) -> None:
    """Keep ``listing`` under ``key``, through a temporary file and a rename; silently skipped when
    the cache folder cannot be written."""
    path = _cache_path()
    text = json.dumps({"fingerprint": key, "kinds": {kind: [asdict(row) for row in rows]
                                                      for kind, rows in listing.items()}})
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".components.", suffix=".partial",
                                         delete=False, encoding="utf-8") as handle:
            temporary = handle.name
            handle.write(text)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
