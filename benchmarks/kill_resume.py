"""Kill-and-resume trials: SIGKILL a real ``genkit run`` at a random moment, resume it, compare.

First an uninterrupted ``genkit run`` (a subprocess) of the tests' tiny shapes VAE is timed from
the moment it writes its spec (training starts right after) to its exit. Each trial then runs
the same command in a fresh run directory, kills it with SIGKILL after a delay drawn uniformly
from that window (so kills land while tracing, in any epoch, while a checkpoint is written, or
while the final weights and pictures are written), and finishes it with ``genkit resume``
(another subprocess). The resumed run must end with the uninterrupted run's weights and metric
rows (timing columns aside): "exact" below means equal to float tolerance (rtol 1e-6);
"bitwise" means every weight array is identical.

    python benchmarks/kill_resume.py --trials 20 --seed 0

Prints one line per trial and a summary; exits 1 if any trial did not resume exactly.
"""

from __future__ import annotations

import argparse
import copy
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from conftest import TINY_VAE  # noqa: E402 - the tests' tiny spec (also quiets TensorFlow)
from runcheck import (  # noqa: E402
    assert_same_run,
    checkpointed_epoch,
    final_weights,
    genkit_cli,
    kill_during_training,
    start_training,
)


def trial(spec: Path, run_dir: Path, reference: Path, delay: float) -> dict:
    """One kill at ``delay`` seconds into training, one resume; what happened."""
    killed = kill_during_training(["run", str(spec), "--out", str(run_dir), "-q"], run_dir, delay)
    checkpointed = checkpointed_epoch(run_dir)
    resumed = subprocess.run(genkit_cli("resume", str(run_dir), "-q"), capture_output=True, text=True)
    result = {"delay": delay, "killed_while_training": killed, "checkpointed_epoch": checkpointed,
              "resume_exit": resumed.returncode, "exact": False, "bitwise": False}
    if resumed.returncode != 0:
        result["error"] = resumed.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return result
    try:
        assert_same_run(run_dir, reference)
        result["exact"] = True
    except AssertionError as err:
        result["error"] = str(err).splitlines()[:3]
    ours, theirs = final_weights(run_dir), final_weights(reference)
    result["bitwise"] = all(np.array_equal(ours[k], theirs[k]) for k in theirs)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genkit-kill-resume-") as root:
        root = Path(root)
        spec_data = copy.deepcopy(TINY_VAE)
        spec_data["train"].update(epochs=args.epochs, keep_checkpoints=2)
        spec = root / "spec.yaml"
        spec.write_text(yaml.safe_dump(spec_data))
        reference = start_training(["run", str(spec), "--out", str(root / "reference"), "-q"], root / "reference")
        started = time.monotonic()
        assert reference.wait() == 0, reference.stderr.read().decode()
        window = time.monotonic() - started
        print(f"reference run: {window:.1f} s; kill delays drawn from [0, {window:.1f}] s", flush=True)
        rng = random.Random(args.seed)
        results = []
        for index in range(args.trials):
            result = trial(spec, root / f"trial-{index}", root / "reference", rng.uniform(0.0, window))
            results.append(result)
            print(f"trial {index}: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in result.items()), flush=True)
    killed = sum(r["killed_while_training"] for r in results)
    at_epoch = sorted(r["checkpointed_epoch"] for r in results)
    exact = sum(r["exact"] for r in results)
    bitwise = sum(r["bitwise"] for r in results)
    print(f"summary: {len(results)} trials, {killed} killed while training "
          f"({len(results) - killed} had finished before the kill), {exact} resumed exactly, "
          f"{bitwise} bitwise-identical weights; newest checkpoint at the kill (epoch): {at_epoch}")
    return 0 if exact == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
