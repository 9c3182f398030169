"""The batch iterators of a streamed run: one per span of epochs, the next span's made while the
current one trains.

A streamed run reads its epochs through one pipeline per span of whole epochs
(:meth:`~genkit.assembly.streaming.StreamedSplit.batches`): an MNIST-sized run is one span, so its
pipeline is built, traced and started once and its prefetch runs on from one epoch into the next.
Building a pipeline takes about 110 ms of CPU time on 2 cores (75 ms of it tracing its functions);
paid at every epoch, it cost a conv VAE's 0.5-s epochs of 4,096 MNIST images about 15% of their
speed (``benchmarks/streaming.py``). A run too long for one span (a folder of many files, many
epochs) gets the next span's pipeline made in a background thread while the current span trains
(the compiled call releases the GIL), and the finished span's iterator dropped in that thread:
deleting a ``tf.data`` iterator that sat idle behind a full prefetch buffer sometimes blocks for
200-300 ms. An epoch's batches are a pure function of (seed, epoch, worker), so neither the spans
nor making one ahead changes a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from genkit.assembly.streaming import StreamedSplit


@dataclass
class Span:
    """Epochs ``first`` to ``last`` read through one iterator (``batches``, made or being made)."""

    first: int
    last: int
    batches: Future[Iterator[Any]]


class EpochInputs:
    """``iterator(epoch, skip)``: the iterator whose next batches are ``epoch``'s after ``skip``.
    Called for the epochs in order; ``close`` when training ends."""

    def __init__(self, split: StreamedSplit, batch_size: int, last_epoch: int):
        self.split, self.batch_size, self.last_epoch = split, batch_size, last_epoch
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genkit-epoch-input")
        self._current: Span | None = None
        self._ahead: Span | None = None
        self._next_epoch: int | None = None  # the epoch the current iterator reads next

    @property
    def ahead(self) -> int | None:
        """The first epoch of the span whose iterator is being made (or was made) in the background."""
        return None if self._ahead is None else self._ahead.first

    @property
    def span(self) -> tuple[int, int] | None:
        """(first, last) epoch of the span being read."""
        return None if self._current is None else (self._current.first, self._current.last)

    def _span(self, first: int, skip: int, background: bool) -> Span:
        last = self.split.span_end(first, self.last_epoch, self.batch_size)

        def make() -> Iterator[Any]:
            return iter(self.split.batches(first, last, self.batch_size, skip))

        if background:
            return Span(first, last, self._pool.submit(make))
        done: Future[Iterator[Any]] = Future()
        done.set_result(make())
        return Span(first, last, done)

    def iterator(self, epoch: int, skip: int = 0) -> Iterator[Any]:
        """The batch iterator that reads ``epoch`` next, without its first ``skip`` batches (the part a
        resumed mid-epoch checkpoint trained already)."""
        current = self._current
        if current is not None and epoch == self._next_epoch and epoch <= current.last and skip == 0:
            self._next_epoch = epoch + 1
            return current.batches.result()
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.first == epoch and skip == 0:
            span = ahead  # an error making it is raised below, as if made now
        else:
            if ahead is not None:
                ahead.batches.cancel()
            span = self._span(epoch, skip, background=False)
        self._retire()
        self._current, self._next_epoch = span, epoch + 1
        if span.last < self.last_epoch:
            self._ahead = self._span(span.last + 1, 0, background=True)
        return span.batches.result()

    def _retire(self) -> None:
        """Drop the current span's iterator in the background thread: the trainer holds it no more,
        and the work item's list holds the last reference to it."""
        if self._current is not None:
            retired, self._current = [self._current], None
            self._pool.submit(retired.clear)

    def close(self) -> None:
        """Drop the current span's iterator in the background thread, which then ends, and the one
        made ahead (if any: it was never read, so it is deleted at once)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.batches.cancel()
        self._retire()
        self._pool.shutdown(wait=False)
