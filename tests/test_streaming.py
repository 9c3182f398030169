"""Data that stream: npy files read in chunks through tf.data, chosen by data.stream and the memory
budget; epochs seeded, reproducible, resumed mid-epoch exactly; refused where streaming cannot work."""

from __future__ import annotations

import copy
import dataclasses
import signal
import weakref

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_VAE, write_shapes_npy
from runcheck import wait_for
from test_checkpoint import _SignalAtStep

import genkit
from genkit.assembly import streaming
from genkit.assembly.data import prepare_data
from genkit.assembly.streaming import StreamedSplit
from genkit.errors import TrainingInterrupted
from genkit.runs.train import train
from genkit.training.epoch_inputs import EpochInputs


@pytest.fixture(scope="module")
def npy_files(tmp_path_factory):
    """300 shapes images (uint8) and their labels as .npy files."""
    folder = write_shapes_npy(tmp_path_factory.mktemp("npy"), 300, 60)
    return folder


def npy_spec(folder, stream, **data) -> dict:
    spec = copy.deepcopy(TINY_VAE)
    spec["data"] = {"type": "npy", "images": str(folder / "x.npy"), "labels": str(folder / "y.npy"),
                    "chunk": 16, "stream": stream, "validation_split": 0.2, **data}
    spec["train"]["epochs"] = 2
    return spec


def test_auto_streams_only_past_the_memory_budget(npy_files):
    # 300 images of 12x12 as float32 are 173 kB: in memory by default, streamed under a 0 MB... 1 MB budget
    assert not isinstance(prepare_data(genkit.load_spec(npy_spec(npy_files, "auto"))).train, StreamedSplit)
    streamed = prepare_data(genkit.load_spec(npy_spec(npy_files, True)))
    assert isinstance(streamed.train, StreamedSplit)
    # whole 16-example chunks: 19 pieces (the last of 12), about 20% of them (4) for validation
    assert len(streamed.train) + len(streamed.validation) == 300 and len(streamed.validation.pieces) == 4
    assert streamed.data_shape == (12, 12, 1) and streamed.num_classes == 4


