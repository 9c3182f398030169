"""Export a trained model as a TensorFlow SavedModel with ``encode``, ``decode`` and ``sample``
serving signatures, so TF Serving or any TensorFlow binding can use it without genkit or TFP.

Signatures (``C`` = the condition width; the ``condition`` input exists only for conditional
models: one row per example, one-hot rows for class labels):

=========  ==========================================================  ==============================
name       inputs                                                      outputs
=========  ==========================================================  ==============================
encode     ``x`` float32 ``[N, *data_shape]`` (, ``condition`` ``[N, C]``)  ``z``: the posterior's point
decode     ``z`` float32 ``[N, *latent_shape]`` (, ``condition``)          ``x``: the mean of p(x|z)
sample     ``n`` int32 scalar, ``seed`` int32 scalar (, ``condition``)     ``z`` and its ``x``
=========  ==========================================================  ==============================

``sample`` draws z from the model's fitted sampler if it has one, else from the prior, with the
stateless seed ``[seed, 2**30]``, exactly as :meth:`GenerativeAutoencoder.sample_latent` does, so a
seed gives the same samples in both.
``encode`` is also the ``serving_default`` signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from genkit.assembly.model import SAMPLE_STREAM, GenerativeAutoencoder
from genkit.errors import GenkitError


def _signatures(model: GenerativeAutoencoder) -> dict[str, tuple[Any, list[tf.TensorSpec]]]:
    """name -> (function, input signature) of every endpoint, with a condition input if conditional."""
    condition = [tf.TensorSpec((None, model.condition_dim), tf.float32, name="condition")] if model.conditional else []

    def encode(x: tf.Tensor, *condition: tf.Tensor) -> dict[str, tf.Tensor]:
        q = model.posterior_distribution(x, condition[0] if condition else None)
        return {"z": model.posterior.point(q)}

    def decode(z: tf.Tensor, *condition: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"x": model.decode_mean(z, condition[0] if condition else None)}

    def sample(n: tf.Tensor, seed: tf.Tensor, *condition: tf.Tensor) -> dict[str, tf.Tensor]:
        stateless = tf.stack([seed, tf.constant(SAMPLE_STREAM, tf.int32)])
        if model.sampler is not None and model.sampler.fitted:
            z = model.sampler.sample(n, stateless)
        else:
            conditional_prior = model.prior is not None and model.prior.conditional
            z = model.sample_prior(n, stateless, condition[0] if condition and conditional_prior else None)
        return {"z": z, **decode(z, *condition)}

    endpoints: dict[str, tuple[Any, list[tf.TensorSpec]]] = {
        "encode": (encode, [tf.TensorSpec((None, *model.data_shape), tf.float32, name="x"), *condition]),
        "decode": (decode, [tf.TensorSpec((None, *model.latent_shape), tf.float32, name="z"), *condition]),
    }
    if model.can_sample:
        endpoints["sample"] = (
            sample,
            [tf.TensorSpec((), tf.int32, name="n"), tf.TensorSpec((), tf.int32, name="seed"), *condition],
        )
    return endpoints


def export_model(model: GenerativeAutoencoder, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` as a SavedModel at ``path``; return the path.

    A model that cannot sample (a plain autoencoder without a fitted sampler) gets ``encode`` and
    ``decode`` only. An existing, non-empty ``path`` is refused unless ``overwrite``.
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise GenkitError(f"export path {path} already exists and is not empty; choose another or pass --overwrite")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, signature) in _signatures(model).items():
        archive.add_endpoint(name=name, fn=function, input_signature=signature)
    archive.write_out(str(path), verbose=False)
    return path
