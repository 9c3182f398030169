"""Regularized deterministic autoencoders (RAE, Ghosh et al. 2020): a deterministic encoder whose
codes are kept small and whose decoder is kept smooth, sampled through a density fitted afterwards
(the ``gmm`` sampler)."""

from __future__ import annotations

from typing import Literal

import tensorflow as tf

from genkit import Batch, ModelSurface, Objective, split_seed


class RegularizedAutoencoder(Objective):
    """RAE: reconstruction + ``code_weight * ||z||^2 / 2`` + ``decoder_weight * R(decoder)``.

    ``regularizer: l2`` takes R as the squared norm of the decoder's weights (RAE-L2);
    ``gradient_penalty`` as the squared norm of the decoder output's gradient with respect to the
    code, per example (RAE-GP). Reports ``code_penalty`` and ``decoder_penalty``. Use with a
    deterministic posterior (``model: rae`` sets it, with a ``gmm`` sampler for sampling).

    Args:
        code_weight: beta, the weight of the code penalty (the paper: 1e-4 to 1e-2).
        decoder_weight: lambda, the weight of the decoder regularizer.
        regularizer: l2 (weight decay on the decoder) or gradient_penalty.
    """

    def __init__(self, code_weight: float = 1e-2, decoder_weight: float = 1e-4,
                 regularizer: Literal["l2", "gradient_penalty"] = "l2"):
        super().__init__()
        if code_weight < 0 or decoder_weight < 0:
            raise ValueError(f"code_weight and decoder_weight must be >= 0, got {code_weight}, {decoder_weight}")
        self.code_weight, self.decoder_weight, self.regularizer = code_weight, decoder_weight, regularizer

    def decoder_penalty(self, model: ModelSurface, z: tf.Tensor, condition: tf.Tensor | None) -> tf.Tensor:
        """R(decoder): the squared weight norm, or the batch mean of ``||d decode(z) / dz||^2``."""
        if self.regularizer == "l2":
            return tf.add_n([tf.reduce_sum(tf.square(v)) for v in model.decoder_variables()])
        with tf.GradientTape() as tape:
            tape.watch(z)
            total = tf.reduce_sum(model.decode_mean(z, condition, training=True))  # one backward pass
        gradient = tape.gradient(total, z)  # the sum is taken on the tape, or there is nothing to differentiate
        return tf.reduce_mean(tf.reduce_sum(tf.reshape(gradient**2, [tf.shape(z)[0], -1]), axis=-1))

    def loss_terms(self, model: ModelSurface, batch: Batch, seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        data_seed, terms_seed = split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)
        condition = model.condition_of(batch.get("y"))
        terms = model.per_example_terms(batch, condition, terms_seed, training)
        code = 0.5 * tf.reduce_mean(tf.reduce_sum(tf.reshape(terms.z**2, [tf.shape(terms.z)[0], -1]), axis=-1))
        decoder = self.decoder_penalty(model, terms.z, condition)
        reconstruction = tf.reduce_mean(terms.reconstruction)
        return {"loss": reconstruction + self.code_weight * code + self.decoder_weight * decoder,
                "reconstruction": reconstruction, "code_penalty": code, "decoder_penalty": decoder}
