"""Semi-supervised MNIST with 100 labels: Kingma et al. 2014's M2 on the pixels, M1+M2 (M2 on the
codes of a VAE, M1) and a classifier trained on the 100 labelled images alone. Test error on the
10,000 test images of shared/data/mnist.npz (training: its 12,484 training images, 100 of them
labelled, 10 per digit, chosen with train.seed).

    nice -n 10 python benchmarks/semi_supervised_mnist.py m2            # examples/m2_mnist.yaml
    nice -n 10 python benchmarks/semi_supervised_mnist.py m2 --set data.binarize=dynamic \\
        --set objective.activation=relu --epochs 40                     # the spec before issue 15
    nice -n 10 python benchmarks/semi_supervised_mnist.py m2 --set data.limit=3100  # 3,000 unlabelled
    nice -n 10 python benchmarks/semi_supervised_mnist.py m1m2          # M1, then M2 on its codes
    nice -n 10 python benchmarks/semi_supervised_mnist.py supervised    # the 100 labelled images only

``--set key.path=value`` changes the spec (values are YAML), ``--epochs`` its train.epochs and
``--minutes`` bounds a run (training stops after the epoch that passes it). Every ``--every``
epochs a line gives the step, the minutes so far and the test error (with ``--binarized`` also
the error on binarized test images, one draw), so a run is its learning curve; training never
sees a test label. The last lines are a table row, the command, the machine and the wall time;
the numbers also go to RUN_DIR/semi_supervised.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from family_mnist import ROOT, SHARED_DATA, apply_settings, mnist, train_spec
from machine import Header

from genkit.plugin.callback import Callback


def example(name: str) -> dict[str, Any]:
    """An example spec of examples/ as a dict."""
    return yaml.safe_load((ROOT / "examples" / name).read_text())


def binarized(x: np.ndarray, seed: int = 1) -> np.ndarray:
    """One binary draw of images in [0, 1] (each value a Bernoulli probability)."""
    return (np.random.default_rng(seed).uniform(size=x.shape) < x).astype(np.float32)


class LearningCurve(Callback):
    """Prints the test error every ``every`` epochs and stops training after the epoch that passes
    ``minutes``; ``points`` keeps (epoch, step, minutes, test error) rows."""

    def __init__(self, x_test: np.ndarray, y_test: np.ndarray, every: int, minutes: float | None,
                 binarized_check: bool):
        self.x_test, self.y_test, self.every, self.minutes = x_test, y_test, every, minutes
        self.binarized_x = binarized(x_test) if binarized_check else None
        self.points: list[dict[str, float]] = []

    def on_train_begin(self, trainer: Any) -> None:
        self.trainer, self.started = trainer, time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        minutes = (time.perf_counter() - self.started) / 60
        out_of_time = self.minutes is not None and minutes > self.minutes
        if epoch % self.every == 0 or epoch == self.trainer.settings.epochs or out_of_time:
            point = {"epoch": epoch, "step": int(logs["step"]), "minutes": round(minutes, 2),
                     "test_error": error(self.trainer.model, self.x_test, self.y_test)}
            shown = f"step {point['step']} (epoch {epoch}, {minutes:.1f} min): test error {point['test_error']:.4f}"
            if self.binarized_x is not None:
                point["binarized_test_error"] = error(self.trainer.model, self.binarized_x, self.y_test)
                shown += f" (binarized test images: {point['binarized_test_error']:.4f})"
            self.points.append(point)
            print(shown, flush=True)
        if out_of_time:
            self.trainer.stop_training = True


def error(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of ``x`` that ``model.classify`` puts in the wrong class."""
    return float(np.mean(model.classify(x) != y))


def semi_supervised(spec: dict[str, Any], x_test: np.ndarray, y_test: np.ndarray,
                    args: argparse.Namespace) -> dict[str, Any]:
    """Train ``spec`` with the learning curve callback; the result row."""
    curve = LearningCurve(x_test, y_test, args.every, args.minutes, args.binarized)
    started = time.perf_counter()
    model = train_spec(spec, args.runs, [curve])
    final = curve.points[-1]
    return {"name": spec["name"], "settings": args.set, "labelled": spec["data"]["labelled"],
            "unlabelled_images": unlabelled_count(spec), "steps": final["step"], "epochs": final["epoch"],
            "training_minutes": round((time.perf_counter() - started) / 60, 1), "test_error": final["test_error"],
            "curve": curve.points, "_model": model}


