"""The pictures a training run leaves in its directory: samples.png and reconstructions.png."""

from __future__ import annotations

from pathlib import Path

from genkit.assembly.model import GenerativeAutoencoder
from genkit.plugin.dataset import ArrayData
from genkit.results.pictures import save_reconstructions, save_samples
from genkit.results.report import picture_labels
from genkit.runs.layout import RECONSTRUCTIONS_FILE, SAMPLES_FILE


def save_pictures(run_dir: Path, model: GenerativeAutoencoder, examples: ArrayData) -> None:
    """samples.png (if the model can sample) and reconstructions.png."""
    x = examples.x
    if model.can_sample:
        n = 64 if x.ndim > 2 else 1000
        save_samples(run_dir / SAMPLES_FILE, model.sample(n, picture_labels(model, examples, n)), x)
    labels = examples.y if model.conditional else None
    save_reconstructions(run_dir / RECONSTRUCTIONS_FILE, x, model.reconstruct(x, labels))
