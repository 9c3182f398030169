"""Acceptance benchmarks of the autoencoder family on MNIST (train on x_train, report on x_test).

    nice python benchmarks/family_mnist.py cvae    # samples of each requested digit, classified
    nice python benchmarks/family_mnist.py dae     # denoising: reconstruction vs corrupted error
    nice python benchmarks/family_mnist.py aae     # 10-Gaussian mixture prior: scatter PNG, MMD
    nice python benchmarks/family_mnist.py supervised_aae   # test digits in their own component
    nice python benchmarks/family_mnist.py categorical_aae  # semi-supervised AAE, 100 labels: test error
    nice python benchmarks/family_mnist.py clustering       # unsupervised AAE, 16 clusters: test error

Each trains its spec in examples/ (``SPECS`` below) into
``runs/<spec name>`` and writes the numbers to ``runs/<spec name>/acceptance.json``.
``--data`` points at mnist.npz (default: the shared data folder), ``--epochs`` overrides the
spec's train.epochs and ``--set key.path=value`` any other key (values are YAML), e.g.

    nice python benchmarks/family_mnist.py categorical_aae --set objective.input_noise=0.3 --set train.seed=1

The last lines give the command, the machine and the wall time.
M2 and M1+M2 have their own script, benchmarks/semi_supervised_mnist.py (learning curves).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from machine import Header

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path("/work/shared/data/mnist.npz")


#: The example spec each benchmark trains.
SPECS = {
    "cvae": "cvae_mnist.yaml",
    "dae": "dae_mnist.yaml",
    "aae": "aae_mnist_mixture.yaml",
    "supervised_aae": "supervised_aae_mnist.yaml",
    "categorical_aae": "categorical_aae_mnist.yaml",
    "clustering": "clustering_aae_mnist.yaml",
}


def apply_settings(spec: dict[str, Any], settings: Sequence[str], epochs: int | None) -> dict[str, Any]:
    """The spec with each ``key.path=value`` of ``settings`` (value parsed as YAML) and ``epochs`` set."""
    for setting in settings:
        key, _, value = setting.partition("=")
        *parents, last = key.split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    if epochs is not None:
        spec["train"]["epochs"] = epochs
    return spec


def spec_of(benchmark: str, data: Path, epochs: int | None, settings: Sequence[str] = ()) -> dict[str, Any]:
    """The benchmark's example spec with the data path, ``settings`` and epochs applied."""
    spec = yaml.safe_load((ROOT / "examples" / SPECS[benchmark]).read_text())
    spec["data"]["path"] = str(data)
    return apply_settings(spec, settings, epochs)


def mnist(data: Path) -> dict[str, np.ndarray]:
    """MNIST as float images in [0, 1] ([N, 28, 28]) and integer labels."""
    with np.load(data) as arrays:
        return {
            "x_train": arrays["x_train"].astype(np.float32) / 255.0,
            "y_train": arrays["y_train"].astype(np.int64),
            "x_test": arrays["x_test"].astype(np.float32) / 255.0,
            "y_test": arrays["y_test"].astype(np.int64),
        }


def digit_classifier(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Any:
    """A simple MLP classifier (784-256-10, 8 epochs) trained on real images: the judge of samples."""
    import keras

    keras.utils.set_random_seed(seed)
    classifier = keras.Sequential([
        keras.Input(x.shape[1:]), keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10),
    ])
    classifier.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classifier.fit(x, y, batch_size=128, epochs=8, verbose=0)
    return classifier


def predict(classifier: Any, x: np.ndarray) -> np.ndarray:
    """Class indices the classifier assigns."""
    return np.argmax(classifier.predict(x, batch_size=1000, verbose=0), axis=-1)


def train_spec(spec: dict[str, Any], runs: Path, callbacks: list[Any] = ()) -> Any:
    """Train a spec into ``runs/<name>`` with one printed line per epoch; return the model."""
    from genkit.plugin.callback import Callback
    from genkit.runs.train import train

    class EpochLine(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in logs.items() if k not in ("epoch", "step"))
            print(f"epoch {epoch}: {shown}", flush=True)

    return train(spec, runs / spec["name"], overwrite=True, progress=False,
                 callbacks=[EpochLine(), *callbacks]).model


