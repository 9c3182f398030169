"""Image completion on MNIST: genkit's CVAE against a deterministic baseline, 1, 2 and 3 given quadrants.

    nice -n 10 python benchmarks/cvae_quadrants.py [--data mnist.npz] [--given 1 2 3] [--epochs N] [--k 100]

For each number of given quadrants (Pyro's CVAE example layout; ``examples/cvae_quadrants_mnist.yaml``
with ``data.given`` set), on the training images of ``--data`` (the shared file holds the first
12,484 of MNIST's 60,000), 10 % of them held out for early stopping:

- the CVAE: the example spec, trained by ``genkit.train`` into ``runs/cvae-quadrants-mnist-q<given>``;
- the baseline: an MLP from the given quadrants (the condition image, missing pixels -1) to the
  missing pixels, 784-500-500-m with sigmoid outputs, trained with the same per-pixel Bernoulli
  loss (binary cross-entropy summed over the missing pixels), Adam 1e-3, batch 128, early stopping
  with patience 3 on the same held-out images, best weights kept (Pyro's ``BaselineNet``).

On the 10,000 test images it reports, in nats per image over the missing pixels only:
``-log p(missing | given)`` of the CVAE estimated with k importance samples from q(z|x, y)
against the prior network p(z|y) (``genkit.results.evaluation.importance_weighted_log_likelihood``),
the CVAE's negative ELBO (one sample per image: the estimator behind Pyro's published numbers,
an upper bound), and the baseline's Bernoulli NLL; next to Pyro's published numbers (60,000
training images). Pixels are the gray levels in [0, 1], not binarized, as in Pyro's example.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from machine import Header

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path("/work/shared/data/mnist.npz")
EXAMPLE = ROOT / "examples" / "cvae_quadrants_mnist.yaml"

#: Pyro's CVAE example (tutorial/source/cvae.ipynb), 1 / 2 / 3 given quadrants, nats per image.
PYRO_CVAE = {1: 71.8, 2: 51.0, 3: 24.2}
PYRO_BASELINE = {1: 100.4, 2: 61.9, 3: 25.4}


def spec_for(given: int, data: Path, epochs: int | None) -> dict[str, Any]:
    """The example spec for ``given`` quadrants, reading ``data`` (and ``epochs`` if given)."""
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["name"] = f"{spec['name']}-q{given}"
    spec["data"].update(given=given, path=str(data))
    if epochs is not None:
        spec["train"]["epochs"] = epochs
    return spec


def held_out(spec: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(training split, validation split, test split) as genkit prepares them for ``spec``."""
    from genkit.assembly.data import load_split, prepare_data
    from genkit.spec.resolve import load_spec

    resolved = load_spec(spec)
    prepared = prepare_data(resolved)
    return prepared.train, prepared.validation, load_split(resolved, "test")


def summed_bce(target: Any, logits: Any) -> Any:
    """Binary cross-entropy of ``target`` pixels under ``logits``, summed over each example's pixels."""
    import tensorflow as tf

    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits), axis=-1)


def train_baseline(train: Any, validation: Any, epochs: int, seed: int) -> Any:
    """Pyro's baseline network (784-500-500-m, ReLU; its sigmoid outputs are logits here), trained
    with :func:`summed_bce`, early stopping on the validation split."""
    import keras

    keras.utils.set_random_seed(seed)
    net = keras.Sequential([
        keras.Input(train.y.shape[1:]), keras.layers.Flatten(),
        keras.layers.Dense(500, activation="relu"), keras.layers.Dense(500, activation="relu"),
        keras.layers.Dense(train.x.shape[1]),
    ])
    net.compile(keras.optimizers.Adam(1e-3), summed_bce)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    net.fit(train.y, train.x, batch_size=128, epochs=epochs, validation_data=(validation.y, validation.x),
            callbacks=[stop], verbose=2)
    return net


