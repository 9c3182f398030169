"""Benchmark: the VAE of examples/vae_mnist.yaml, test ELBO and IWAE log-likelihood (k = 5000) on MNIST.

One command from the repository root::

    nice python benchmarks/iwae_mnist.py            # trains runs/vae-mnist, then evaluates it

Training uses x_train (the 12,484 images in shared/data/mnist.npz), binarized afresh at every
step. The evaluation uses all 10,000 x_test images, stochastically binarized once with a fixed
seed (see ``genkit.evaluate``), and reports the ELBO and the importance-weighted estimate of
log p(x) with k = 5000, with the evaluation's wall time. A run directory that already holds
trained weights is evaluated without retraining (delete it, or pass --retrain, to train again).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "vae_mnist.yaml"


def find_mnist() -> Path:
    """shared/data/mnist.npz in the nearest ancestor of the checkout that has it."""
    for parent in ROOT.parents:
        candidate = parent / "shared" / "data" / "mnist.npz"
        if candidate.is_file():
            return candidate
    raise SystemExit("shared/data/mnist.npz not found beside this checkout or above it; pass --data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="mnist.npz (default: shared/data/mnist.npz beside the checkout)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "vae-mnist", help="run directory")
    parser.add_argument("--epochs", type=int, help="override train.epochs of the spec")
    parser.add_argument("-k", type=int, default=5000, help="importance samples for log p(x)")
    parser.add_argument("--retrain", action="store_true", help="train even if the run directory has weights")
    args = parser.parse_args()

    import genkit
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    spec = yaml.safe_load(SPEC.read_text())
    spec["data"]["path"] = str((args.data or find_mnist()).resolve())
    if args.epochs:
        spec["train"]["epochs"] = args.epochs
    if args.retrain or not (args.out / "model.weights.h5").is_file():
        started = time.perf_counter()
        result = genkit.train(spec, args.out, overwrite=True)
        print(f"trained {spec['train']['epochs']} epochs in {time.perf_counter() - started:.0f} s, "
              f"final training loss {result.history[-1]['loss']:.2f}")
    else:
        print(f"reusing the trained model in {args.out}")
    started = time.perf_counter()
    metrics = genkit.evaluate(args.out, split="test", k=args.k)
    seconds = time.perf_counter() - started
    summary = {
        "epochs": spec["train"]["epochs"],
        "k": args.k,
        "test_elbo": metrics["elbo"],
        "test_log_likelihood_iwae": metrics["log_likelihood"],
        "evaluation_seconds": round(seconds, 1),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
