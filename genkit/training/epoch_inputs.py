"""The batch iterators of a streamed run's epochs, each next one made while the current epoch trains.

Making a streamed epoch's input is work on the host before its first step can run: the epoch's
``tf.data`` pipeline is built (its map functions traced) and its iterator created, about 75 ms on
2 CPU cores for MNIST, a tenth of an MLP epoch of 12,484 images and a sixth of a conv one of 4,096
(``benchmarks/streaming.py``). Done in a background thread while the previous epoch trains (the
compiled call releases the GIL), it costs the epoch boundary nothing. Each epoch's input is a pure
function of (seed, epoch, worker), so making it earlier changes no batch.

An epoch's iterator is also dropped in that thread: deleting a ``tf.data`` iterator that has sat
idle behind a full prefetch buffer sometimes blocks for 200-300 ms (measured on 1 epoch in 2 to 4
of an MNIST MLP run; the epoch's examples/s did not show it, its wall time did).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from genkit.assembly.streaming import StreamedSplit


class EpochInputs:
    """``iterator(epoch, skip)``: the batches of ``epoch`` after ``skip``; the next epoch's are then
    made in the background, up to ``last_epoch``. ``close`` when training ends."""

    def __init__(self, split: StreamedSplit, batch_size: int, last_epoch: int):
        self.split, self.batch_size, self.last_epoch = split, batch_size, last_epoch
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genkit-epoch-input")
        self._ahead: tuple[int, Future[Iterator[Any]]] | None = None
        self._current: Iterator[Any] | None = None

    @property
    def ahead(self) -> int | None:
        """The epoch whose input is being made (or was made) in the background, if any."""
        return None if self._ahead is None else self._ahead[0]

    def _make(self, epoch: int, skip: int) -> Iterator[Any]:
        return iter(self.split.epoch(epoch, self.batch_size, skip))

    def iterator(self, epoch: int, skip: int = 0) -> Iterator[Any]:
        """The batch iterator of ``epoch`` without its first ``skip`` batches (the part a resumed
        mid-epoch checkpoint trained already)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == epoch and skip == 0:
            batches = ahead[1].result()  # an error making it is raised here, as if made now
        else:
            if ahead is not None:
                ahead[1].cancel()
            batches = self._make(epoch, skip)
        if epoch < self.last_epoch:
            self._ahead = (epoch + 1, self._pool.submit(self._make, epoch + 1, 0))
        self._retire()
        self._current = batches
        return batches

    def _retire(self) -> None:
        """Drop the iterator handed out last in the background thread: the trainer holds it no more,
        and the work item's list holds the last reference to it."""
        if self._current is not None:
            retired, self._current = [self._current], None
            self._pool.submit(retired.clear)

    def close(self) -> None:
        """Drop the last epoch's iterator in the background thread, which then ends, and the one made
        ahead (if any: it was never read, so it is deleted at once)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead[1].cancel()
        self._retire()
        self._pool.shutdown(wait=False)
