"""Inside one training step on one of several replicas: this replica's slice, seed and share.

Every replica of a ``tf.distribute`` strategy runs the same step on its contiguous slice of the
global batch (:func:`replica_slice`); its loss is its local mean times its share of the global
batch (:func:`global_share`), so the gradients the strategy sums are those of the global mean, also
when the last batch splits unevenly; random draws fold in the replica id (:func:`replica_seed`);
and a NaN guard asks every replica (:func:`on_every_replica`). On one replica each is the identity.
"""

from __future__ import annotations

import tensorflow as tf


def _context_of_several_replicas() -> tf.distribute.ReplicaContext | None:
    """The replica context when code runs on one of several replicas; None on one replica or outside ``run``."""
    context = tf.distribute.get_replica_context()
    return None if context is None or context.num_replicas_in_sync == 1 else context


def replica_slice(batch: dict[str, tf.Tensor], workers: int = 1) -> dict[str, tf.Tensor]:
    """This replica's contiguous slice of a batch (the whole batch on one replica).

    With ``workers == 1`` the batch is global (every worker holds all of it) and is cut between
    all ``n`` replicas: replica ``i`` gets rows ``[i * k, (i + 1) * k)`` with ``k = ceil(size / n)``,
    cut at the end of the batch, so an uneven last batch leaves the last replicas fewer rows or
    none. With ``workers > 1`` each worker's batch is its own (a stream sharded per worker) and is
    cut the same way between that worker's ``n / workers`` replicas only (replica ids are numbered
    worker by worker).
    """
    context = _context_of_several_replicas()
    if context is None:
        return batch
    size = tf.shape(next(iter(batch.values())))[0]
    parts = context.num_replicas_in_sync // workers
    if parts == 1:
        return batch
    per_replica = -(-size // parts)
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32) % parts
    low = tf.minimum(replica * per_replica, size)
    high = tf.minimum(low + per_replica, size)
    return {key: value[low:high] for key, value in batch.items()}


def replica_seed(seed: tf.Tensor) -> tf.Tensor:
    """The stateless seed of this replica: ``seed`` itself on one replica, else folded with the replica id."""
    context = _context_of_several_replicas()
    if context is None:
        return seed
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    return tf.random.experimental.stateless_fold_in(seed, replica)


def global_share(local_examples: tf.Tensor) -> tf.Tensor:
    """This replica's fraction of the examples in the global batch (1 on one replica)."""
    local = tf.cast(local_examples, tf.float32)
    context = _context_of_several_replicas()
    if context is None:
        return tf.ones_like(local)
    return local / context.all_reduce(tf.distribute.ReduceOp.SUM, local)


def on_every_replica(flag: tf.Tensor) -> tf.Tensor:
    """Whether a boolean holds on every replica (the same answer on all of them; ``flag`` on one replica)."""
    context = _context_of_several_replicas()
    if context is None:
        return flag
    failures = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(flag), tf.float32))
    return tf.equal(failures, 0.0)


def weighted_over_replicas(value: tf.Tensor, share: tf.Tensor) -> tf.Tensor:
    """The replicas' values weighted by their ``share`` of the global batch and summed (the same on
    all of them; ``value`` itself on one replica): for a batch mean, the mean over the global batch."""
    context = _context_of_several_replicas()
    if context is None:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.math.multiply_no_nan(value, tf.cast(share, value.dtype)))
