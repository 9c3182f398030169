"""Spec -> components -> one GenerativeAutoencoder (the ``build`` of the public API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from genkit.assembly import precision
from genkit.errors import GenkitError
from genkit.assembly.model import GenerativeAutoencoder
from genkit.plugin.instantiate import instantiate
from genkit.spec.resolve import Spec, load_spec


def build(
    spec: str | Path | dict[str, Any] | Spec,
    data_shape: tuple[int, ...] | None = None,
    condition_dim: int | None = None,
) -> GenerativeAutoencoder:
    """Assemble the model a spec describes, with every variable created and seeded.

    ``data_shape`` (one example's shape) and ``condition_dim`` (width of the condition vector of
    a conditional spec) are read from the dataset when not given. The networks are built under
    the dtype policy of ``train.mixed_precision``.
    """
    spec = load_spec(spec)
    if data_shape is None or condition_dim is None:
        from genkit.assembly.data import condition_dim_of, load_split

        arrays = load_split(spec, "train")
        data_shape = tuple(int(d) for d in arrays.x.shape[1:])
        condition_dim = condition_dim_of(spec, arrays)
    keras.utils.set_random_seed(spec.train.seed)
    with precision.policy_scope(spec.train.mixed_precision):
        return _assemble(spec, data_shape, condition_dim)


def _assemble(spec: Spec, data_shape: tuple[int, ...], condition_dim: int) -> GenerativeAutoencoder:
    parts = spec.components
    latent = {"latent_dim": spec.latent_dim}
    likelihood = instantiate("likelihood", parts["likelihood"], "likelihood", {"data_shape": data_shape})
    posterior = instantiate("posterior", parts["posterior"], "posterior", latent)
    encoder = instantiate(
        "encoder", parts["encoder"], "encoder",
        {"data_shape": data_shape, "output_size": posterior.param_size, "condition_dim": condition_dim},
    )
    decoder = instantiate(
        "decoder", parts["decoder"], "decoder",
        {**latent, "output_shape": likelihood.param_shape, "condition_dim": condition_dim},
    )
    prior = None if parts["prior"] is None else instantiate(
        "prior", parts["prior"], "prior", {**latent, "condition_dim": condition_dim}
    )
    divergence = instantiate("divergence", parts["divergence"], "divergence", latent)
    corruption = None if parts["corruption"] is None else instantiate("corruption", parts["corruption"], "corruption")
    objective = None if parts["objective"] is None else instantiate(
        "objective", parts["objective"], "objective",
        {**latent, "data_shape": data_shape, "condition_dim": condition_dim},
    )
    model = GenerativeAutoencoder(
        encoder=encoder,
        posterior=posterior,
        decoder=decoder,
        likelihood=likelihood,
        prior=prior,
        divergence=divergence,
        latent_dim=spec.latent_dim,
        data_shape=data_shape,
        condition_dim=condition_dim,
        binarize=spec.data["binarize"],
        seed=spec.train.seed,
        corruption=corruption,
        objective=objective,
    )
    try:
        # labels ride along even for unconditional models: label-aware phases (supervised AAE) build too
        example = {"x": np.zeros((2, *data_shape), np.float32), "y": np.zeros((2,), np.int64)}
        if condition_dim:
            example["y"] = np.zeros((2, condition_dim), np.float32)
        model.build_variables(example)
    except (ValueError, TypeError, NotImplementedError) as err:
        raise GenkitError(f"the components of this spec do not fit together: {err}") from None
    return model
