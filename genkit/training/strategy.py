"""Distribution from the spec key ``train.distribute: none | mirrored | multi_worker | tpu``.

The trainer runs each training step through ``strategy.run`` whatever the strategy (the default
strategy of ``none`` adds nothing), so one code path serves one device and many:

- every replica trains on its contiguous slice of the global batch (:func:`replica_slice`; with
  data in memory every worker gathers the same global batch from its own copy of the data; with
  streamed data under ``multi_worker`` each worker reads its own share of the pieces and its
  replicas slice its local batch);
- each replica's loss is its local batch mean times its share of the global batch, so the
  gradients Keras sums over replicas are the gradients of the mean over the *global* batch, also
  when the last batch of an epoch splits unevenly (a replica may even get no example);
- random draws fold in the replica id, so replicas do not repeat each other's noise;
- metrics are combined over replicas as per-example sums divided by the global count;
- a step's NaN guard asks every replica, so all of them apply or skip an update together;
- under ``multi_worker`` only the chief writes the run directory (:func:`writes_run_files`).

See docs/distributed.md for running on several GPUs or machines.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from genkit.errors import GenkitError, SpecError

#: Values of ``train.distribute``.
KINDS = ("none", "mirrored", "multi_worker", "tpu")

_multi_worker: tf.distribute.Strategy | None = None


def start_multi_worker() -> None:
    """Create the multi-worker strategy now if ``TF_CONFIG`` names a cluster of workers.

    ``MultiWorkerMirroredStrategy`` must exist before TensorFlow runs its first operation, and
    validating a spec already builds an optimizer; so ``genkit run`` and ``genkit.train`` call this
    first, and ``make_strategy("multi_worker")`` returns the strategy made here.
    """
    global _multi_worker
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        cluster = config.get("cluster", {}) if isinstance(config, dict) else None
    except ValueError as err:
        raise GenkitError(f"the TF_CONFIG environment variable is not valid JSON: {err}") from None
    if not isinstance(cluster, dict):
        raise GenkitError("the TF_CONFIG environment variable must be a JSON object with a 'cluster' mapping")
    if _multi_worker is None and (cluster.get("worker") or cluster.get("chief")):
        _multi_worker = tf.distribute.MultiWorkerMirroredStrategy()


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in a multi-worker cluster: its input pipeline (``index`` of ``count``)
    and whether it is the chief, the one worker that writes the run directory."""

    index: int = 0
    count: int = 1

    @property
    def chief(self) -> bool:
        return self.index == 0


def worker_role() -> WorkerRole:
    """This process's role once it joined a ``TF_CONFIG`` cluster (:func:`start_multi_worker`); a
    process on its own is worker 0 of 1, its own chief.

    Workers are numbered as TensorFlow numbers them: the ``chief`` task (when the cluster has one)
    first, then the ``worker`` tasks; worker 0 is the chief.
    """
    if _multi_worker is None:
        return WorkerRole()
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster, task = config.get("cluster", {}), config.get("task", {})
    chiefs, workers = len(cluster.get("chief", [])), len(cluster.get("worker", []))
    index = int(task.get("index", 0)) + (chiefs if task.get("type") == "worker" else 0)
    return WorkerRole(index, chiefs + workers)


def writes_run_files() -> bool:
    """Whether this process writes the run directory (metrics, pictures, checkpoints): always on one
    machine; under ``multi_worker`` only on the chief, the others train in lock-step and write nothing."""
    return worker_role().chief


def make_strategy(kind: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy of a spec's ``train.distribute``.

    ``mirrored`` uses every GPU of this machine; with no GPU it uses every logical CPU device (one
    unless the process split the CPU with ``tf.config.set_logical_device_configuration``).
    ``multi_worker`` reads the cluster from the ``TF_CONFIG`` environment variable (see
    :func:`start_multi_worker`). ``tpu`` connects to the TPU the environment names.
    """
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if kind == "multi_worker":
        start_multi_worker()
        return _multi_worker or tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as err:
            raise SpecError(f"'tpu' needs a TPU, and none was found ({str(err).strip() or type(err).__name__}); "
                            "use 'none' or 'mirrored' on this machine", "train.distribute") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown train.distribute {kind!r}; choose one of {', '.join(KINDS)}")


def first_replica(strategy: tf.distribute.Strategy, value: Any) -> tf.Tensor:
    """The first replica's copy of a value every replica computed alike (the value itself on one replica)."""
    return strategy.experimental_local_results(value)[0]


def mean_over_replicas(
    strategy: tf.distribute.Strategy, means: dict[str, Any], examples: Any
) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    """Per-replica batch means combined into means over the global batch, and its size.

    On one replica the means are returned untouched (no rounding through sums). A replica with
    no example contributes nothing, even though its means of nothing are NaN.
    """
    if strategy.num_replicas_in_sync == 1:
        return {key: first_replica(strategy, value) for key, value in means.items()}, first_replica(strategy, examples)

    def total(value: Any) -> tf.Tensor:
        return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)

    count = total(examples)
    weighted = {key: strategy.run(tf.math.multiply_no_nan, args=(value, examples)) for key, value in means.items()}
    return {key: total(value) / count for key, value in weighted.items()}, count