def unlabelled_count(spec: dict[str, Any]) -> int:
    """Training images without a label under the spec's data options."""
    from genkit import load_spec, load_split

    return len(load_split(load_spec(spec), "train")) - spec["data"]["labelled"]


def m2(args: argparse.Namespace) -> dict[str, Any]:
    """M2 on the pixels (examples/m2_mnist.yaml)."""
    spec = apply_settings(example("m2_mnist.yaml"), args.set, args.epochs)
    spec["data"]["path"] = str(args.data)
    data = mnist(args.data)
    return semi_supervised(spec, data["x_test"], data["y_test"], args)


def m1m2(args: argparse.Namespace) -> dict[str, Any]:
    """M1 (examples/m1_mnist.yaml, reused with --reuse-m1 when trained), then M2 on its codes
    (examples/m1_m2_mnist.yaml): the test images' codes are classified."""
    from genkit_plugins.datasets.encoded import EncodedRun

    import genkit

    m1_spec = apply_settings(example("m1_mnist.yaml"), args.set_m1, args.m1_epochs)
    m1_spec["data"]["path"] = str(args.data)
    m1_dir = args.runs / m1_spec["name"]
    started = time.perf_counter()
    if not (args.reuse_m1 and (m1_dir / "model.weights.h5").is_file()):
        train_spec(m1_spec, args.runs)
    m1_minutes = (time.perf_counter() - started) / 60
    spec = apply_settings(example("m1_m2_mnist.yaml"), args.set, args.epochs)
    spec["data"]["run"] = str(m1_dir.resolve())
    codes = EncodedRun(spec["data"]["run"], min_std=spec["data"]["min_std"])
    test, kept = codes.load("test"), codes.kept_dimensions
    m1 = genkit.load(m1_dir)
    posterior_std = m1.posterior_distribution(mnist(args.data)["x_train"][:2000]).stddev().numpy()
    print(f"M1: {m1_minutes:.1f} min; {len(kept)} of {m1.latent_dim} code dimensions kept; median posterior "
          f"standard deviation of each kept one: {np.round(np.median(posterior_std, axis=0)[kept], 3).tolist()}",
          flush=True)
    result = semi_supervised(spec, test.x, test.y, args)
    result.update({"m1_minutes": round(m1_minutes, 1), "code_dimensions": len(kept), "m1_settings": args.set_m1})
    return result


def supervised(args: argparse.Namespace) -> dict[str, Any]:
    """A classifier of M2's shape (784-500-10 softplus) trained on the 100 labelled images alone."""
    import keras

    from genkit.assembly.data import keep_labels

    data = mnist(args.data)
    labels = keep_labels(data["y_train"], 100, seed=0)
    kept = labels >= 0
    keras.utils.set_random_seed(0)
    classifier = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                   keras.layers.Dense(500, activation="softplus"), keras.layers.Dense(10)])
    classifier.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classifier.fit(data["x_train"][kept], labels[kept], batch_size=100, epochs=args.epochs or 300, verbose=0)
    predictions = np.argmax(classifier.predict(data["x_test"], batch_size=1000, verbose=0), axis=-1)
    return {"name": "supervised-100", "labelled": 100, "epochs": args.epochs or 300,
            "test_error": float(np.mean(predictions != data["y_test"]))}


BENCHMARKS = {"m2": m2, "m1m2": m1m2, "supervised": supervised}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change the (M2) spec")
    parser.add_argument("--epochs", type=int, help="train.epochs of the (M2) spec")
    parser.add_argument("--minutes", type=float, help="stop training after the epoch that passes this")
    parser.add_argument("--every", type=int, default=5, help="epochs between test error lines")
    parser.add_argument("--binarized", action="store_true", help="also classify binarized test images")
    parser.add_argument("--set-m1", action="append", default=[], metavar="KEY=VALUE", help="change the M1 spec")
    parser.add_argument("--m1-epochs", type=int, help="train.epochs of the M1 spec")
    parser.add_argument("--reuse-m1", action="store_true", help="use the trained M1 run if there is one")
    args = parser.parse_args()
    header = Header()
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    result = BENCHMARKS[args.benchmark](args)
    result.pop("_model", None)
    out = args.runs / result["name"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "semi_supervised.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| benchmark | settings | unlabelled images | steps | test error |")
    print(f"| {args.benchmark} | {' '.join(args.set) or '-'} | {result.get('unlabelled_images', '-')} | "
          f"{result.get('steps', '-')} | {100 * result['test_error']:.2f}% |")
    print("\n".join(header.lines()))


if __name__ == "__main__":
    main()
