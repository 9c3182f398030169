"""genkit's feature network for sample quality: a small classifier trained on the labelled data, cached.

FID and precision/recall compare two sets of images in a network's feature space. The usual
network, Inception-v3 trained on ImageNet, is a download and knows little of 28 x 28 digits or
sprites; genkit trains a small convolutional classifier on the labelled training images instead
and takes the activations of its last hidden layer as features. Its weights are cached (see
:func:`genkit.cache.cache_dir`), keyed by a hash of the training images and labels and of the network's
settings, so every evaluation on the same data uses the same network, trained once, and nothing
is ever downloaded. The numbers are comparable only within this feature network: between models
evaluated on the same data by the same genkit version, never with FIDs published elsewhere.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from genkit.cache import cache_dir

#: Part of the cache key: change it whenever the architecture or the training below changes.
VERSION = 1
#: Width of the feature layer.
FEATURE_DIM = 128
#: Training: epochs over at most ``MAX_EXAMPLES`` labelled images, in batches of ``BATCH_SIZE``.
EPOCHS = 5
MAX_EXAMPLES = 20_000
BATCH_SIZE = 128
LEARNING_RATE = 1e-3


def _content_key(x: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> str:
    """A hash of the training images and labels and of everything that shapes the network."""
    digest = hashlib.sha256(f"v{VERSION} {x.shape} {FEATURE_DIM} {epochs} {BATCH_SIZE} {LEARNING_RATE} "
                            f"{seed}".encode())
    digest.update(np.ascontiguousarray(x, np.float32).tobytes())
    digest.update(np.ascontiguousarray(labels, np.int64).tobytes())
    return digest.hexdigest()[:24]


def _build(image_shape: tuple[int, ...], classes: int, seed: int) -> tuple[keras.Model, keras.Model]:
    """(classifier, feature extractor sharing its layers): three stride-2 convolutions, a dense feature
    layer and a linear head, with seeded initial weights."""
    def initial(offset: int) -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=seed * 10 + offset)

    inputs = keras.Input(image_shape)
    h = keras.layers.Reshape((*image_shape[:2], -1))(inputs)  # (H, W) images get a channel axis
    for index, filters in enumerate((32, 64, 64)):
        h = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu",
                                kernel_initializer=initial(index))(h)
    features = keras.layers.Dense(FEATURE_DIM, activation="relu", kernel_initializer=initial(3))(
        keras.layers.Flatten()(h))
    logits = keras.layers.Dense(classes, kernel_initializer=initial(4))(features)
    return keras.Model(inputs, logits), keras.Model(inputs, features)


def _train(classifier: keras.Model, x: np.ndarray, targets: np.ndarray, epochs: int,
           rng: np.random.Generator) -> None:
    """Adam on the cross-entropy, ``epochs`` passes in an order drawn from ``rng``; one compiled step
    (a Keras ``fit`` per epoch costs more in set-up than a small data set takes to train)."""
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = classifier.trainable_variables

    @tf.function(input_signature=[tf.TensorSpec([None, *x.shape[1:]], tf.float32), tf.TensorSpec([None], tf.int64)])
    def step(images: tf.Tensor, labels: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            loss = cross_entropy(labels, classifier(images, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))

    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            step(tf.constant(x[batch]), tf.constant(targets[batch], tf.int64))


@dataclass
class FeatureNetwork:
    """A trained feature network: ``features(x)`` for FID and precision/recall, ``accuracy`` to show
    that the features know the classes. ``key`` is its cache key."""

    classifier: keras.Model
    extractor: keras.Model
    classes: np.ndarray
    key: str

    def features(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """``[N, FEATURE_DIM]`` features of images ``x``."""
        x = np.asarray(x, np.float32)
        return np.concatenate([self.extractor(x[i : i + batch_size], training=False).numpy()
                               for i in range(0, len(x), batch_size)])

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Fraction of images ``x`` the classifier labels right."""
        head = self.classifier.layers[-1]
        logits = self.features(x) @ head.kernel.numpy() + head.bias.numpy()
        return float(np.mean(self.classes[np.argmax(logits, axis=1)] == np.asarray(labels)))


def feature_network(x: np.ndarray, labels: np.ndarray, epochs: int = EPOCHS, seed: int = 0,
                    cache: str | Path | None = None) -> FeatureNetwork:
    """The feature network of labelled images ``x`` ``[N, H, W(, C)]``: loaded from the cache, or
    trained (Adam, cross-entropy, the first ``MAX_EXAMPLES`` images, a seeded order) and cached.

    ``cache`` is the cache directory (default: :func:`cache_dir`). The file is written to a
    temporary name and renamed, so a concurrent evaluation never reads half a file.
    """
    x, labels = np.asarray(x, np.float32)[:MAX_EXAMPLES], np.asarray(labels)[:MAX_EXAMPLES]
    if x.ndim not in (3, 4):
        raise ValueError(f"the feature network takes images [N, H, W(, C)], got shape {x.shape}")
    classes, targets = np.unique(labels, return_inverse=True)
    key = _content_key(x, labels, epochs, seed)
    classifier, extractor = _build(x.shape[1:], len(classes), seed)
    path = Path(cache if cache is not None else cache_dir()) / "features" / f"{key}.weights.h5"
    if path.is_file():
        classifier.load_weights(path)
        return FeatureNetwork(classifier, extractor, classes, key)
    _train(classifier, x, targets, epochs, np.random.default_rng([seed, 17]))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{key}.{os.getpid()}.partial.weights.h5")
    classifier.save_weights(partial)
    os.replace(partial, path)
    return FeatureNetwork(classifier, extractor, classes, key)
