"""``genkit.export``: a trained model (or a run directory's) as a TensorFlow SavedModel.

The export is written into a new directory beside ``path`` and moved into place when it is
complete, so a failed export leaves nothing, and ``overwrite`` replaces only an earlier SavedModel
(never a directory that holds anything else), and only once the new one is whole.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from genkit.assembly.model import GenerativeAutoencoder
from genkit.errors import GenkitError
from genkit.plugin.paths import writable_problem
from genkit.results.export import export_model
from genkit.runs.directory import exchange_directories
from genkit.runs.load import load

#: The file every SavedModel directory has.
SAVED_MODEL_FILE = "saved_model.pb"


def export(model: GenerativeAutoencoder | str | Path, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` (or the model of the run directory ``model``) as a SavedModel at ``path``.

    Signatures ``encode``, ``decode`` and (when it can sample) ``sample``; loading it needs
    TensorFlow only. An existing, non-empty ``path`` is refused unless ``overwrite`` and it holds
    a SavedModel.
    """
    path = Path(path)
    problem = writable_problem(path, "directory")
    if problem:
        raise GenkitError(f"cannot write the export to {path}: {problem}")
    existing = path.is_dir() and any(path.iterdir())
    if existing and not overwrite:
        raise GenkitError(f"export path {path} already exists and is not empty; choose another or pass --overwrite")
    if existing and not (path / SAVED_MODEL_FILE).is_file():
        raise GenkitError(f"--overwrite replaces an earlier export, but {path} holds no {SAVED_MODEL_FILE}; "
                          "nothing was changed, choose another directory")
    if not isinstance(model, GenerativeAutoencoder):
        model = load(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=".genkit-export-", dir=path.parent))
    try:
        export_model(model, new, overwrite=True)
        if path.is_dir():
            exchange_directories(new, path)
        else:
            new.rename(path)
    finally:
        shutil.rmtree(new, ignore_errors=True)
    return path
