"""Model-level objectives: the contractive penalty and Kingma et al.'s semi-supervised M2."""

from __future__ import annotations

import tensorflow as tf
from genkit_plugins.networks import MLPEncoder

from genkit import Batch, ModelSurface, Objective, Shape, split_seed


class Contractive(Objective):
    """Contractive autoencoder (Rifai et al. 2011): adds ``weight * ||J||_F^2`` to the autoencoder
    loss, J the Jacobian of the encoder's code (the posterior's point summary) with respect to the
    encoder input, computed per example with ``tf.GradientTape.batch_jacobian``.

    Args:
        weight: multiplier of the squared Frobenius norm.
    """

    def __init__(self, weight: float = 0.1):
        super().__init__()
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = weight

    def jacobian_norm(self, model: ModelSurface, batch: Batch, training: bool = True) -> tf.Tensor:
        """Squared Frobenius norm ``[batch]`` of d code / d encoder input."""
        x = tf.convert_to_tensor(batch.get("x_input", batch["x"]), tf.float32)
        condition = model.condition_of(batch.get("y"))
        with tf.GradientTape() as tape:
            tape.watch(x)
            code = model.posterior.point(model.posterior_distribution(x, condition, training=training))
        jacobian = tape.batch_jacobian(code, x)
        return tf.reduce_sum(tf.reshape(tf.square(jacobian), [tf.shape(jacobian)[0], -1]), axis=-1)

    def loss_terms(self, model: ModelSurface, batch: Batch, seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        data_seed, loss_seed = split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)  # preprocess is idempotent: the loss sees this batch
        terms = model.autoencoder_loss_terms(batch, loss_seed, training)
        penalty = tf.reduce_mean(self.jacobian_norm(model, batch, training))
        return {**terms, "loss": terms["loss"] + self.weight * penalty, "contractive": penalty}


def class_indices(y: tf.Tensor) -> tf.Tensor:
    """Class indices ``[batch]`` (int32, -1 = unlabelled) from indices or one-hot label vectors."""
    y = tf.convert_to_tensor(y)
    if y.shape.rank == 2:
        return tf.argmax(y, axis=-1, output_type=tf.int32)
    return tf.cast(y, tf.int32)


class M2(Objective):
    """Kingma et al. 2014 M2 semi-supervised VAE: a classifier q(y|x) and a conditional VAE
    q(z|x, y), p(x|y, z) with a uniform p(y).

    Per example (batch labels of -1 mean unlabelled)::

        labelled:    L(x, y) + alpha * -log q(y|x)
        unlabelled:  U(x) = sum_y q(y|x) L(x, y) - H(q(y|x))
        L(x, y) = -log p(x|y, z) + weight * D(q(z|x, y) || p(z)) + log K

    The unlabelled term decodes every class, so a step costs K (the class count) passes of the
    conditional VAE. ``model.classify`` uses q(y|x). Needs ``conditional: true``.

    Args:
        alpha: weight of the classification loss of a labelled example relative to its ELBO term
            (Kingma et al.'s alpha = 0.1 N over the data set is 0.1 N / N_labelled here).
        hidden: widths of the classifier's hidden layers.
        activation: the classifier's activation (Kingma et al. use softplus; on MNIST with 100
            labels, relu on binarized pixels beat softplus on grayscale ones in short runs:
            docs/families/semi_supervised.md).
    """

    requires_conditional = True

    def __init__(
        self,
        data_shape: Shape,
        condition_dim: int = 0,
        alpha: float = 10.0,
        hidden: list[int] = [500],  # noqa: B006 - read-only default, shown in the spec reference
        activation: str = "relu",
    ):
        super().__init__()
        if condition_dim < 2:
            raise ValueError("M2 needs class labels as the condition (conditional: true, at least 2 classes)")
        self.num_classes = int(condition_dim)
        self.alpha = alpha
        self.classifier = MLPEncoder(data_shape, self.num_classes, hidden=hidden, activation=activation)

    def class_logits(self, model: ModelSurface, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The classifier's logits of q(y|x), in float32 whatever precision it computes in."""
        return tf.cast(self.classifier(x, training=training), tf.float32)

    def loss_terms(self, model: ModelSurface, batch: Batch, seed: tf.Tensor,
                   training: bool = True) -> dict[str, tf.Tensor]:
        data_seed, terms_seed = split_seed(seed, 2)
        batch = model.preprocess(batch, data_seed)
        x, x_input = batch["x"], batch.get("x_input", batch["x"])
        k = self.num_classes
        labels = class_indices(batch["y"])
        size = tf.shape(labels)[0]
        labelled = labels >= 0
        logits = self.class_logits(model, x_input, training)
        log_q_y = tf.nn.log_softmax(logits)
        # every example under every class: rows ordered class-major, [K * batch]
        every_class = tf.repeat(tf.range(k), size)
        tiled = {"x": tf.tile(x, [k, *[1] * (len(x.shape) - 1)]),
                 "x_input": tf.tile(x_input, [k, *[1] * (len(x.shape) - 1)])}
        terms = model.per_example_terms(tiled, tf.one_hot(every_class, k), terms_seed, training)
        per_class = tf.transpose(tf.reshape(terms.loss, [k, size]))  # [batch, K]
        per_class += tf.math.log(tf.cast(k, per_class.dtype))
        q_y = tf.exp(log_q_y)
        unlabelled_loss = tf.reduce_sum(q_y * (per_class + log_q_y), axis=-1)  # E_q[L] - H(q)
        safe_labels = tf.maximum(labels, 0)
        labelled_elbo = tf.gather(per_class, safe_labels, batch_dims=1)
        cross_entropy = -tf.gather(log_q_y, safe_labels, batch_dims=1)
        per_example = tf.where(labelled, labelled_elbo + self.alpha * cross_entropy, unlabelled_loss)
        n_labelled = tf.reduce_sum(tf.cast(labelled, per_class.dtype))
        reconstruction = tf.transpose(tf.reshape(terms.reconstruction, [k, size]))
        weights = tf.where(labelled[:, None], tf.one_hot(safe_labels, k), q_y)
        return {
            "loss": tf.reduce_mean(per_example),
            "reconstruction": tf.reduce_mean(tf.reduce_sum(weights * reconstruction, axis=-1)),
            "classification": tf.reduce_sum(tf.where(labelled, cross_entropy, 0.0)) / tf.maximum(n_labelled, 1.0),
            "labelled_fraction": n_labelled / tf.cast(size, per_class.dtype),
        }