def cvae(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Accuracy of a real-image classifier on 1000 CVAE samples of each requested digit."""
    model = train_spec(spec_of("cvae", args.data, args.epochs, args.set), args.runs)
    classifier = digit_classifier(data["x_train"], data["y_train"])
    per_class = {}
    for digit in range(10):
        samples = model.sample(1000, labels=digit, seed=digit)
        per_class[digit] = float(np.mean(predict(classifier, samples) == digit))
    return {
        "classifier_test_accuracy": float(np.mean(predict(classifier, data["x_test"]) == data["y_test"])),
        "sample_accuracy_per_class": per_class,
        "sample_accuracy": float(np.mean(list(per_class.values()))),
    }


def dae(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Mean squared error to the clean test image: of the corrupted input and of its reconstruction."""
    model = train_spec(spec_of("dae", args.data, args.epochs, args.set), args.runs)
    clean = data["x_test"]
    corrupted = model.corrupt(clean, seed=1)
    reconstruction = model.reconstruct(corrupted)
    return {
        "corruption": model.corruption.__class__.__name__,
        "mse_corrupted_vs_clean": float(np.mean((corrupted - clean) ** 2)),
        "mse_reconstruction_vs_clean": float(np.mean((reconstruction - clean) ** 2)),
        "mse_clean_reconstruction_vs_clean": float(np.mean((model.reconstruct(clean) - clean) ** 2)),
    }


def semi_supervised(benchmark: str, args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Test error of ``model.classify`` after semi-supervised training with the spec's labels."""
    from genkit.plugin.callback import Callback

    class TestError(Callback):
        """Prints the test error every 5 epochs (monitoring only; training never sees x_test labels)."""

        def on_train_begin(self, trainer: Any) -> None:
            self.model = trainer.model

        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            if epoch % 5 == 0:
                error = np.mean(self.model.classify(data["x_test"]) != data["y_test"])
                print(f"  epoch {epoch}: test error {error:.4f}", flush=True)

    spec = spec_of(benchmark, args.data, args.epochs, args.set)
    model = train_spec(spec, args.runs, [TestError()])
    predictions = model.classify(data["x_test"])
    return {"labels": spec["data"]["labelled"], "test_error": float(np.mean(predictions != data["y_test"]))}


def categorical_aae(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """The semi-supervised AAE with 100 labels."""
    return semi_supervised("categorical_aae", args, data)


def clustering(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Unsupervised clustering (Makhzani et al. 2016, section 6): each cluster predicts the
    majority digit of the training images in it; the test error of that prediction. (The
    one-to-one Hungarian ``cluster_accuracy`` is also given; it cannot use more than 10 of the
    clusters, so it is not the paper's metric.)"""
    from genkit.plugin.callback import Callback
    from genkit.results.metrics import cluster_accuracy, majority_cluster_accuracy

    def majority_error(model: Any) -> float:
        return 1.0 - majority_cluster_accuracy(data["y_train"], model.classify(data["x_train"]), data["y_test"],
                                               model.classify(data["x_test"]))

    class TestError(Callback):
        """Prints the test error every 25 epochs (monitoring only; training never sees a label)."""

        def on_train_begin(self, trainer: Any) -> None:
            self.model = trainer.model

        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            if epoch % 25 == 0:
                print(f"  epoch {epoch}: test error {majority_error(self.model):.4f}", flush=True)

    model = train_spec(spec_of("clustering", args.data, args.epochs, args.set), args.runs, [TestError()])
    test_clusters = model.classify(data["x_test"])
    return {
        "clusters": int(model.objective.classes),
        "clusters_used_on_test": int(len(np.unique(test_clusters))),
        "test_error": majority_error(model),
        "hungarian_test_accuracy": cluster_accuracy(data["y_test"], test_clusters),
    }


def encoded_test(args: argparse.Namespace, data: dict[str, np.ndarray], benchmark: str) -> tuple[Any, np.ndarray]:
    """Train an AAE benchmark; return the model and its codes of the test images, with a scatter
    of the codes coloured by digit and prior draws saved as ``latent_scatter.png`` in the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = spec_of(benchmark, args.data, args.epochs, args.set)
    model = train_spec(spec, args.runs)
    codes = model.encode(data["x_test"])
    prior = model.sample_latent(3000, seed=1)
    figure, axes = plt.subplots(1, 2, figsize=(12, 6), sharex=True, sharey=True)
    axes[0].scatter(prior[:, 0], prior[:, 1], s=2, c="0.4")
    axes[0].set_title("prior draws")
    points = axes[1].scatter(codes[:, 0], codes[:, 1], s=2, c=data["y_test"], cmap="tab10", vmin=-0.5, vmax=9.5)
    axes[1].set_title("encoded test images, coloured by digit")
    figure.colorbar(points, ax=axes[1], ticks=range(10))
    figure.suptitle(spec["name"])
    figure.savefig(args.runs / spec["name"] / "latent_scatter.png", dpi=100)
    plt.close(figure)
    return model, codes


def aae(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """MMD^2 (IMQ kernel) of 2000 encoded test images vs prior draws, and of two prior draw sets."""
    import tensorflow as tf
    from genkit_plugins.divergences import mmd_per_example

    model, codes = encoded_test(args, data, "aae")
    scales = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    pick = np.random.default_rng(0).choice(len(codes), 2000, replace=False)

    def mmd(a: np.ndarray, b: np.ndarray) -> float:
        return float(tf.reduce_mean(mmd_per_example(tf.constant(a, tf.float32), tf.constant(b, tf.float32),
                                                    "imq", scales)))

    prior_a, prior_b, prior_c = (model.sample_latent(2000, seed=s) for s in (11, 12, 13))
    return {
        "mmd2_encoded_test_vs_prior": mmd(codes[pick], prior_a),
        "mmd2_prior_vs_prior": mmd(prior_b, prior_c),
        "mmd2_standard_normal_vs_prior": mmd(np.random.default_rng(1).normal(size=(2000, 2)), prior_a),
    }


def supervised_aae(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """How often a test digit's code is most likely under its own mixture component."""
    import tensorflow as tf

    model, codes = encoded_test(args, data, "supervised_aae")
    prior = model.prior
    log_probs = np.stack([
        prior.class_distribution(tf.fill([len(codes)], k)).log_prob(codes).numpy() for k in range(prior.num_classes)
    ], axis=1)
    component = np.argmax(log_probs, axis=1)
    own = data["y_test"] % prior.num_classes
    return {
        "in_own_component": float(np.mean(component == own)),
        "in_own_component_per_digit": {d: float(np.mean(component[own == d] == d)) for d in range(10)},
    }


BENCHMARKS = {"cvae": cvae, "dae": dae, "aae": aae, "supervised_aae": supervised_aae,
              "categorical_aae": categorical_aae, "clustering": clustering}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change the spec")
    args = parser.parse_args()
    header = Header()
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    started = time.perf_counter()
    result = BENCHMARKS[args.benchmark](args, mnist(args.data))
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = args.runs / spec_of(args.benchmark, args.data, None, args.set)["name"] / "acceptance.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print("\n".join(header.lines()))


if __name__ == "__main__":
    main()
