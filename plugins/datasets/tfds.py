"""A TensorFlow Datasets dataset already prepared on disk, read shard by shard (genkit never downloads)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from genkit import ArrayData, Dataset, GenkitError, Stream


def _tfds() -> Any:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise GenkitError("dataset 'tfds' needs the tensorflow-datasets package, which is not installed: "
                          "pip install 'genkit[tfds]' (or pip install tensorflow-datasets), then prepare the "
                          "dataset on a machine with network access (tfds build NAME) and set data.data_dir") from None
    return tfds


class TFDSDataset(Dataset):
    """A TensorFlow Datasets dataset (e.g. ``mnist``, ``celeb_a``) read from its prepared files.

    genkit does not download: the data must already be in ``data_dir`` (prepare them once with
    ``tfds build NAME --data_dir DIR`` where there is network access). Without tensorflow-datasets,
    or without the prepared data, validation fails with a message saying what to do. Images are
    uint8 (scaled to [0, 1] by genkit); a piece is one file of the prepared split, so large
    datasets stream.

    Args:
        name: the TFDS name, with an optional config and version (``celeb_a``, ``mnist:3.0.1``).
        data_dir: the folder TFDS prepared the data in (default: TFDS' own, ``~/tensorflow_datasets``).
        train_split: the TFDS split used for training.
        test_split: the TFDS split used as the test split.
        image_key: the feature holding the image.
        label_key: the feature holding an integer class label (``null``: no labels).
    """

    def __init__(self, name: str, data_dir: str | None = None, train_split: str = "train", test_split: str = "test",
                 image_key: str = "image", label_key: str | None = "label"):
        self.name, self.data_dir = name, data_dir
        self.tfds_splits = {"train": train_split, "test": test_split}
        self.image_key, self.label_key = image_key, label_key

    def _builder(self) -> Any:
        tfds = _tfds()
        where = self.data_dir or "TFDS' default data folder (~/tensorflow_datasets)"
        try:
            builder = tfds.builder(self.name, data_dir=self.data_dir)
        except Exception as err:  # unknown name, or a config TFDS does not have
            raise GenkitError(f"TensorFlow Datasets has no dataset '{self.name}': {err}") from None
        if not tf.io.gfile.exists(builder.data_dir) or not builder.info.splits:
            raise GenkitError(f"TensorFlow Datasets' '{self.name}' is not prepared in {where}; genkit does not "
                              f"download: run 'tfds build {self.name}' where there is network access and copy the "
                              "folder here, or set data.data_dir to where it is")
        return builder

    def stream(self, split: str = "train") -> Stream:
        builder = self._builder()
        name = self.tfds_splits[split]
        if name not in builder.info.splits:
            raise GenkitError(f"'{self.name}' has no split '{name}'; it has {', '.join(builder.info.splits)}")
        features = builder.info.features
        for key in (self.image_key, self.label_key):
            if key is not None and key not in features:
                raise GenkitError(f"'{self.name}' has no feature '{key}'; its features: {', '.join(features)}")
        instructions = list(builder.info.splits[name].file_instructions)
        image = features[self.image_key]
        shape = tuple(int(d) for d in image.shape)
        if any(d is None for d in image.shape):
            raise GenkitError(f"the images of '{self.name}' have no fixed shape ({image.shape}); use a dataset "
                              "with one size, or convert them to an image folder and use image_folder with data.size")
        classes = 0 if self.label_key is None else int(getattr(features[self.label_key], "num_classes", 0) or 0)

        def read(pieces: Sequence[int]) -> tf.data.Dataset:
            chosen = [instructions[i] for i in pieces]
            files = tf.data.Dataset.from_tensor_slices(
                ([str(i.filename) for i in chosen], [int(i.skip) for i in chosen], [int(i.take) for i in chosen]))
            records = files.flat_map(lambda file, skip, take: tf.data.TFRecordDataset(file).skip(skip).take(take))

            def decode(record: tf.Tensor) -> dict[str, tf.Tensor]:
                example = features.deserialize_example(record)
                out = {"x": tf.ensure_shape(example[self.image_key], shape)}
                if self.label_key is not None:
                    out["y"] = tf.cast(example[self.label_key], tf.int64)
                return out

            return records.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

        dtype = np.dtype(image.np_dtype).name if hasattr(image, "np_dtype") else "uint8"
        names = list(getattr(features[self.label_key], "names", []) or []) if self.label_key else []
        return Stream(shape, dtype, list(range(len(instructions))), [int(i.take) for i in instructions], read,
                      None if self.label_key is None else (), classes, names)

    def load(self, split: str = "train") -> ArrayData:
        return self.stream(split).to_arrays()
