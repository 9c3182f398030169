"""Adversarial autoencoders with a categorical latent (Makhzani et al. 2016, sections 5 and 6):
semi-supervised classification and unsupervised clustering.

The code is ``z = [style (latent_dim - classes), category (classes)]``: the ``categorical_aae``
posterior head turns the encoder's last ``classes`` outputs into a softmax, the prior of the same
name draws a Gaussian style and a one-hot category, and the ``categorical_aae`` objective matches
each part to its prior with its own discriminator (an :class:`Adversarial` on a slice of z) and,
for labelled examples (label >= 0), adds a classification phase. With no labels it clusters the
data into ``classes`` clusters; ``model.classify`` returns the category.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf
from genkit_plugins.divergences import Adversarial
from genkit_plugins.objectives import class_indices
from tensorflow_probability import distributions as tfd

from genkit import GenkitError, ModelSurface, Objective, OptimizerSpec, Phase, Posterior, Prior


def _check_split(latent_dim: int, classes: int) -> None:
    if classes < 2 or latent_dim <= classes:
        raise ValueError(f"latent_dim ({latent_dim}) must be the style size plus classes ({classes}), classes >= 2")


def imbalance_of(logits: tf.Tensor) -> tf.Tensor:
    """KL(u || uniform) of the mean category distribution u over a batch of logits ``[N, K]``:
    0 when the batch uses the K categories equally, log K when it puts everything in one."""
    usage = tf.reduce_mean(tf.nn.softmax(logits), axis=0)
    classes = tf.cast(tf.shape(logits)[-1], usage.dtype)
    return tf.reduce_sum(usage * (tf.math.log(tf.maximum(usage, 1e-12)) + tf.math.log(classes)))


class StyleAndCategory(Posterior):
    """Deterministic code ``[style, softmax(logits)]``: the last ``classes`` encoder outputs are
    the category's logits (the AAE's q(y|x)), the others the style.

    Args:
        classes: size of the categorical part (clusters or classes).
    """

    deterministic = True

    def __init__(self, latent_dim: int, classes: int = 10):
        super().__init__(latent_dim)
        _check_split(latent_dim, classes)
        self.classes = classes

    @property
    def param_size(self) -> int:
        return self.latent_dim

    def distribution(self, params):
        style, logits = params[:, : -self.classes], params[:, -self.classes :]
        code = tf.concat([style, tf.nn.softmax(logits)], axis=-1)
        return tfd.Independent(tfd.Deterministic(code), reinterpreted_batch_ndims=1)


class StyleAndCategoryPrior(Prior):
    """p(z) = N(0, I) over the style times a uniform one-hot categorical over ``classes``.

    Label layout: class c owns the one-hot vector e_c (any style), so ``model.sample`` of a class
    is possible through ``sample_for_labels``.

    Args:
        classes: size of the categorical part.
    """

    def __init__(self, latent_dim: int, classes: int = 10):
        super().__init__(latent_dim)
        _check_split(latent_dim, classes)
        self.classes = classes

    def _style(self) -> tfd.Distribution:
        return tfd.Independent(tfd.Normal(tf.zeros(self.latent_dim - self.classes), 1.0), reinterpreted_batch_ndims=1)

    def distribution(self):
        category = tfd.OneHotCategorical(logits=tf.zeros(self.classes), dtype=tf.float32)
        return tfd.Blockwise([self._style(), category])

    @property
    def num_classes(self) -> int:
        return self.classes

    def sample_for_labels(self, labels, seed):
        labels = tf.cast(labels, tf.int32)
        style = self._style().sample(tf.shape(labels)[0], seed=seed)
        return tf.concat([style, tf.one_hot(tf.math.floormod(labels, self.classes), self.classes)], axis=-1)


class SlicedAdversarial(Adversarial):
    """An :class:`Adversarial` whose discriminator sees only ``z[:, start:stop]`` (and the same
    slice of the prior draws): one part of a code matched to the same part of the prior."""

    def __init__(self, start: int, stop: int, **kwargs: Any):
        self.start, self.stop = start, stop
        super().__init__(stop - start, **kwargs)

    def discriminator_input(self, z, batch):
        return z[:, self.start : self.stop]


class CategoricalAAE(Objective):
    """Semi-supervised / clustering AAE: reconstruction (main phase), then a discriminator and a
    generator phase for the style and for the category, then (for labelled examples) a
    classification phase on the category logits. Use with ``posterior: categorical_aae``,
    ``prior: categorical_aae`` and ``divergence: none`` (the adversaries live here).

    Args:
        classes: number of categories (the data's classes, or the clusters wanted).
        hidden: hidden widths of both discriminators.
        discriminator_optimizer: optimizer of both discriminator phases.
        generator_optimizer: optimizer of both generator phases (default: the spec's train.optimizer).
        classifier_optimizer: optimizer of the classification phase (default: train.optimizer).
        supervised_weight: multiplier of the classification loss (0: unsupervised clustering).
        balance: multiplier of the cluster balance term, KL(mean of q(y|x) over the batch || uniform),
            added to the classification phase. Clustering needs it: without it the generator phase
            pushes every code to the one-hot corner nearest to where the untrained encoder puts all
            images (the same corner), and once the softmax saturates its gradient vanishes, so
            neither the discriminator nor the reconstruction can move images to the other clusters.
            The term enforces from the first step the uniform cluster use that the category
            discriminator would otherwise only demand after the collapse.
        input_noise: standard deviation of the instance noise on both discriminators' inputs
            (``adversarial``'s option; Makhzani et al.'s reference setups use 0.3). It keeps the
            category discriminator from telling a softmax from a one-hot vector by its exactness.
    """

    def __init__(
        self,
        latent_dim: int,
        classes: int = 10,
        hidden: list[int] = [256, 256],  # noqa: B006 - read-only default
        discriminator_optimizer: OptimizerSpec = OptimizerSpec(type="adam", learning_rate=1e-4),
        generator_optimizer: OptimizerSpec | None = None,
        classifier_optimizer: OptimizerSpec | None = None,
        supervised_weight: float = 1.0,
        balance: float = 0.0,
        input_noise: float = 0.0,
    ):
        super().__init__()
        _check_split(latent_dim, classes)
        self.classes = classes
        self.supervised_weight = supervised_weight
        self.balance = balance
        options = {"hidden": hidden, "discriminator_optimizer": discriminator_optimizer,
                   "generator_optimizer": generator_optimizer, "input_noise": input_noise}
        style = latent_dim - classes
        self.style_adversary = SlicedAdversarial(0, style, **options)
        self.category_adversary = SlicedAdversarial(style, latent_dim, **options)
        self.classifier_optimizer = (
            None if classifier_optimizer is None else OptimizerSpec.model_validate(classifier_optimizer).model_dump()
        )

    def class_logits(self, model: ModelSurface, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The category logits q(y|x): the encoder's last ``classes`` outputs, in float32 whatever
        precision the encoder computes in."""
        return tf.cast(model.encoder(x, training=training)[:, -self.classes :], tf.float32)

    def exclusive_variables(self):
        return [*self.style_adversary.trainable_variables, *self.category_adversary.trainable_variables]

    def phases(self, model: ModelSurface) -> list[Phase]:
        head = model.posterior
        if not isinstance(head, StyleAndCategory) or head.classes != self.classes:
            raise GenkitError(f"the categorical_aae objective needs 'posterior: {{type: categorical_aae, "
                              f"classes: {self.classes}}}'")

        def classification_loss(batch, seed):
            batch = model.preprocess(batch, seed)
            logits = self.class_logits(model, batch.get("x_input", batch["x"]), training=True)
            imbalance = imbalance_of(logits)
            if "y" in batch:
                labels = class_indices(batch["y"])
                labelled = labels >= 0
                cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(labels, 0), logits)
                count = tf.reduce_sum(tf.cast(labelled, tf.float32))
                mean = tf.reduce_sum(tf.where(labelled, cross_entropy, 0.0)) / tf.maximum(count, 1.0)
            else:  # data without labels: clustering only
                mean = tf.zeros([])
            return {"loss": self.supervised_weight * mean + self.balance * imbalance, "cross_entropy": mean,
                    "imbalance": imbalance}


        renamed = [
            dataclasses.replace(phase, name=f"{part}_{phase.name}")
            for part, adversary in (("style", self.style_adversary), ("category", self.category_adversary))
            for phase in adversary.phases(model)
        ]
        classification = Phase("classification", classification_loss, model.encoder_variables,
                               self.classifier_optimizer)
        return [*renamed, classification]
