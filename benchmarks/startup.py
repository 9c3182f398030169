"""Wall time of the commands a user types before training, each in fresh processes.

    python benchmarks/startup.py [--repeats 3]

Rows: ``genkit --help``; ``genkit list`` with an empty cache folder (it imports TensorFlow and
every plugin, then keeps the table) and with the table cached; ``genkit validate`` of the quick
start's spec; and generating the quick start's 6,000 built-in shapes in a process that has
already imported genkit (the data alone). Medians over ``--repeats`` runs; every command runs
with a cache folder of its own (``GENKIT_CACHE_DIR``), so the user's cache is never read or
written. Time to the first training step is ``benchmarks/first_step.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK_START = ROOT / "examples" / "vae_shapes.yaml"


def genkit_command(*args: str) -> list[str]:
    """``genkit ARGS`` through this interpreter's console script (``python -m genkit.cli`` without one)."""
    script = Path(sys.executable).with_name("genkit")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "genkit.cli", *args]


def seconds(command: list[str], cache: Path) -> float:
    """The wall time of one run of ``command`` (which must succeed) with ``cache`` as its cache folder."""
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "GENKIT_CACHE_DIR": str(cache)})
    return time.perf_counter() - started


def generate_quick_start_shapes() -> None:
    """Run inside a child process: generate the quick start's training and test shapes and print
    the seconds that took (after the imports and spec resolution, which are not the data's)."""
    from genkit.plugin.registry import registry
    from genkit.plugin.signature import spec_arguments
    from genkit.spec.resolve import load_spec

    spec = load_spec(QUICK_START)
    shapes = registry("dataset").get("shapes").obj
    arguments = {argument.name: spec.data[argument.name] for argument in spec_arguments(shapes)
                 if argument.name in spec.data}
    started = time.perf_counter()
    dataset = shapes(**arguments)
    dataset.load("train"), dataset.load("test")
    print(time.perf_counter() - started)


def measure(repeats: int, folder: Path) -> dict[str, list[float]]:
    """Each row's times over ``repeats`` rounds."""
    rows: dict[str, list[float]] = {key: [] for key in (
        "genkit --help", "genkit list (empty cache)", "genkit list (cached)",
        f"genkit validate {QUICK_START.relative_to(ROOT)}", "the quick start's 6,000 shapes (generation only)")}
    names = list(rows)
    for round_ in range(repeats):
        cache = folder / f"cache-{round_}"
        rows[names[0]].append(seconds(genkit_command("--help"), cache))
        shutil.rmtree(cache, ignore_errors=True)
        rows[names[1]].append(seconds(genkit_command("list"), cache))
        rows[names[2]].append(seconds(genkit_command("list"), cache))
        rows[names[3]].append(seconds(genkit_command("validate", str(QUICK_START)), cache))
        generated = subprocess.run([sys.executable, __file__, "--child"], check=True, capture_output=True, text=True)
        rows[names[4]].append(float(generated.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        generate_quick_start_shapes()
        return
    from machine import Header

    header = Header()
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(args.repeats, Path(tmp))
    print("\n".join(header.lines()) + "\n")
    print(f"start-up, median of {args.repeats} fresh processes (seconds)\n")
    print("| command | seconds |\n|---|---:|")
    for name, times in rows.items():
        print(f"| {name} | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
