"""Trains the distribution tests' spec in a fresh process and writes the results as JSON.

    python tests/distributed_worker.py OUT.json DISTRIBUTE [LOGICAL_CPUS]

A separate process because logical CPU devices can only be configured before TensorFlow
initialises its devices, and ``MultiWorkerMirroredStrategy`` must be created before any other
TensorFlow operation (``TF_CONFIG`` comes from the environment). With ``LOGICAL_CPUS`` > 1 the
script trains twice, first on one device and then under ``DISTRIBUTE``, so one process compares
both. The spec is deterministic (point-mass posterior, no binarization) so that one device and
several replicas must agree to float tolerance, and its divergence brings a second training phase
with its own optimizer and variables, as adversarial divergences do. That phase's loss is NaN at
one step on the last replica only (``on_nan: skip``): every replica must skip that update
together, as one device does.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from genkit.quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from conftest import TINY_VAE  # noqa: E402

import genkit  # noqa: E402
from genkit import Divergence, Phase, registry  # noqa: E402
from genkit.runs.train import train as run_training  # noqa: E402

#: The global step (1-based) whose critic update is poisoned on the last replica.
POISONED_STEP = 4

#: 203 training examples in batches of 40: the last batch (3) splits unevenly over 2 replicas.
SPEC = {
    **TINY_VAE,
    "name": "distributed",
    "model": "ae",
    "data": {**TINY_VAE["data"], "size": 10, "n_train": 290, "validation_split": 0.3},
    "prior": None,
    "divergence": {"type": "critic_penalty", "poison_step": POISONED_STEP},
    "train": {**TINY_VAE["train"], "epochs": 2, "seed": 3, "jit_compile": False, "on_nan": "skip"},
}


class CriticPenalty(Divergence):
    """Penalises codes by a linear critic's squared score; the critic trains in a phase of its own.
    A moving average of the batch's mean penalty is state updated outside the gradient step, so
    replicas must combine their slices' updates into the single device's."""

    requires_prior = False

    def __init__(self, latent_dim: int, poison_step: int = 0):
        super().__init__(latent_dim)
        self.critic = keras.layers.Dense(1)
        self.poison_step = poison_step
        self.average = self.add_state("average", ())

    def per_example(self, q, prior, z, seed):
        penalty = 0.1 * tf.square(self.critic(z)[:, 0])
        self.add_update(self.average, 0.5 * self.average + 0.5 * tf.reduce_mean(penalty))
        return penalty

    def phases(self, model):
        def critic_loss(batch, seed):
            z = tf.stop_gradient(model.posterior.point(model.posterior_distribution(batch["x"], training=True)))
            loss = tf.reduce_mean(tf.square(self.critic(z)[:, 0] - 1.0))
            context = tf.distribute.get_replica_context()  # None while the model is being built
            if context is None:
                return {"loss": loss}
            last_replica = tf.equal(context.replica_id_in_sync_group, context.num_replicas_in_sync - 1)
            step = tf.cast(model.step_counter, tf.int64) + 1  # the counter counts finished steps
            poisoned = last_replica & tf.equal(step, self.poison_step)
            return {"loss": tf.where(poisoned, tf.constant(float("nan")), loss)}

        return [Phase("critic", critic_loss, lambda: self.critic.trainable_variables,
                      {"type": "sgd", "learning_rate": 0.05})]


class Replicas(genkit.Callback):
    """Records how many replicas the trainer's strategy runs."""

    def on_train_begin(self, trainer) -> None:
        self.count = trainer.compiled.strategy.num_replicas_in_sync


def train(distribute: str) -> dict:
    """History, replica count and final weights of one run of SPEC under ``distribute``."""
    spec = {**SPEC, "train": {**SPEC["train"], "distribute": distribute}}
    replicas = Replicas()
    result = run_training(spec, progress=False, callbacks=[replicas])
    weights = [np.asarray(v).tolist() for v in result.model.weights]
    return {"history": result.history, "replicas": replicas.count, "weights": weights}


def register() -> None:
    """Make the test divergence available to specs in this process."""
    registry("divergence").add("critic_penalty", CriticPenalty)


def main() -> None:
    out, distribute = sys.argv[1], sys.argv[2]
    cpus = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if cpus > 1:
        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * cpus
        )
    register()
    results = {}
    if cpus > 1:
        results["one_device"] = train("none")
    results["distributed"] = train(distribute)
    with open(out, "w") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
