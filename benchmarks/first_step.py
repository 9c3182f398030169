"""Time from process start to the first optimizer step of a genkit run, split into its parts.

    python benchmarks/first_step.py [--repeats 3]

Each measurement is a fresh Python process that trains the benchmark MLP VAE (MNIST or generated
data, see throughput.py) the way ``genkit run`` does (``genkit.runs.directory.train``), with ``jit_compile``
true (XLA) and false (the CPU default). Parts, medians over repeats:

- python: interpreter start until the first line of the script runs;
- imports: genkit's CLI module, TensorFlow (quietly, as the CLI does), Keras, TFP, genkit.runs;
- build: spec validation, data loading, model assembly, trainer set-up (until training begins);
- first step: the first call of the training function: tracing, XLA compilation (when on) and
  one optimizer step;
- then one later step (a full batch, like the first), for scale.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARTS = ("python", "imports", "build", "first step", "later step")


def child(spec_path: str, jit: str, spawned: float) -> None:
    """Run inside the measured process: train two steps, print the part timings as JSON."""
    entered = time.time()
    import genkit.cli  # noqa: F401 - the CLI's own import cost
    from genkit.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from genkit.plugin.callback import Callback
    from genkit.runs.train import train
    from genkit.spec.resolve import load_spec

    imported = time.time()
    marks: dict[str, float] = {}

    class Marks(Callback):
        def on_train_begin(self, trainer) -> None:
            marks["begin"] = time.time()

        def on_step_end(self, step: int, loss: float | None) -> None:
            marks.setdefault(f"step{step}", time.time())

    spec = load_spec(spec_path).to_dict()
    spec["train"].update(jit_compile={"true": True, "false": False}[jit], epochs=1)
    # four steps, the last one partial (XLA compiles once more for its shape): the first is what counts
    spec["data"]["limit"] = 128 * 4
    train(spec, progress=False, callbacks=[Marks()])
    print(json.dumps({
        "python": entered - spawned, "imports": imported - entered, "build": marks["begin"] - imported,
        "first step": marks["step1"] - marks["begin"], "later step": marks["step3"] - marks["step2"],
    }))


def write_spec(directory: Path) -> tuple[Path, str]:
    """The benchmark MLP VAE's spec file, written into ``directory`` (a tenth of the data held out for
    validation, as a user's run would), and the name of its data (MNIST, or generated when absent)."""
    import yaml
    from throughput import genkit_spec, mnist_file

    path, data_name = mnist_file(directory)
    spec = genkit_spec(path, "mlp", None)
    spec["data"]["validation_split"] = 0.1
    spec_path = directory / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    return spec_path, data_name


def measure(spec_path: Path, repeats: int) -> dict[str, list[dict[str, float]]]:
    """``repeats`` fresh processes per ``jit_compile`` setting (interleaved), each one's part timings."""
    results: dict[str, list[dict[str, float]]] = {"true": [], "false": []}
    for _ in range(repeats):
        for jit in results:
            spawned = time.time()
            out = subprocess.run([sys.executable, __file__, "--child", str(spec_path), jit, repr(spawned)],
                                 capture_output=True, text=True, check=True)
            results[jit].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def total(runs: list[dict[str, float]]) -> float:
    """The median time from process start to the end of the first step, in seconds."""
    return statistics.median(sum(run[part] for part in PARTS[:4]) for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], float(args.child[2]))
        return
    from machine import Header

    header = Header()
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, data_name = write_spec(Path(tmp))
        results = measure(spec_path, args.repeats)
    print("\n".join(header.lines()) + "\n")
    print(f"time to first step, MLP VAE on {data_name}, median of {args.repeats} fresh processes (seconds)\n")
    print("| jit_compile | " + " | ".join(PARTS) + " | total to first step |")
    print("|---|" + "---:|" * (len(PARTS) + 1))
    for jit, runs in results.items():
        medians = [statistics.median(run[part] for run in runs) for part in PARTS]
        print(f"| {jit} | " + " | ".join(f"{m:.2f}" for m in medians) + f" | {total(runs):.2f} |")


if __name__ == "__main__":
    main()
