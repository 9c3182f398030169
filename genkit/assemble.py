"""Spec -> components -> one GenerativeAutoencoder (the ``build`` of the public API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from genkit.errors import GenkitError
from genkit.model import GenerativeAutoencoder
from genkit.plugins_util import instantiate
from genkit.spec import Spec, load_spec


def build(spec: str | Path | dict[str, Any] | Spec, data_shape: tuple[int, ...] | None = None) -> GenerativeAutoencoder:
    """Assemble the model a spec describes, with every variable created and seeded.

    ``data_shape`` (one example's shape) is read from the dataset when not given.
    """
    spec = load_spec(spec)
    if data_shape is None:
        from genkit.data import load_split

        data_shape = tuple(int(d) for d in load_split(spec, "train").x.shape[1:])
    keras.utils.set_random_seed(spec.train.seed)
    parts = spec.components
    latent = {"latent_dim": spec.latent_dim}
    likelihood = instantiate("likelihood", parts["likelihood"], "likelihood", {"data_shape": data_shape})
    posterior = instantiate("posterior", parts["posterior"], "posterior", latent)
    encoder = instantiate(
        "encoder", parts["encoder"], "encoder",
        {"data_shape": data_shape, "output_size": posterior.param_size, "condition_dim": 0},
    )
    decoder = instantiate(
        "decoder", parts["decoder"], "decoder",
        {**latent, "output_shape": likelihood.param_shape, "condition_dim": 0},
    )
    prior = None if parts["prior"] is None else instantiate("prior", parts["prior"], "prior", latent)
    divergence = instantiate("divergence", parts["divergence"], "divergence", latent)
    model = GenerativeAutoencoder(
        encoder=encoder,
        posterior=posterior,
        decoder=decoder,
        likelihood=likelihood,
        prior=prior,
        divergence=divergence,
        latent_dim=spec.latent_dim,
        data_shape=data_shape,
        binarize=spec.data["binarize"],
        seed=spec.train.seed,
    )
    try:
        model.build_variables({"x": np.zeros((2, *data_shape), np.float32)})
    except (ValueError, TypeError) as err:
        raise GenkitError(f"the components of this spec do not fit together: {err}") from None
    return model
