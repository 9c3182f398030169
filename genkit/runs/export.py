"""``genkit.export``: a trained model (or a run directory's) as a TensorFlow SavedModel."""

from __future__ import annotations

from pathlib import Path

from genkit.assembly.model import GenerativeAutoencoder
from genkit.results.export import export_model
from genkit.runs.load import load


def export(model: GenerativeAutoencoder | str | Path, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` (or the model of the run directory ``model``) as a SavedModel at ``path``.

    Signatures ``encode``, ``decode`` and (when it can sample) ``sample``; loading it needs
    TensorFlow only. An existing, non-empty ``path`` is refused unless ``overwrite``.
    """
    if not isinstance(model, GenerativeAutoencoder):
        model = load(model)
    return export_model(model, path, overwrite=overwrite)
