"""Acceptance benchmarks of the autoencoder family on MNIST (train on x_train, report on x_test).

    nice python benchmarks/family_mnist.py cvae    # samples of each requested digit, classified
    nice python benchmarks/family_mnist.py dae     # denoising: reconstruction vs corrupted error
    nice python benchmarks/family_mnist.py m2      # semi-supervised, 100 labels: test error

Each trains the spec of the same name in examples/ (``<model>_mnist.yaml``) into
``runs/<spec name>`` and writes the numbers to ``runs/<spec name>/acceptance.json``.
``--data`` points at mnist.npz (default: the shared data folder), ``--epochs`` overrides the spec.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path("/work/shared/data/mnist.npz")


def spec_of(model: str, data: Path, epochs: int | None) -> dict[str, Any]:
    """The example spec ``examples/<model>_mnist.yaml`` with the data path (and epochs) replaced."""
    spec = yaml.safe_load((ROOT / "examples" / f"{model}_mnist.yaml").read_text())
    spec["data"]["path"] = str(data)
    if epochs is not None:
        spec["train"]["epochs"] = epochs
    return spec


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
    from genkit.callbacks import Callback
    from genkit.runs import train

    class EpochLine(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in logs.items() if k not in ("epoch", "step"))
            print(f"epoch {epoch}: {shown}", flush=True)

    return train(spec, runs / spec["name"], overwrite=True, progress=False,
                 callbacks=[EpochLine(), *callbacks]).model


def cvae(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Accuracy of a real-image classifier on 1000 CVAE samples of each requested digit."""
    model = train_spec(spec_of("cvae", args.data, args.epochs), args.runs)
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
    model = train_spec(spec_of("dae", args.data, args.epochs), args.runs)
    clean = data["x_test"]
    corrupted = model.corrupt(clean, seed=1)
    reconstruction = model.reconstruct(corrupted)
    return {
        "corruption": model.corruption.__class__.__name__,
        "mse_corrupted_vs_clean": float(np.mean((corrupted - clean) ** 2)),
        "mse_reconstruction_vs_clean": float(np.mean((reconstruction - clean) ** 2)),
        "mse_clean_reconstruction_vs_clean": float(np.mean((model.reconstruct(clean) - clean) ** 2)),
    }


def m2(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Test error of ``model.classify`` after semi-supervised training with 100 labels."""
    from genkit.callbacks import Callback

    class TestError(Callback):
        """Prints the test error every 5 epochs (monitoring only; training never sees x_test labels)."""

        def on_train_begin(self, trainer: Any) -> None:
            self.model = trainer.model

        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            if epoch % 5 == 0:
                error = np.mean(self.model.classify(data["x_test"]) != data["y_test"])
                print(f"  epoch {epoch}: test error {error:.4f}", flush=True)

    model = train_spec(spec_of("m2", args.data, args.epochs), args.runs, [TestError()])
    predictions = model.classify(data["x_test"])
    return {"labels": 100, "test_error": float(np.mean(predictions != data["y_test"]))}


BENCHMARKS = {"cvae": cvae, "dae": dae, "m2": m2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    started = time.perf_counter()
    result = BENCHMARKS[args.benchmark](args, mnist(args.data))
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = args.runs / spec_of(args.benchmark, args.data, None)["name"] / "acceptance.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
