"""The datasets users have: image folders (class folders, resize and centre crop, grayscale, JPEG,
bad files skipped and counted), the colour image generator, TFRecord shards and ``genkit data
convert``, h5 files read in chunks, and the tfds dataset's message when tensorflow-datasets is
absent. Tiny data: folders of 8x8 images, a few hundred rows."""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
import warnings

import h5py
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from genkit_plugins.datasets.colour_shapes import FACTOR_NAMES, ColourShapes
from genkit_plugins.datasets.images import ImageFolder, image_size

import genkit
from genkit.assembly.data import prepare_data
from genkit.assembly.streaming import StreamedSplit
from genkit.cli import main
from genkit.runs.convert import convert


def _image(path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    encode = tf.io.encode_jpeg if path.suffix == ".jpg" else tf.io.encode_png
    path.write_bytes(encode(pixels).numpy())


def _stream_rows(stream) -> dict[str, np.ndarray]:
    batch = next(iter(stream.read(stream.pieces).batch(10_000)))
    return {key: value.numpy() for key, value in batch.items()}


def test_class_folders_give_labels_and_both_paths_read_the_same_pixels(tmp_path):
    rng = np.random.default_rng(0)
    pictures = {name: rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8) for name in ("cats", "dogs")}
    for name, images in pictures.items():
        for index, pixels in enumerate(images):
            _image(tmp_path / name / f"{index}.png", pixels)
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    dataset = ImageFolder(str(tmp_path), labels="folders")
    arrays = dataset.load("train")
    np.testing.assert_array_equal(arrays.x, np.concatenate([pictures["cats"], pictures["dogs"]]))  # PNG is lossless
    assert arrays.y.tolist() == [0, 0, 0, 1, 1, 1] and arrays.class_names == ["cats", "dogs"]
    streamed = _stream_rows(dataset.stream("train"))
    np.testing.assert_array_equal(streamed["x"], arrays.x)
    assert streamed["y"].dtype == np.int64 and len(dataset.stream("train").pieces) == 6  # a piece per file


def test_resize_crops_the_centre_and_grayscale_has_one_channel(tmp_path):
    wide = np.zeros((8, 16, 3), np.uint8)
    wide[:, 4:12] = 200  # the centre 8x8 of the 8x16 image is bright, the sides dark
    _image(tmp_path / "wide.png", wide)
    _image(tmp_path / "small.jpg", np.full((4, 4, 3), 90, np.uint8))
    assert image_size(str(tmp_path / "wide.png")) == (8, 16) and image_size(str(tmp_path / "small.jpg")) == (4, 4)
    arrays = ImageFolder(str(tmp_path), size=8).load("train")
    assert arrays.x.shape == (2, 8, 8, 3) and arrays.y is None
    # files in sorted order: the JPEG, upscaled, is still flat grey (lossy); of the wide PNG only the bright centre
    assert abs(int(arrays.x[0].astype(int).mean()) - 90) <= 2 and arrays.x[1].min() == 200
    gray = ImageFolder(str(tmp_path), size=4, color="grayscale").load("train")
    assert gray.x.shape == (2, 4, 4, 1) and gray.x[1, :, 1:3].min() == gray.x[1].max() == 200
    assert 100 < gray.x[1].min() < 200  # shrinking averages: the crop's edge columns blend in some dark


def test_bad_files_are_skipped_counted_and_named_with_on_bad_file_skip(tmp_path):
    for index in range(3):
        _image(tmp_path / f"{index}.png", np.full((8, 8, 3), index * 40, np.uint8))
    whole = (tmp_path / "2.png").read_bytes()
    (tmp_path / "2.png").write_bytes(whole[:20])
    (tmp_path / "3.png").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image files \(data.on_bad_file: skip\): .*2.png, "
                                         r".*3.png"):
        arrays = ImageFolder(str(tmp_path), on_bad_file="skip").load("train")
    assert arrays.x[:, 0, 0, 0].tolist() == [0, 40]
    with pytest.raises(genkit.GenkitError, match=r"cannot read image .*2.png: its PNG header is cut short"):
        ImageFolder(str(tmp_path)).load("train")


def test_the_folder_index_holds_a_file_in_its_path_bytes_and_16_bytes_more(tmp_path):
    # a folder of millions of files: as Python objects (a str per path in a list, a size tuple, a label)
    # a file cost ~130 bytes more than its path, and numpy's str array four bytes a character
    png = tf.io.encode_png(np.zeros((4, 6, 3), np.uint8)).numpy()  # the index reads headers only
    for index in range(1000):
        path = tmp_path / ("cats", "dogs")[index % 2] / f"{index:04d}.png"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(png)
    dataset = ImageFolder(str(tmp_path), labels="folders")
    tracemalloc.start()
    try:
        index = dataset.index("train")
        gc.collect()  # empties Python's free lists too (a freed tuple waits there, still traced)
        held = tracemalloc.get_traced_memory()[0]  # what the index keeps (numpy's buffers included)
    finally:
        tracemalloc.stop()
    longest = len(os.fsencode(tmp_path / "cats" / "0000.png"))
    assert index.paths.dtype == np.dtype(f"S{longest}") and index.path(500) == str(tmp_path / "dogs" / "0001.png")
    assert index.labels.tolist() == [0] * 500 + [1] * 500 and index.sizes.dtype == np.int32
    assert index.sizes.tolist() == [[4, 6]] * 1000 and dataset.example_shape() == (4, 6, 3)
    assert held / 1000 < longest + 16 + 8  # the path's bytes, label and size, plus a few bytes of fixed costs
    first = next(iter(dataset.stream("train").read([999, 0]).batch(2)))
    assert first["y"].numpy().tolist() == [1, 0] and first["x"].shape == (2, 4, 6, 3)


