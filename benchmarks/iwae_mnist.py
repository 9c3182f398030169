"""Benchmark: the VAE of examples/vae_mnist.yaml, test ELBO and IWAE log-likelihood (k = 5000) on MNIST.

One command from the repository root::

    nice python benchmarks/iwae_mnist.py            # trains runs/vae-mnist, then evaluates it

Training uses x_train (the 12,484 images in shared/data/mnist.npz), binarized afresh at every
step. The evaluation uses all 10,000 x_test images, stochastically binarized once with a fixed
seed (see ``genkit.results.evaluation.evaluation_inputs``), and reports the ELBO and the importance-weighted
estimate of log p(x) with k = 5000, with the evaluation's wall time. A line per block of images
shows progress; per-example estimates go to RUN_DIR/iwae_log_px_k5000.npy and the summary to
RUN_DIR/benchmark_iwae.json. A run directory that already holds trained weights is evaluated
without retraining (delete it, or pass --retrain, to train again).
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
    parser.add_argument("--examples", type=int, default=10_000, help="evaluate the first N test images")
    parser.add_argument("--block", type=int, default=500, help="test images per progress line")
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
    evaluate_in_blocks(args.out, args.k, args.examples, args.block)


def evaluate_in_blocks(run_dir: Path, k: int, examples: int, block: int) -> None:
    """Test ELBO and IWAE log p(x) over the first ``examples`` test images, ``block`` at a time.

    The same library functions as ``genkit.evaluate``; a line per block (with the running means and
    time) so that a long run shows where it is, and per-example results saved to the run directory.
    """
    import numpy as np

    import genkit
    from genkit.assembly.data import load_split
    from genkit.results.evaluation import evaluation_inputs, importance_weighted_log_likelihood
    from genkit.spec.resolve import load_spec

    model = genkit.load(run_dir)
    x = evaluation_inputs(model, load_split(load_spec(run_dir / "spec.yaml"), "test").x[:examples])
    started = time.perf_counter()
    elbo = model.elbo(x)
    log_px = []
    for index, start in enumerate(range(0, len(x), block)):
        log_px.append(importance_weighted_log_likelihood(model, x[start : start + block], k, seed=1000 + index))
        done = np.concatenate(log_px)
        print(f"{len(done)}/{len(x)} images: ELBO {elbo[: len(done)].mean():.2f}, log p(x) {done.mean():.2f} nats, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        np.save(run_dir / f"iwae_log_px_k{k}.npy", done)
    summary = {
        "test_images": len(x),
        "test_binarization": "stochastic, once, fixed seed (genkit.results.evaluation.evaluation_inputs, seed 0)",
        "k": k,
        "test_elbo": float(elbo.mean()),
        "test_log_likelihood_iwae": float(done.mean()),
        "evaluation_seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, indent=2))
    (run_dir / "benchmark_iwae.json").write_text(json.dumps(summary, indent=2) + "\n")

if __name__ == "__main__":
    main()
