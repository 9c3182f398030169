"""Benchmark: test ELBO of a MNIST VAE under different priors (and likelihoods).

Trains each spec in ``examples/vae_mnist_*.yaml`` (same data, MLP, latent size, optimizer, seed and
epochs; only the prior differs) and, when a ``continuous_bernoulli`` likelihood is registered, the
standard-normal spec with that likelihood. Reports the mean test ELBO in nats, ``model.elbo`` on
the 10,000 test images binarized once with a fixed seed (one posterior sample per image; the KL is
analytic for the standard normal prior and a one-sample Monte Carlo estimate otherwise).

    nice .venv/bin/python benchmarks/priors.py          # 12 epochs, about 10-12 minutes on 2 busy cores
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from genkit.quiet import import_tensorflow_quietly

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUNS = ("normal", "mixture", "vamp", "flow")


def static_binarization(x: np.ndarray, seed: int = 1234) -> np.ndarray:
    """One fixed Bernoulli draw of the grey-level images (the same test set for every model)."""
    return (np.random.default_rng(seed).uniform(size=x.shape) < x).astype(np.float32)


def run(spec_data: dict, test_x: np.ndarray) -> dict[str, float]:
    """Train one spec; its mean test ELBO, final training loss and training seconds."""
    from genkit.runs.train import train

    started = time.perf_counter()
    result = train(spec_data, progress=False)
    seconds = time.perf_counter() - started
    return {
        "elbo": float(np.mean(result.model.elbo(test_x))),
        "train_loss": result.history[-1]["loss"],
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="training epochs of every run")
    parser.add_argument("--only", nargs="*", choices=RUNS, default=list(RUNS), help="which priors to run")
    args = parser.parse_args()
    import_tensorflow_quietly()
    from genkit.assembly.data import load_split
    from genkit.plugin.registry import registry
    from genkit.spec.resolve import load_spec
    from genkit.spec.yaml_source import read_yaml_file

    def read(name: str) -> dict:
        """An example spec as data (its mnist dataset reads Keras' cache file; docs/data.md)."""
        return read_yaml_file(EXAMPLES / f"vae_mnist_{name}.yaml")[0]

    jobs: list[tuple[str, str, dict]] = []
    for name in args.only:
        data = read(name)
        data["train"]["epochs"] = args.epochs
        jobs.append((name, "bernoulli", data))
    has_cb = "continuous_bernoulli" in registry("likelihood")
    if has_cb and "normal" in args.only:
        data = read("normal")
        data["train"]["epochs"], data["likelihood"] = args.epochs, "continuous_bernoulli"
        jobs.append(("normal", "continuous_bernoulli", data))

    test_x = static_binarization(load_split(load_spec(jobs[0][2]), "test").x)
    rows = []
    for prior, likelihood, data in jobs:
        result = run(data, test_x)
        rows.append((prior, likelihood, result))
        print(f"done: {prior} / {likelihood}: test ELBO {result['elbo']:.2f} in {result['seconds']:.0f} s", flush=True)

    print(f"\nMNIST (12,484 train / 10,000 test), latent 16, MLP 512-256, batch 128, adam 1e-3, {args.epochs} epochs")
    print(f"{'prior':<10} {'likelihood':<22} {'test ELBO (nats)':>17} {'final train loss':>17} {'train s':>8}")
    for prior, likelihood, result in rows:
        print(f"{prior:<10} {likelihood:<22} {result['elbo']:>17.2f} {result['train_loss']:>17.2f} "
              f"{result['seconds']:>8.0f}")
    if not has_cb:
        print("continuous_bernoulli: not registered in this tree (another branch adds it); not run")


if __name__ == "__main__":
    main()
