"""Where genkit keeps what it can rebuild: ``$GENKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/genkit``, else
``~/.cache/genkit`` (a ground-level module: it imports nothing heavy, so the CLI can read the cache
before TensorFlow is imported).

Its folders: ``features/`` (the feature networks of sample-quality metrics,
:mod:`genkit.results.features`) and ``components.json`` (what ``genkit list`` shows,
:mod:`genkit.plugin.listing`). Everything in it may be deleted at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable that moves the cache.
CACHE_VARIABLE = "GENKIT_CACHE_DIR"


def cache_dir() -> Path:
    """The cache folder (it may not exist yet)."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genkit"