def baseline_nll(net: Any, test: Any) -> np.ndarray:
    """The baseline's Bernoulli NLL of each test image's missing pixels (nats)."""
    return np.asarray(summed_bce(test.x, net.predict(test.y, batch_size=1000, verbose=0)))


def one_row(given: int, args: argparse.Namespace) -> dict[str, float]:
    """Train both models for ``given`` quadrants; their test numbers and wall times."""
    from genkit.results.evaluation import importance_weighted_log_likelihood
    from genkit.runs.train import train

    spec = spec_for(given, args.data, args.epochs)
    train_split, validation, test = held_out(spec)
    row: dict[str, float] = {"given": given, "train": len(train_split), "test": len(test)}
    started = time.perf_counter()
    result = train(spec, args.runs / spec["name"], overwrite=True, log_format="plain")
    row["cvae_epochs"], row["cvae_train_s"] = len(result.history), time.perf_counter() - started
    started = time.perf_counter()
    log_p = importance_weighted_log_likelihood(result.model, test.x, k=args.k, labels=test.y, seed=0)
    row["cvae_nll"], row["cvae_eval_s"] = -float(np.mean(log_p)), time.perf_counter() - started
    row["cvae_neg_elbo"] = -float(np.mean(result.model.elbo(test.x, test.y, seed=0)))
    started = time.perf_counter()
    net = train_baseline(train_split, validation, spec["train"]["epochs"], spec["train"]["seed"])
    row["baseline_nll"], row["baseline_s"] = float(np.mean(baseline_nll(net, test))), time.perf_counter() - started
    print(f"given {given}: {row}", flush=True)
    return row


def table(rows: list[dict[str, float]], k: int) -> list[str]:
    """The markdown table of the rows, one column per number of given quadrants."""
    columns = [int(row["given"]) for row in rows]
    lines = ["| nats per test image (missing quadrants) | "
             + " | ".join(f"{g} quadrant{'s' if g > 1 else ''}" for g in columns) + " |",
             "|---|" + "---|" * len(columns)]

    def line(name: str, values: list[float]) -> str:
        return f"| {name} | " + " | ".join(f"{value:.1f}" for value in values) + " |"

    lines += [
        line(f"genkit CVAE, conditional NLL (IS, k={k})", [row["cvae_nll"] for row in rows]),
        line("genkit CVAE, -ELBO (1 sample)", [row["cvae_neg_elbo"] for row in rows]),
        line("genkit baseline MLP", [row["baseline_nll"] for row in rows]),
        line("Pyro CVAE (published, -ELBO)", [PYRO_CVAE[g] for g in columns]),
        line("Pyro baseline (published)", [PYRO_BASELINE[g] for g in columns]),
        line("genkit CVAE minus Pyro CVAE", [row["cvae_nll"] - PYRO_CVAE[int(row["given"])] for row in rows]),
        line("genkit baseline minus genkit CVAE", [row["baseline_nll"] - row["cvae_nll"] for row in rows]),
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="an mnist.npz in Keras' format")
    parser.add_argument("--given", type=int, nargs="+", default=[1, 2, 3], help="numbers of given quadrants")
    parser.add_argument("--epochs", type=int, default=None, help="cap on the epochs (default: the spec's)")
    parser.add_argument("--k", type=int, default=100, help="importance samples per test image")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="where the CVAE runs are written")
    args = parser.parse_args()
    header = Header()
    print(header.command, flush=True)
    rows = [one_row(given, args) for given in args.given]
    print()
    for row in rows:
        print(f"given {int(row['given'])}: {int(row['train'])} training images ({int(row['test'])} test), "
              f"CVAE {int(row['cvae_epochs'])} epochs in {row['cvae_train_s']:.0f} s, IS k={args.k} in "
              f"{row['cvae_eval_s']:.0f} s; baseline {row['baseline_s']:.0f} s")
    print("\n".join(table(rows, args.k)))
    print("\n".join(header.lines()))


if __name__ == "__main__":
    main()
