"""Sharded TFRecord files in genkit's layout, and the writer behind ``genkit data convert``.

A folder holds the shards of each split, ``<split>-00000-of-00004.tfrecord`` ..., and beside
them ``genkit-tfrecord.json``: the example shape and dtype, the class names and, per split, the
labels' shape, the factor names and every shard's file name and number of examples (so a run
knows its steps per epoch without counting records). Each record is a ``tf.train.Example`` with
the features

- ``x``: bytes, the example's values in C order as the metadata's ``dtype`` (little-endian),
  reshaped to ``example_shape`` when read;
- ``y`` (only when the split's ``label_shape`` is not null): int64 ``[1]``, a class index
  (``label_shape: []``), or float ``[d]``, a condition vector (``label_shape: [d]``);
- ``factors`` (only when the split's ``factor_names`` is not empty): float ``[F]``, known
  generative factors.

A piece is a shard. Records are parsed in batches (``tf.io.parse_example``), which is several
times faster than one record at a time.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from genkit import ArrayData, Dataset, GenkitError, Stream, one_at_a_time

#: The metadata file beside the shards.
METADATA = "genkit-tfrecord.json"
FORMAT = "genkit-tfrecord"
VERSION = 1
#: Records parsed per call of ``tf.io.parse_example``.
PARSE_BATCH = 256


def _describe_features(example: tf.train.Example) -> str:
    features = example.features.feature
    kinds = {name: feature.WhichOneof("kind").removesuffix("_list") for name, feature in features.items()}
    return ", ".join(f"{name} ({kind})" for name, kind in sorted(kinds.items())) or "none"


class TFRecordFiles(Dataset):
    """Sharded TFRecord files in genkit's layout (docs/data.md), read a shard at a time.

    ``genkit data convert`` writes them from any dataset genkit reads.

    Loaded whole when the decoded examples fit in memory; else (``data.stream: auto``) streamed,
    one shard per piece. uint8 examples are scaled to [0, 1]. A relative ``path`` is relative to
    the spec file.

    Args:
        path: the folder holding the shards and their genkit-tfrecord.json.
    """

    path_args: ClassVar[tuple[str, ...]] = ("path",)

    def __init__(self, path: str):
        self.path = Path(path)
        self._metadata: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        """The folder's genkit-tfrecord.json, read once and checked."""
        if self._metadata is None:
            file = self.path / METADATA
            if not self.path.is_dir():
                raise GenkitError(f"TFRecord folder not found: {self.path} (data.path)")
            if not file.is_file():
                raise GenkitError(f"{self.path} has no {METADATA} beside its shards; genkit reads the example shape "
                                  "and every shard's size from it: write the shards with genkit data convert, or "
                                  "write that file as docs/data.md describes")
            try:
                metadata = json.loads(file.read_text())
                if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
                    raise ValueError(f"expected format '{FORMAT}' version {VERSION}")
                missing = [key for key in ("example_shape", "dtype", "splits") if key not in metadata]
                if missing:
                    raise ValueError(f"it lacks {', '.join(missing)}")
                np.dtype(metadata["dtype"])
            except (ValueError, KeyError, TypeError) as err:
                raise GenkitError(f"{file} is not a valid {METADATA}: {type(err).__name__}: {err}") from None
            self._metadata = metadata
        return self._metadata

    def _split(self, split: str) -> dict[str, Any]:
        splits = self.metadata()["splits"]
        if split not in splits:
            raise GenkitError(f"{self.path / METADATA} lists no '{split}' split; it has {', '.join(splits) or 'none'}")
        return splits[split]

    def _shards(self, split: str) -> tuple[list[str], list[int]]:
        shards = self._split(split)["shards"]
        files = [str(self.path / shard["file"]) for shard in shards]
        for file in files:
            if not os.path.isfile(file):
                raise GenkitError(f"shard {file}, listed in {self.path / METADATA}, is missing")
        return files, [int(shard["examples"]) for shard in shards]

    def _check_layout(self, file: str, split: str) -> None:
        """The first record of a shard has the features the metadata promises; else name what it has."""
        metadata, label_shape = self.metadata(), self._split(split).get("label_shape")
        try:
            first = next(iter(tf.data.TFRecordDataset(file).take(1)), None)
        except tf.errors.OpError as err:
            raise GenkitError(f"cannot read {file} as a TFRecord file: {err.message.splitlines()[0]}") from None
        if first is None:
            return
        try:
            example = tf.train.Example.FromString(first.numpy())
        except Exception as err:  # a record that is not a serialized tf.train.Example (protobuf's DecodeError)
            raise GenkitError(f"{file}: its records are not tf.train.Example messages ({err})") from None
        features = example.features.feature
        expected_bytes = math.prod(metadata["example_shape"]) * np.dtype(metadata["dtype"]).itemsize
        problem = None
        if "x" not in features or features["x"].WhichOneof("kind") != "bytes_list":
            problem = "it has no bytes feature 'x'"
        elif len(features["x"].bytes_list.value) != 1 or len(features["x"].bytes_list.value[0]) != expected_bytes:
            problem = (f"its feature 'x' does not hold {expected_bytes} bytes (an example of shape "
                       f"{tuple(metadata['example_shape'])} as {metadata['dtype']})")
        elif label_shape is not None:
            kind = "int64_list" if label_shape == [] else "float_list"
            if "y" not in features or features["y"].WhichOneof("kind") != kind:
                problem = f"it has no {kind.removesuffix('_list')} feature 'y' (the labels the metadata declares)"
        if problem:
            raise GenkitError(f"{file}: the first record does not have genkit's TFRecord layout: {problem}; its "
                              f"features: {_describe_features(example)}. genkit reads 'x' (bytes), 'y' and 'factors' "
                              "(docs/data.md); write shards with genkit data convert")

    def stream(self, split: str = "train") -> Stream:
        metadata = self.metadata()
        files, sizes = self._shards(split)
        for file in files:
            self._check_layout(file, split)
        shape = tuple(int(d) for d in metadata["example_shape"])
        dtype = tf.as_dtype(np.dtype(metadata["dtype"]))
        described = self._split(split)
        label_shape = None if described.get("label_shape") is None else tuple(described["label_shape"])
        factor_names = list(described.get("factor_names") or [])
        features = {"x": tf.io.FixedLenFeature([], tf.string)}
        if label_shape is not None:
            features["y"] = tf.io.FixedLenFeature(label_shape, tf.int64 if label_shape == () else tf.float32)
        if factor_names:
            features["factors"] = tf.io.FixedLenFeature([len(factor_names)], tf.float32)

        def parse(records: tf.Tensor) -> dict[str, tf.Tensor]:
            parsed = tf.io.parse_example(records, features)
            values = tf.io.decode_raw(parsed["x"], dtype)
            return {**parsed, "x": tf.reshape(values, [-1, *shape])}

        def read_batches(pieces: Sequence[int]) -> tf.data.Dataset:
            records = tf.data.TFRecordDataset([files[i] for i in pieces], buffer_size=1 << 22)
            return records.batch(PARSE_BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

        return Stream(shape, np.dtype(metadata["dtype"]).name, list(range(len(files))), sizes,
                      one_at_a_time(read_batches), label_shape, int(metadata.get("num_classes", 0)),
                      list(metadata.get("class_names") or []), factor_names, read_batches)

    def load(self, split: str = "train") -> ArrayData:
        return self.stream(split).to_arrays()

    @staticmethod
    def write(streams: dict[str, Stream], out: str | Path, examples_per_shard: int = 4096) -> dict[str, int]:
        """Write each split's stream as shards in ``out`` (a new or empty folder), the metadata last;
        return the examples written per split. Reads each stream a shard at a time (bounded memory)."""
        out = Path(out)
        first = next(iter(streams.values()))
        metadata: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "example_shape": list(first.example_shape), "dtype": first.dtype,
            "num_classes": first.num_classes, "class_names": list(first.class_names), "splits": {},
        }
        for split, stream in streams.items():
            count = max(1, math.ceil(len(stream) / examples_per_shard))
            names = [f"{split}-{index:05d}-of-{count:05d}.tfrecord" for index in range(count)]
            sizes = [0] * count
            examples = stream.read(stream.pieces).batch(examples_per_shard).prefetch(1)
            for index, batch in enumerate(examples):
                arrays = {key: value.numpy() for key, value in batch.items()}
                with tf.io.TFRecordWriter(str(out / names[index])) as writer:
                    for row in range(len(arrays["x"])):
                        writer.write(_example(arrays, row).SerializeToString())
                sizes[index] = len(arrays["x"])
            metadata["splits"][split] = {
                "label_shape": None if stream.label_shape is None else list(stream.label_shape),
                "factor_names": list(stream.factor_names),
                "shards": [{"file": name, "examples": size} for name, size in zip(names, sizes, strict=True)],
            }
        temporary = out / f".{METADATA}.tmp"
        temporary.write_text(json.dumps(metadata, indent=1) + "\n")
        os.replace(temporary, out / METADATA)
        return {split: sum(shard["examples"] for shard in part["shards"]) for split, part in metadata["splits"].items()}


def _example(arrays: dict[str, np.ndarray], row: int) -> tf.train.Example:
    """Row ``row`` of a batch as a ``tf.train.Example`` in genkit's layout."""
    x = np.ascontiguousarray(arrays["x"][row])
    feature = {"x": tf.train.Feature(bytes_list=tf.train.BytesList(value=[x.astype(x.dtype.newbyteorder("<"))
                                                                            .tobytes()]))}
    if "y" in arrays:
        y = arrays["y"][row]
        feature["y"] = (tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y)])) if np.ndim(y) == 0 else
                        tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(y, np.float32).ravel())))
    if "factors" in arrays:
        feature["factors"] = tf.train.Feature(float_list=tf.train.FloatList(value=arrays["factors"][row]))
    return tf.train.Example(features=tf.train.Features(feature=feature))
