"""Export a trained model as a TensorFlow SavedModel with ``encode``, ``decode`` and ``sample``
serving signatures, so TF Serving or any TensorFlow binding can use it without genkit or TFP.

Signatures (``C`` = the condition width; the ``condition`` input exists only for conditional
models: one row per example, one-hot rows for class labels):

=========  ==========================================================  ==============================
name       inputs                                                      outputs
=========  ==========================================================  ==============================
encode     ``x`` float32 ``[N, *data_shape]`` (, ``condition`` ``[N, C]``)  ``z``: the posterior's point
decode     ``z`` float32 ``[N, latent_dim]`` (, ``condition``)             ``x``: the mean of p(x|z)
sample     ``n`` int32 scalar, ``seed`` int32 scalar (, ``condition``)     ``z`` ~ p(z) and its ``x``
=========  ==========================================================  ==============================

``sample`` draws z with the stateless seed ``[seed, 2**30]``, exactly as
:meth:`GenerativeAutoencoder.sample_latent` does, so a seed gives the same samples in both.
``encode`` is also the ``serving_default`` signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from genkit.errors import GenkitError
from genkit.assembly.model import GenerativeAutoencoder

#: The second element of the stateless seed of ``sample`` (the one ``model.sample_latent`` uses).
SAMPLE_STREAM = 2**30


def _signatures(model: GenerativeAutoencoder) -> dict[str, tuple[Any, list[tf.TensorSpec]]]:
    """name -> (function, input signature) of every endpoint, with a condition input if conditional."""
    condition = [tf.TensorSpec((None, model.condition_dim), tf.float32, name="condition")] if model.conditional else []

    def encode(x: tf.Tensor, *condition: tf.Tensor) -> dict[str, tf.Tensor]:
        q = model.posterior_distribution(x, condition[0] if condition else None)
        return {"z": model.posterior_head.point(q)}

    def decode(z: tf.Tensor, *condition: tf.Tensor) -> dict[str, tf.Tensor]:
        p = model.likelihood_distribution(z, condition[0] if condition else None)
        return {"x": model.likelihood.mean(p)}

    def sample(n: tf.Tensor, seed: tf.Tensor, *condition: tf.Tensor) -> dict[str, tf.Tensor]:
        z = model.prior_distribution().sample(n, seed=tf.stack([seed, tf.constant(SAMPLE_STREAM, tf.int32)]))
        return {"z": z, **decode(z, *condition)}

    endpoints: dict[str, tuple[Any, list[tf.TensorSpec]]] = {
        "encode": (encode, [tf.TensorSpec((None, *model.data_shape), tf.float32, name="x"), *condition]),
        "decode": (decode, [tf.TensorSpec((None, model.latent_dim), tf.float32, name="z"), *condition]),
    }
    if model.prior is not None:
        endpoints["sample"] = (
            sample,
            [tf.TensorSpec((), tf.int32, name="n"), tf.TensorSpec((), tf.int32, name="seed"), *condition],
        )
    return endpoints


def export(model: GenerativeAutoencoder | str | Path, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` (or the model of a run directory) as a SavedModel at ``path``; return the path.

    A model without a prior (a plain autoencoder) gets ``encode`` and ``decode`` only. An existing,
    non-empty ``path`` is refused unless ``overwrite``.
    """
    if not isinstance(model, GenerativeAutoencoder):
        from genkit.runs.directory import load

        model = load(model)
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise GenkitError(f"export path {path} already exists and is not empty; choose another or pass --overwrite")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, signature) in _signatures(model).items():
        archive.add_endpoint(name=name, fn=function, input_signature=signature)
    archive.write_out(str(path), verbose=False)
    return path
