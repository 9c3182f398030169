"""Latent samplers of a run: fitted on the training codes after training, saved as ``samplers/<name>.npz``.

The spec's ``sampler`` is fitted at the end of ``genkit run``; ``genkit sample RUN --sampler NAME``
(:func:`run_sampler`) fits the named one (with its default arguments) the first time it is asked
for, saves it the same way, and reuses it afterwards. A sampler file holds the sampler's state arrays and its resolved
spec entry (as JSON text), read back without pickles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from genkit.assembly.data import load_split
from genkit.assembly.model import GenerativeAutoencoder
from genkit.errors import GenkitError
from genkit.plugin.instantiate import instantiate
from genkit.plugin.registry import registry
from genkit.plugin.sampler import Sampler
from genkit.plugin.signature import validate_arguments
from genkit.runs.directory import replacing
from genkit.runs.layout import SAMPLERS_DIR, SPEC_FILE
from genkit.spec.resolve import load_spec

#: The key of the spec entry inside a sampler file.
_ENTRY_KEY = "__entry__"

#: How many training codes a sampler is fitted on at most (a GMM needs no more).
FIT_EXAMPLES = 20_000


def sampler_path(run_dir: Path, name: str) -> Path:
    return run_dir / SAMPLERS_DIR / f"{name}.npz"


def fit_sampler(model: GenerativeAutoencoder, entry: dict[str, Any], x: np.ndarray, labels: Any,
                seed: int) -> Sampler:
    """A sampler of spec ``entry`` fitted on the codes of ``x`` (the training data)."""
    sampler = instantiate("sampler", entry, "sampler", model.context.arguments())
    sampler.attach(model)
    codes = model.encode(x[:FIT_EXAMPLES], None if labels is None else labels[:FIT_EXAMPLES])
    sampler.fit(np.asarray(codes, np.float32), seed)
    sampler.fitted = True
    return sampler


def save_sampler(run_dir: Path, entry: dict[str, Any], sampler: Sampler) -> Path:
    """Write a fitted sampler's state and entry atomically into the run's samplers/ folder."""
    path = sampler_path(run_dir, entry["type"])
    path.parent.mkdir(exist_ok=True)
    arrays = {key: np.asarray(value) for key, value in sampler.state().items()}
    with replacing(path) as temporary, temporary.open("wb") as handle:
        np.savez(handle, **arrays, **{_ENTRY_KEY: np.array(json.dumps(entry))})
    return path


def load_sampler(run_dir: Path, model: GenerativeAutoencoder, name: str) -> Sampler | None:
    """The sampler ``name`` saved in the run, restored; None if the run has none of that name."""
    path = sampler_path(run_dir, name)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            entry = json.loads(str(stored[_ENTRY_KEY]))
            state = {key: stored[key] for key in stored.files if key != _ENTRY_KEY}
    except (OSError, ValueError, KeyError) as err:
        raise GenkitError(f"cannot read the sampler {path}: {err}") from None
    sampler = instantiate("sampler", entry, "sampler", model.context.arguments())
    sampler.attach(model)
    sampler.load_state(state)
    sampler.fitted = True
    return sampler


def default_entry(name: str) -> dict[str, Any]:
    """The resolved entry of sampler ``name`` with its default arguments (``genkit sample --sampler``)."""
    plugin = registry("sampler").get(name, where="--sampler").obj
    resolved, problems = validate_arguments(plugin, {})
    if problems:
        raise GenkitError(f"sampler '{name}' has required arguments; name it in the spec's 'sampler:' instead")
    return {"type": name, **resolved}


def run_sampler(run_dir: Path, model: GenerativeAutoencoder, name: str) -> Sampler:
    """The run's sampler ``name``: loaded if the run has it, else fitted now on the codes of the run's
    training data (with the sampler's default arguments) and saved, so later calls reuse it."""
    saved = load_sampler(run_dir, model, name)
    if saved is not None:
        return saved
    entry = default_entry(name)
    spec = load_spec(run_dir / SPEC_FILE)
    train = load_split(spec, "train")
    sampler = fit_sampler(model, entry, train.x, train.y if model.conditional else None, spec.train.seed)
    save_sampler(run_dir, entry, sampler)
    return sampler