def test_an_epoch_is_seeded_and_skipping_batches_resumes_it_exactly(npy_files):
    split = prepare_data(genkit.load_spec(npy_spec(npy_files, True))).train
    first = [batch["x"].numpy() for batch in split.epoch(1, 40)]
    again = [batch["x"].numpy() for batch in split.epoch(1, 40)]
    resumed = [batch["x"].numpy() for batch in split.epoch(1, 40, skip_batches=3)]
    other = [batch["x"].numpy() for batch in split.epoch(2, 40)]
    assert len(first) == -(-len(split) // 40) and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(first[3:], resumed, strict=True))
    assert not np.array_equal(first[0], other[0])
    seen = np.concatenate(first)
    assert seen.dtype == np.float32 and 0.0 <= seen.min() and seen.max() <= 1.0
    assert len(np.unique(seen.reshape(len(seen), -1), axis=0)) == len(split)  # every example once


def test_a_stream_read_in_batches_is_mixed_a_window_at_a_time(npy_files, monkeypatch):
    monkeypatch.setattr(streaming, "WINDOW_EXAMPLES", 50)
    split = prepare_data(genkit.load_spec(npy_spec(npy_files, True))).train
    assert split.stream.read_batches is not None and split.window() == 50
    in_order = np.concatenate([batch["x"].numpy() for batch in split.stream.read_batches(
        [split.pieces[i] for i in split.deal(1)[0]])]).astype(np.float32) / 255.0
    mixed = np.concatenate([batch["x"].numpy() for batch in split.epoch(1, 32)])
    flat = lambda images: images.reshape(len(images), -1)  # noqa: E731
    for start in range(0, len(split), 50):  # each window holds the same examples, in a new order
        window, original = flat(mixed[start : start + 50]), flat(in_order[start : start + 50])
        assert np.array_equal(np.unique(window, axis=0), np.unique(original, axis=0))
        assert not np.array_equal(window, original)
    assert np.array_equal(split.stream.to_arrays().x, np.concatenate(
        [batch["x"].numpy() for batch in split.stream.read(list(split.stream.pieces)).batch(7)]))


def test_pieces_of_one_example_are_read_in_the_epochs_seeded_order_without_windows(npy_files):
    # image files are pieces of one example: their seeded order is a uniform permutation already, and
    # mixing windows of them would only hold two more windows of images in memory
    split = prepare_data(genkit.load_spec(npy_spec(npy_files, True, chunk=1))).train
    images = np.load(npy_files / "x.npy").astype(np.float32) / 255.0
    for epoch in (1, 2):
        order = [split.pieces[i] for i in split.deal(epoch)[0]]
        read = np.concatenate(arrays(split.epoch(epoch, 32)))
        assert np.array_equal(read, images[order])


def prefetch_depths(dataset: tf.data.Dataset) -> list[int]:
    """The buffer sizes of the prefetch stages of a tf.data pipeline, read from its graph."""
    graph = tf.compat.v1.GraphDef.FromString(tf.raw_ops.DatasetToGraphV2(input_dataset=dataset._variant_tensor).numpy())
    nodes = {node.name: node for node in graph.node}
    return [int(tf.make_ndarray(nodes[node.input[1].split(":")[0]].attr["value"].tensor))
            for node in graph.node if node.op == "PrefetchDataset"]


def test_an_epoch_prefetches_a_bounded_number_of_bytes(npy_files, monkeypatch):
    # under AUTOTUNE a reader slower than training (decoding images) saw its prefetch limit doubled again
    # and again, and the buffer filled to it whenever training stalled: 1.5-1.8 GB peaks on a 4 GB image folder
    split = prepare_data(genkit.load_spec(npy_spec(npy_files, True))).train
    batch_bytes = sum(value.numpy().nbytes for value in next(iter(split.epoch(1, 40))).values())
    assert prefetch_depths(split.epoch(1, 40)) == [streaming.PREFETCH_BYTES // batch_bytes]
    assert streaming.PREFETCH_BYTES // batch_bytes > 100  # small batches: a deep buffer
    monkeypatch.setattr(streaming, "PREFETCH_BYTES", 3 * batch_bytes + 1)
    assert prefetch_depths(split.epoch(1, 40)) == [3]
    monkeypatch.setattr(streaming, "PREFETCH_BYTES", batch_bytes)
    assert prefetch_depths(split.epoch(1, 40)) == [streaming.MIN_PREFETCH_BATCHES] == [2]  # large ones: two


def arrays(batches) -> list[np.ndarray]:
    return [batch["x"].numpy() for batch in batches]


def same_batches(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("reader", ["read_batches", "read"])
def test_a_span_of_epochs_reads_each_epoch_as_if_alone(npy_files, reader):
    split = prepare_data(genkit.load_spec(npy_spec(npy_files, True))).train
    if reader == "read":  # a stream that reads one example at a time (image files)
        split = dataclasses.replace(split, stream=dataclasses.replace(split.stream, read_batches=None))
    epochs = [arrays(split.epoch(epoch, 40)) for epoch in (1, 2, 3)]
    assert same_batches(arrays(split.batches(1, 3, 40)), epochs[0] + epochs[1] + epochs[2])
    assert same_batches(arrays(split.batches(2, 3, 40, skip_batches=2)), epochs[1][2:] + epochs[2])
    flat = lambda images: images.reshape(len(images), -1)  # noqa: E731
    for epoch in epochs:  # every example once an epoch, the last batch partial, a new order every epoch
        seen = np.concatenate(epoch)
        assert [len(batch) for batch in epoch] == [40] * (len(split) // 40) + [len(split) % 40]
        assert len(np.unique(flat(seen), axis=0)) == len(split)
    assert not np.array_equal(epochs[0][0], epochs[1][0])


def test_a_run_reads_its_epochs_through_one_iterator_or_makes_the_next_span_ahead(npy_files, monkeypatch):
    split = prepare_data(genkit.load_spec(npy_spec(npy_files, True))).train
    inputs = EpochInputs(split, 40, last_epoch=3)
    try:  # a small run: one pipeline for every epoch, built once
        first = inputs.iterator(1)
        assert inputs.span == (1, 3) and inputs.ahead is None
        assert inputs.iterator(2) is first and inputs.iterator(3) is first
    finally:
        inputs.close()
    steps = split.steps_per_epoch(1, 40)
    monkeypatch.setattr(streaming, "SPAN_ENTRIES", 2 * (len(split.pieces) + steps + 3))  # two epochs a span
    inputs = EpochInputs(split, 40, last_epoch=5)
    try:
        first = inputs.iterator(1)
        assert inputs.span == (1, 2) and inputs.ahead == 3  # made in the background from here on
        assert same_batches([next(first)["x"].numpy() for _ in range(2 * steps)],
                            arrays(split.epoch(1, 40)) + arrays(split.epoch(2, 40)))
        assert inputs.iterator(2) is first
        dropped = weakref.ref(first)
        del first  # the trainer's reference; EpochInputs drops its own in the background at the next span
        third = inputs.iterator(3)
        assert inputs.span == (3, 4) and inputs.ahead == 5
        wait_for(lambda: dropped() is None, 10, "the first span's iterator to be deleted")
        assert same_batches([next(third)["x"].numpy() for _ in range(steps)], arrays(split.epoch(3, 40)))
        resumed = arrays(inputs.iterator(4, skip=2))  # a mid-epoch checkpoint's part is not read again
        assert inputs.span == (4, 5) and inputs.ahead is None  # the ahead span (5) dropped: 4 starts anew
        assert same_batches(resumed, arrays(split.epoch(4, 40))[2:] + arrays(split.epoch(5, 40)))
    finally:
        inputs.close()


def test_streamed_training_learns_and_is_reproducible(npy_files):
    spec = npy_spec(npy_files, True)
    first, second = train(spec, progress=False), train(spec, progress=False)
    assert [row["loss"] for row in first.history] == [row["loss"] for row in second.history]
    assert first.history[-1]["val_loss"] < first.history[0]["val_loss"]
    assert first.model.context.num_train_examples == len(prepare_data(genkit.load_spec(spec)).train)


def test_a_streamed_run_interrupted_mid_epoch_resumes_exactly(npy_files, tmp_path):
    spec = npy_spec(npy_files, True)
    reference = train(spec, tmp_path / "reference", progress=False)
    out = tmp_path / "run"
    spec_steps = {**spec, "train": {**spec["train"], "steps_per_execution": 1}}
    with pytest.raises(TrainingInterrupted):
        train(spec_steps, out, progress=False, callbacks=[_SignalAtStep(8)])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    resumed = train(spec_steps, out, resume=True, progress=False)
    assert [row["loss"] for row in resumed.history] == pytest.approx([row["loss"] for row in reference.history],
                                                                       rel=1e-5)
    for a, b in zip(resumed.model.get_weights(), reference.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("data, key", [({"binarize": "static"}, "data.binarize"),
                                       ({"labelled": 20}, "data.labelled"),
                                       ({"memory_budget_mb": 1}, None)])
def test_what_streaming_cannot_do_is_refused_at_validation(npy_files, data, key):
    spec = npy_spec(npy_files, True, **data)
    if key is None:  # a budget of 1 MB fits a batch of 40 small images: accepted
        assert isinstance(prepare_data(genkit.load_spec(spec)).train, StreamedSplit)
        return
    with pytest.raises(genkit.SpecError, match=key.replace(".", r"\.")):
        prepare_data(genkit.load_spec(spec))


def test_a_batch_beyond_the_memory_budget_is_refused(npy_files):
    spec = npy_spec(npy_files, True, memory_budget_mb=1)
    spec["data"]["images"] = str(npy_files / "big.npy")
    np.save(npy_files / "big.npy", np.zeros((300, 128, 128, 3), np.uint8))
    spec["data"]["labels"] = None
    spec["encoder"] = spec["decoder"] = {"type": "mlp", "hidden": [8]}
    with pytest.raises(genkit.SpecError, match=r"one batch of 40 examples of shape \(128, 128, 3\) needs about 8 MB"):
        prepare_data(genkit.load_spec(spec))


def test_a_dataset_loaded_whole_cannot_be_told_to_stream(tiny_vae):
    tiny_vae["data"]["stream"] = True
    with pytest.raises(genkit.SpecError, match="cannot stream"):
        prepare_data(genkit.load_spec(tiny_vae))
    assert tf.config.list_logical_devices("CPU")  # the process is healthy afterwards
