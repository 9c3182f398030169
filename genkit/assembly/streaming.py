"""Data that stream: a dataset read piece by piece through ``tf.data`` instead of loaded whole.

``data.stream: auto`` (the default) streams when the decoded training split would take more than
``data.memory_budget_mb`` (default: a quarter of this machine's memory) and the dataset can
stream; ``true`` streams whenever it can, ``false`` never. The in-memory path stays the fast one
for data that fit.

Training reads a span of whole epochs through one pipeline (:meth:`StreamedSplit.batches`): each
epoch's pieces (files or chunks) in an order drawn from (seed, epoch), read and decoded in parallel
with a deterministic order, cut into windows of examples that never cross an epoch's end, each
window in a uniform random order drawn from (seed, epoch, window) (one gather, no per-example step),
cut into batches (an epoch's last one partial), scaled, prefetched. One pipeline for many epochs
is built and started once: building one costs about 110 ms of CPU time (its functions traced, its
iterator made), which every short epoch paid before on 2 cores. An epoch's batches are a pure
function of (seed, epoch, worker), however the epochs are grouped into spans, so resuming
mid-epoch starts a span at that epoch and skips the batches already trained, and a resumed run
ends as an uninterrupted one. The validation split is a seeded set of whole pieces (about
``validation_split`` of the examples); ``limit`` keeps whole pieces, in their order, until at least
``limit`` examples.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from genkit.errors import GenkitError, SpecError
from genkit.plugin.dataset import ArrayData, Dataset, Stream
from genkit.spec.schema import Spec

#: The most examples in one shuffled window of a training epoch ...
WINDOW_EXAMPLES = 10_000
#: ... and the most bytes of examples (as read) in one. tf.data and the allocator hold several
#: windows' worth at once (about five, measured by benchmarks/stream_memory.py: 89 MB windows added
#: 607 MB to an epoch's peak, 22 MB windows 251 MB).
WINDOW_BYTES = 32 * 2**20
#: Examples read together from a stream that reads one at a time, before they are cut into windows.
READ_BATCH = 256
#: The most pieces, windows and batches one training pipeline covers (it holds their lists): a run's
#: epochs are read in spans of as many whole epochs as fit, at least one.
SPAN_ENTRIES = 100_000
#: Bytes of batches made ahead of training (as training reads them: float32 ``x``). A bound in bytes,
#: not ``tf.data.AUTOTUNE``: when reading is the slower side (decoding images) the consumer keeps
#: finding the buffer empty, so autotuning keeps doubling its limit, and whenever training stalls the
#: buffer fills to it: one epoch on a 4 GB image folder peaked at 1.5 to 1.8 GB resident with
#: AUTOTUNE (benchmarks/stream_memory.py). Small batches (MNIST's are 0.4 MB) get a deep buffer that
#: evens out the reader's jitter, large ones (256 64x64 RGB images are 12.6 MB) a few batches.
PREFETCH_BYTES = 64 * 2**20
#: The fewest batches made ahead, however large a batch.
MIN_PREFETCH_BATCHES = 2


def prefetch_depth(element_spec: dict[str, tf.TensorSpec], batch_size: int) -> int:
    """Batches of ``batch_size`` to make ahead: :data:`PREFETCH_BYTES` of them, at least
    :data:`MIN_PREFETCH_BATCHES` (and just that when an example's size is not known statically)."""
    sizes = [(spec.shape[1:].num_elements(), spec.dtype.size) for spec in element_spec.values()]
    if any(elements is None for elements, _ in sizes):
        return MIN_PREFETCH_BATCHES
    batch_bytes = batch_size * sum(elements * item_bytes for elements, item_bytes in sizes)
    return max(MIN_PREFETCH_BATCHES, PREFETCH_BYTES // max(1, batch_bytes))


def warm_start() -> tf.data.Options:
    """Options that start an iterator's reading when it is made, not at its first batch: a span of
    epochs made ahead while the one before it trains (:mod:`genkit.training.epoch_inputs`) then has
    its first batches ready when it begins instead of 15-60 ms after (MNIST, 2 CPU cores). What is
    read ahead is bounded like any prefetch: a shuffle window and :data:`PREFETCH_BYTES` of batches."""
    options = tf.data.Options()
    options.experimental_warm_start = True
    return options


def host_memory_bytes() -> int:
    """This machine's physical memory (0 if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def memory_budget(spec: Spec) -> int:
    """Bytes the in-memory path may use: ``data.memory_budget_mb``, else a quarter of the host memory."""
    chosen = spec.data_options.memory_budget_mb
    return chosen * 2**20 if chosen is not None else host_memory_bytes() // 4


def should_stream(spec: Spec, dataset: Dataset, stream: Stream | None) -> bool:
    """Whether a run streams the training split (see the module docstring)."""
    setting = spec.data_options.stream
    if setting is True and stream is None:
        raise SpecError(f"dataset '{spec.data['type']}' is loaded whole and cannot stream; set data.stream to "
                        "auto or false", "data.stream", spec.source, spec.line_of("data.stream"))
    if setting is False or stream is None:
        return False
    return setting is True or stream.decoded_bytes() > memory_budget(spec)


@dataclass
class StreamedSplit:
    """The pieces of a stream one part of a run reads (training or validation).

    Under ``multi_worker`` training each worker reads its own share of the pieces (``worker`` of
    ``workers``): every epoch deals the epoch's seeded piece order out to the workers, each piece to
    the worker with the fewest examples so far, so the shares differ by at most about one piece and
    change every epoch. A worker's local batch is its share of the global batch (the global batch
    split as :func:`~genkit.assembly.replica.replica_slice` splits one between replicas), and every
    worker runs the same number of steps: a worker whose share runs out first trains on empty
    batches (its replicas' weight in the global mean is then zero), so every example of the epoch is
    trained once and the workers' collectives stay in step.
    """

    stream: Stream
    pieces: list[Any]
    sizes: list[int]
    seed: int
    #: This process's input pipeline (0-based) and the number of them (workers reading a share each).
    worker: int = 0
    workers: int = 1

    def __len__(self) -> int:
        return int(sum(self.sizes))

    @property
    def example_shape(self) -> tuple[int, ...]:
        return tuple(self.stream.example_shape)

    def sharded(self, worker: int, workers: int) -> StreamedSplit:
        """The same split read as worker ``worker`` of ``workers`` (each training on its share)."""
        return dataclasses.replace(self, worker=worker, workers=workers)

    def local_batch_size(self, batch_size: int, worker: int | None = None) -> int:
        """A worker's rows of a global batch of ``batch_size`` (this worker's by default)."""
        index = self.worker if worker is None else worker
        per_worker = -(-batch_size // self.workers)
        return max(0, min(per_worker, batch_size - index * per_worker))

    def deal(self, epoch: int) -> list[list[int]]:
        """Indices into ``pieces`` of every worker's share of an epoch, in the epoch's seeded order."""
        order = np.random.default_rng([self.seed, 2000 + epoch]).permutation(len(self.pieces))
        shares: list[list[int]] = [[] for _ in range(self.workers)]
        examples = [0] * self.workers
        for index in order.tolist():
            lightest = examples.index(min(examples))
            shares[lightest].append(index)
            examples[lightest] += self.sizes[index]
        return shares

    def steps_per_epoch(self, epoch: int, batch_size: int) -> int:
        """Training steps of an epoch: the same on every worker (the longest share's local batches)."""
        if self.workers == 1:
            return -(-len(self) // batch_size)
        return self._steps(self.deal(epoch), batch_size)

    def _steps(self, shares: list[list[int]], batch_size: int) -> int:
        """Training steps of an epoch dealt as ``shares``: the longest share's local batches."""
        return max(-(-sum(self.sizes[i] for i in share) // self.local_batch_size(batch_size, worker))
                   for worker, share in enumerate(shares))

    def _scaled(self, examples: tf.data.Dataset, keys: tuple[str, ...] | None = None) -> tf.data.Dataset:
        """``x`` as float32 in [0, 1] for uint8 data (of examples or of batches); only ``keys`` if given."""
        uint8 = self.stream.dtype == "uint8"

        def scale(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            x = tf.cast(example["x"], tf.float32)
            kept = {key: value for key, value in example.items() if keys is None or key in keys}
            return {**kept, "x": x / 255.0 if uint8 else x}

        return examples.map(scale, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def examples(self) -> tf.data.Dataset:
        """Every example in piece order, float32 in genkit's conventions (evaluation, pictures)."""
        return self._scaled(self.stream.read(list(self.pieces)))

    def epoch(self, epoch: int, batch_size: int, skip_batches: int = 0) -> tf.data.Dataset:
        """This worker's batches of one training epoch after ``skip_batches`` (see :meth:`batches`)."""
        return self.batches(epoch, epoch, batch_size, skip_batches)

    def batches(self, first_epoch: int, last_epoch: int, batch_size: int, skip_batches: int = 0) -> tf.data.Dataset:
        """This worker's batches of epochs ``first_epoch`` to ``last_epoch`` in one pipeline (``x`` and
        ``y``; see the module docstring), after the first ``skip_batches`` of ``first_epoch``: each
        epoch's batches of ``batch_size`` on one worker, of its local share of them under
        ``multi_worker`` (see the class docstring), then the next epoch's."""
        local, window = self.local_batch_size(batch_size), self.window()
        # pieces of one example each (image files) are in a uniform random order already: no windows
        mixed = max(self.sizes) > 1
        pieces: list[Any] = []
        windows: list[int] = []  # examples per window, every epoch's in turn
        window_seeds: list[tuple[int, int]] = []  # (seed of the window's epoch, window's index in it)
        sizes: list[int] = []  # examples per batch: every epoch's batches, then its empty ones (class docstring)
        for epoch in range(first_epoch, last_epoch + 1):
            shares = self.deal(epoch)
            share = shares[self.worker]
            examples = sum(self.sizes[i] for i in share)
            pieces += [self.pieces[i] for i in share]
            if mixed:
                epoch_windows, epoch_seed = cut(examples, window), self.seed * 100_003 + epoch + 1_000_003 * self.worker
                windows += epoch_windows
                window_seeds += [(epoch_seed, i) for i in range(len(epoch_windows))]
            epoch_batches = cut(examples, local)
            sizes += epoch_batches + [0] * (self._steps(shares, batch_size) - len(epoch_batches))
        read = (self.stream.read_batches(pieces) if self.stream.read_batches is not None
                else self.stream.read(pieces).batch(READ_BATCH))
        batches = (shuffled_windows(read, windows, window_seeds) if mixed else read).rebatch(sizes)
        # scaled a batch at a time: one cast per batch instead of one per example
        batches = self._scaled(batches, ("x", "y")).skip(skip_batches)
        return batches.prefetch(prefetch_depth(batches.element_spec, local)).with_options(warm_start())

    def span_end(self, first_epoch: int, last_epoch: int, batch_size: int) -> int:
        """The last epoch of the span of epochs from ``first_epoch`` that one pipeline reads: as many
        as keep its pieces, windows and batches within :data:`SPAN_ENTRIES`, at least one."""
        per_epoch = (len(self.pieces) + -(-len(self) // self.window())
                     + self.steps_per_epoch(first_epoch, batch_size) + self.workers)
        return min(last_epoch, first_epoch + max(1, SPAN_ENTRIES // per_epoch) - 1)

    def window(self) -> int:
        """Examples per shuffled window: :data:`WINDOW_EXAMPLES`, within :data:`WINDOW_BYTES`."""
        return min(WINDOW_EXAMPLES, max(1, WINDOW_BYTES // self.stream.raw_example_bytes()))

    def head(self, n: int) -> ArrayData:
        """The first ``n`` examples (in piece order) in memory."""
        batch = next(iter(self.examples().take(n).batch(n)))
        return ArrayData(batch["x"].numpy(), None if "y" not in batch else batch["y"].numpy(),
                         None if "factors" not in batch else batch["factors"].numpy(),
                         list(self.stream.factor_names), class_names=list(self.stream.class_names))


def cut(examples: int, size: int) -> list[int]:
    """``examples`` cut into parts of ``size`` (the last one smaller); none for no examples."""
    full, rest = divmod(examples, size) if size else (0, 0)
    return [size] * full + ([rest] if rest else [])


def shuffled_windows(batches: tf.data.Dataset, windows: list[int], seeds: list[tuple[int, int]]) -> tf.data.Dataset:
    """``batches`` (of any sizes) regrouped into windows of ``windows[i]`` examples, window ``i``'s
    examples in a random order drawn from ``seeds[i]``: a uniform permutation per window, copied in
    one gather rather than passed through a shuffle buffer one example at a time."""
    window_seeds = tf.constant(seeds if seeds else np.zeros((0, 2)), tf.int64)

    def permuted(index: tf.Tensor, examples: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        count = tf.shape(examples["x"])[0]
        keys = tf.random.stateless_uniform([count], window_seeds[index])
        order = tf.argsort(keys)
        return {key: tf.gather(value, order) for key, value in examples.items()}

    regrouped = batches.rebatch(windows) if windows else batches.take(0)
    return regrouped.enumerate().map(permuted, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def first_examples(split: ArrayData | StreamedSplit, n: int) -> ArrayData:
    """The first ``n`` examples of a split, in memory, whichever way it is held."""
    if isinstance(split, ArrayData):
        return split if n >= len(split) else split.subset(np.arange(n))
    return split.head(n)


def limited_pieces(spec: Spec, stream: Stream) -> tuple[list[Any], list[int]]:
    """The stream's pieces and their sizes after ``data.limit`` (whole pieces, in order, until at
    least ``limit`` examples); an empty stream refused."""
    pieces, sizes = list(stream.pieces), [int(s) for s in stream.sizes]
    limit = spec.data_options.limit
    if limit is not None:
        kept = int(np.searchsorted(np.cumsum(sizes), limit)) + 1
        pieces, sizes = pieces[:kept], sizes[:kept]
    if not pieces or sum(sizes) == 0:
        raise GenkitError(f"dataset '{spec.data['type']}': the stream has no examples")
    return pieces, sizes


def streamed_splits(spec: Spec, stream: Stream) -> tuple[StreamedSplit, StreamedSplit | None]:
    """The training and validation pieces of a streamed training split, after ``limit``."""
    options = spec.data_options
    for key, wrong in (("labelled", options.labelled is not None), ("binarize", options.binarize == "static")):
        if wrong:
            raise SpecError(f"data.{key} needs the data in memory (it marks or draws per example); with data "
                            "that stream use data.binarize: dynamic and fully labelled data",
                            f"data.{key}", spec.source, spec.line_of(f"data.{key}"))
    pieces, sizes = limited_pieces(spec, stream)
    seed = spec.train.seed
    held_out = int(round(len(pieces) * options.validation_split))
    if options.validation_split > 0 and held_out == 0 and len(pieces) > 1:
        held_out = 1
    order = np.random.default_rng([seed, 11]).permutation(len(pieces))
    chosen = set(order[:held_out].tolist())

    def part(indices: list[int]) -> StreamedSplit:
        return StreamedSplit(stream, [pieces[i] for i in indices], [sizes[i] for i in indices], seed)

    train = part([i for i in range(len(pieces)) if i not in chosen])
    if len(train) == 0:
        raise GenkitError("no training examples are left after the validation split (data.validation_split)")
    return train, (part(sorted(chosen)) if chosen else None)


def check_batch_fits(spec: Spec, split: StreamedSplit) -> None:
    """A memory budget too small for one batch cannot train at all: refuse it at validation."""
    batch_bytes = spec.train.batch_size * math.prod(split.example_shape) * 4
    budget = memory_budget(spec)
    if budget and batch_bytes > budget:
        raise SpecError(f"one batch of {spec.train.batch_size} examples of shape {split.example_shape} needs about "
                        f"{batch_bytes / 2**20:.0f} MB, more than the memory budget of {budget / 2**20:.0f} MB; raise "
                        "data.memory_budget_mb or lower train.batch_size", "data.memory_budget_mb", spec.source,
                        spec.line_of("data.memory_budget_mb"))
