"""``genkit list`` from its cache: the same table as from the registries, without importing
TensorFlow, and rebuilt whenever an entry point or a plugin's source changes."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import warnings

import pytest
from click.testing import CliRunner

from genkit.cli import main
from genkit.plugin import listing
from genkit.plugin.registry import PluginWarning

#: ``genkit list`` in a fresh process where importing TensorFlow fails.
WITHOUT_TENSORFLOW = "import sys; sys.modules['tensorflow'] = None; from genkit.cli import main; main(['list'])"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENKIT_CACHE_DIR", str(tmp_path))
    return tmp_path / listing.CACHE_FILE


def test_a_cached_listing_is_the_registries_table_and_needs_no_tensorflow(cache):
    first = CliRunner().invoke(main, ["list"], catch_exceptions=False)
    assert first.exit_code == 0 and cache.is_file()
    assert "standard_normal" in first.output and "diagonal_gaussian" in first.output
    again = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW], capture_output=True, text=True,
                           env=os.environ, timeout=120)
    assert again.returncode == 0 and again.stderr == "", again.stderr
    assert again.stdout == first.output


def test_the_cache_holds_only_installed_components(cache):
    import genkit

    @genkit.register("prior", "only_in_this_process")
    class OnlyHere(genkit.Prior):
        """A prior registered in this process."""

    try:
        rows = listing.installed_listing()["prior"]
    finally:
        genkit.registry("prior").remove("only_in_this_process")
    assert "only_in_this_process" not in {row.name for row in rows} and "standard_normal" in {r.name for r in rows}
    assert "only_in_this_process" not in cache.read_text()


def test_the_fingerprint_follows_entry_points_and_every_source_file_of_their_packages(tmp_path, monkeypatch):
    package = tmp_path / "lab_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "priors.py").write_text("class P:\n    pass\n")
    (package / "base.py").write_text("class Base:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    prior = importlib.metadata.EntryPoint("lab", "lab_plugins.priors:P", "genkit.priors")
    before = listing.fingerprint([prior])
    assert listing.fingerprint([prior]) == before
    assert listing.fingerprint([]) != before  # an entry point removed
    assert listing.fingerprint([prior, importlib.metadata.EntryPoint("b", "lab_plugins.priors:P", "genkit.priors")]) \
        != before  # one added
    stat = (package / "base.py").stat()
    (package / "base.py").write_text("class Base:\n    x = 1\n")  # a module no entry point names
    os.utime(package / "base.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert listing.fingerprint([prior]) != before
    assert "lab_plugins" not in sys.modules  # found without importing it


def test_a_stale_or_unreadable_cache_is_rebuilt(cache):
    cache.write_text("{not json")
    rows = listing.installed_listing()
    assert json.loads(cache.read_text())["fingerprint"] == listing.fingerprint(listing.genkit_entry_points())
    cache.write_text(json.dumps({"fingerprint": "another", "kinds": {}}))
    assert listing.installed_listing() == rows


def test_a_listing_with_a_broken_plugin_warns_every_time_and_is_not_cached(cache, monkeypatch):
    whole = listing.registered_listing(installed_only=True)

    def broken(installed_only: bool = False) -> listing.Listing:
        warnings.warn("could not load prior plugin 'broken' from package 'lab'", PluginWarning, stacklevel=2)
        return whole

    monkeypatch.setattr(listing, "registered_listing", broken)
    for _ in range(2):
        with pytest.warns(PluginWarning, match="could not load prior plugin 'broken'"):
            assert listing.installed_listing() == whole
        assert not cache.exists()


def test_an_unwritable_cache_folder_only_costs_the_time(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("GENKIT_CACHE_DIR", str(blocked))
    assert "standard_normal" in {row.name for row in listing.installed_listing()["prior"]}
    assert blocked.read_text() == "a file where the cache folder would be"