def test_colour_shapes_are_reproducible_streamed_alike_and_written_as_a_folder(tmp_path):
    dataset = ColourShapes(size=16, n_train=600, n_test=20)
    arrays = dataset.load("train")
    assert arrays.x.shape == (600, 16, 16, 3) and arrays.x.dtype == np.uint8 and arrays.factor_names == FACTOR_NAMES
    np.testing.assert_array_equal(arrays.x, ColourShapes(size=16, n_train=600, n_test=20).load("train").x)
    streamed = _stream_rows(dataset.stream("train"))  # two chunks of 512 and 88, generated on demand
    np.testing.assert_array_equal(streamed["x"], arrays.x)
    np.testing.assert_allclose(streamed["factors"], arrays.factors)
    assert sorted(np.unique(arrays.y).tolist()) == [0, 1, 2, 3] and arrays.x.std() > 20  # four shapes, in colour
    written = convert("colour_shapes", tmp_path / "out", to="image_folder", args={"size": 16, "n_train": 40,
                                                                                  "n_test": 8})
    assert written == {"train": 40, "test": 8}
    lines = (tmp_path / "out" / "train" / "factors.csv").read_text().splitlines()
    assert lines[0] == "file," + ",".join(FACTOR_NAMES) and len(lines) == 41
    back = ImageFolder(str(tmp_path / "out" / "train"), labels="folders").load("train")
    first = ColourShapes(size=16, n_train=40, n_test=8).load("train")
    files = [line.split(",")[0] for line in lines[1:]]  # read back in sorted (class folder) order
    np.testing.assert_array_equal(back.x, first.x[[files.index(f) for f in sorted(files)]])


def test_npz_converted_to_tfrecord_reads_back_shard_by_shard(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, (50, 6, 6), dtype=np.uint8), rng.integers(0, 3, 50)
    np.savez(tmp_path / "data.npz", x_train=x, y_train=y, x_test=x[:7])
    result = CliRunner().invoke(main, ["data", "convert", str(tmp_path / "data.npz"), str(tmp_path / "shards"),
                                       "--arg", "labels=y_train", "--examples-per-shard", "16"])
    assert result.exit_code == 0, result.output
    assert "train: 50 examples, test: 7 examples" in result.output
    dataset = genkit.registry("dataset").get("tfrecord").obj(str(tmp_path / "shards"))
    stream = dataset.stream("train")
    assert list(stream.sizes) == [16, 16, 16, 2] and stream.num_classes == 3  # a piece per shard
    arrays = dataset.load("train")
    np.testing.assert_array_equal(arrays.x, x)
    np.testing.assert_array_equal(arrays.y, y)
    test = dataset.load("test")  # the split without labels is described apart from the labelled one
    assert test.y is None and len(test.x) == 7
    again = CliRunner().invoke(main, ["data", "convert", str(tmp_path / "data.npz"), str(tmp_path / "shards")])
    assert again.exit_code == 2 and "not an empty folder" in again.stderr


def test_h5_streams_in_chunks_the_examples_it_loads(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, (70, 5, 5, 1), dtype=np.uint8)
    with h5py.File(tmp_path / "data.h5", "w") as handle:
        handle["images"], handle["labels"] = x, np.arange(70) % 4
    spec = {"name": "h5", "model": "vae", "latent_dim": 2,
            "data": {"type": "h5", "path": str(tmp_path / "data.h5"), "images": "images", "labels": "labels",
                     "test_images": None, "chunk": 32, "stream": True, "validation_split": 0.0},
            "encoder": {"type": "mlp", "hidden": [8]}, "decoder": {"type": "mlp", "hidden": [8]},
            "likelihood": "bernoulli", "train": {"epochs": 1, "batch_size": 10}}
    train = prepare_data(genkit.load_spec(spec)).train
    assert isinstance(train, StreamedSplit) and train.sizes == [32, 32, 6] and train.stream.num_classes == 4
    np.testing.assert_allclose(train.head(70).x, x / 255.0, rtol=1e-6)
    result = genkit.train(spec, progress=False)
    assert result.history[0]["step"] == 7 and np.isfinite(result.history[0]["loss"])


def test_tfds_without_tensorflow_datasets_fails_at_validation_saying_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # as if it were not installed
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: t\nlatent_dim: 2\ndata: {type: tfds, name: mnist}\nencoder: {type: mlp, hidden: [8]}\n"
                    "decoder: {type: mlp, hidden: [8]}\nlikelihood: bernoulli\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "dataset 'tfds' needs the tensorflow-datasets package" in result.stderr
    assert "pip install 'genkit[tfds]'" in result.stderr and "Traceback" not in result.stderr
