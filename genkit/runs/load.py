"""``genkit.load``: rebuild a trained model from its run directory (resolved spec + h5 weights, no pickles)."""

from __future__ import annotations

from pathlib import Path

from genkit.assembly.build import assemble
from genkit.assembly.model import GenerativeAutoencoder
from genkit.errors import GenkitError
from genkit.runs.directory import read_context, warn_if_components_moved
from genkit.runs.layout import MODEL_FILE, SPEC_FILE, WEIGHTS_FILE
from genkit.runs.samplers import load_sampler
from genkit.spec.resolve import load_spec


def load(run_dir: str | Path) -> GenerativeAutoencoder:
    """Rebuild a trained model from its run directory: the resolved spec through the registry, the
    weights from h5, the spec's sampler from its saved state. A component that now comes from other
    code than the code that trained it (another package or version, a plugin registered over a
    built-in) is named in a :class:`~genkit.PluginWarning`."""
    run_dir = Path(run_dir)
    for name in (SPEC_FILE, MODEL_FILE, WEIGHTS_FILE):
        if not (run_dir / name).is_file():
            raise GenkitError(f"{run_dir} is not a complete genkit run directory: {name} is missing")
    spec = load_spec(run_dir / SPEC_FILE)
    warn_if_components_moved(run_dir, spec)
    model = assemble(spec, read_context(run_dir))
    try:
        model.load_weights(str(run_dir / WEIGHTS_FILE))
    except Exception as err:  # h5 errors come in many types; any of them means a bad file
        raise GenkitError(f"cannot load weights from {run_dir / WEIGHTS_FILE}: {err}") from err
    if spec.components["sampler"] is not None:
        model.sampler = load_sampler(run_dir, model, spec.components["sampler"]["type"])
    return model
