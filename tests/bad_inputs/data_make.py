"""Writes the image folders and TFRecord files of the corpus' ``data_*`` cases into ``data_files/``
(run once; the outputs are committed). Each is wrong in exactly one way for the spec that names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).parent / "data_files"


def png(path: Path, height: int = 8, width: int = 8, seed: int = 0) -> bytes:
    """Write a small RGB PNG of random pixels to ``path``; return its bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    data = tf.io.encode_png(pixels).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def main() -> None:
    """Write every data file of the ``data_*`` cases."""
    for index in range(3):
        png(HERE / "truncated" / f"{index}.png", seed=index)
    whole = (HERE / "truncated" / "2.png").read_bytes()
    (HERE / "truncated" / "2.png").write_bytes(whole[: len(whole) // 2])  # a download cut short
    png(HERE / "not_an_image" / "0.png")
    (HERE / "not_an_image" / "1.png").write_text("this is a text file with an image's name\n")
    png(HERE / "mixed_sizes" / "0.png")
    png(HERE / "mixed_sizes" / "1.png", height=6, width=10)
    (HERE / "empty_folder").mkdir(parents=True, exist_ok=True)
    (HERE / "empty_folder" / ".gitkeep").write_text("")  # git keeps no empty folder; hidden files are not images
    for label in ("cat", "dog"):
        png(HERE / "empty_class" / label / "0.png")
    (HERE / "empty_class" / "fox").mkdir(exist_ok=True)
    (HERE / "empty_class" / "fox" / ".gitkeep").write_text("")
    records = HERE / "foreign_tfrecord"
    records.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(records / "train-00000-of-00001.tfrecord")) as writer:
        for index in range(4):  # another tool's layout: encoded PNG bytes under image/encoded, an int label
            feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[whole])),
                       "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[index % 2]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    metadata = {"format": "genkit-tfrecord", "version": 1, "example_shape": [8, 8, 3], "dtype": "uint8",
                "num_classes": 2, "splits": {"train": {"label_shape": [], "shards": [
                    {"file": "train-00000-of-00001.tfrecord", "examples": 4}]}}}
    (records / "genkit-tfrecord.json").write_text(json.dumps(metadata, indent=1) + "\n")


if __name__ == "__main__":
    main()
