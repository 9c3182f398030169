"""Model presets: ``model: vae`` is shorthand for a set of component defaults.

A preset only fills what the spec leaves out; a spec can name every component itself, so a new
divergence plugin gives a new model family without touching this table. A component given as a
mapping without ``type`` (``divergence: {beta: 4}``) keeps the preset's type and sets arguments.
"""

from __future__ import annotations

from typing import Any

_GAUSSIAN_VAE: dict[str, Any] = {
    "encoder": "mlp",
    "decoder": "mlp",
    "posterior": "diagonal_gaussian",
    "likelihood": "bernoulli",
    "prior": "standard_normal",
    "divergence": "kl",
}

PRESETS: dict[str, dict[str, Any]] = {
    "vae": dict(_GAUSSIAN_VAE),
    "beta_vae": {**_GAUSSIAN_VAE, "divergence": {"type": "kl", "beta": 4.0}},
    "ae": {**_GAUSSIAN_VAE, "posterior": "deterministic", "prior": None, "divergence": "none"},
}

#: The spec keys that name components (and so can be filled by a preset).
COMPONENT_KEYS: tuple[str, ...] = ("encoder", "decoder", "posterior", "likelihood", "prior", "divergence")
