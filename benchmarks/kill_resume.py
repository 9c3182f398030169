"""Kill, terminate and interrupt trials: stop a real ``genkit run`` at a random moment, resume it, compare.

First an uninterrupted ``genkit run`` (a subprocess) of the tests' tiny shapes VAE is timed in its
three phases: start-up (from the process's start until it writes its run header), training (until
its last epoch is checkpointed) and shutdown (until it exits). Each trial then runs the same
command in a fresh run directory and sends it one signal -- SIGKILL, SIGINT (Ctrl-C) or SIGTERM (a
scheduler, a container stop) -- after a delay drawn uniformly from the chosen phase's window
(kills land while tracing, in any epoch, while a checkpoint or the final weights and pictures are
written). A SIGINT or SIGTERM must end the process with 128 + the signal (130, 143), one line
starting "interrupted" and no traceback ("clean"); a SIGKILL just ends it. Every trial is then
finished with ``genkit run --resume`` (another subprocess; it also starts a run the signal
stopped before it had a directory) and must end with the uninterrupted run's weights and metric
rows (timing columns aside): "exact" means equal to float tolerance (rtol 1e-6), "bitwise" that
every weight array is identical.

    python benchmarks/kill_resume.py --trials 4 --seed 0 --signals kill,int,term --phases startup,training,shutdown

Prints one line per trial and a summary per signal and phase; exits 1 if any trial was not clean
or did not resume exactly.
"""

from __future__ import annotations

import argparse
import copy
import random
import signal
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
    PHASES,
    assert_same_run,
    checkpointed_epoch,
    final_weights,
    genkit_cli,
    stop_with_signal,
    wait_for,
)

SIGNALS = {"kill": signal.SIGKILL, "int": signal.SIGINT, "term": signal.SIGTERM}


def phase_windows(spec: Path, run_dir: Path, epochs: int) -> dict[str, float]:
    """Seconds each phase of an uninterrupted run lasts."""
    started = time.monotonic()
    process = subprocess.Popen(genkit_cli("run", str(spec), "--out", str(run_dir), "-q"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: (run_dir / "spec.yaml").exists(), 300, "the run header")
    header = time.monotonic()
    wait_for(lambda: checkpointed_epoch(run_dir) == epochs, 300, "the last checkpoint")
    last = time.monotonic()
    assert process.wait() == 0, process.stderr.read().decode() if process.stderr else ""
    ended = time.monotonic()
    return {"startup": header - started, "training": last - header, "shutdown": ended - last}


def state_of(run_dir: Path, epochs: int) -> str:
    """What the signal left: no directory, a resumable run (its checkpointed epoch), or a complete run."""
    if not run_dir.exists():
        return "none"
    if (run_dir / "model.weights.h5").exists():
        return "complete"
    return f"epoch-{checkpointed_epoch(run_dir)}"


def trial(spec: Path, run_dir: Path, reference: Path, name: str, phase: str, delay: float, epochs: int) -> dict:
    """One signal ``delay`` seconds into ``phase``, one resume; what happened."""
    signum = SIGNALS[name]
    code, stderr = stop_with_signal(["run", str(spec), "--out", str(run_dir), "-q"], run_dir, signum, phase,
                                    epochs, delay)
    lines = stderr.strip().splitlines()
    clean = code is None or signum == signal.SIGKILL or (
        code == 128 + signum and bool(lines) and lines[-1].startswith("interrupted") and "Traceback" not in stderr)
    result = {"signal": name, "phase": phase, "delay": delay, "stopped": code is not None, "exit": code,
              "clean": clean, "left": state_of(run_dir, epochs), "exact": False, "bitwise": False}
    if not clean:
        result["message"] = lines[-1:] or ["(no output)"]
    resumed = subprocess.run(genkit_cli("run", str(spec), "--out", str(run_dir), "--resume", "-q"),
                             capture_output=True, text=True)
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


def _summary(results: list[dict], name: str, phase: str) -> str:
    group = [r for r in results if r["signal"] == name and r["phase"] == phase]
    stopped = sum(r["stopped"] for r in group)
    codes = sorted({r["exit"] for r in group if r["exit"] is not None})
    left = sorted(r["left"] for r in group)
    return (f"{name:>4} {phase:>8}: {len(group)} trials, {stopped} stopped (exit codes {codes}), "
            f"{sum(r['clean'] for r in group)} clean, {sum(r['exact'] for r in group)} resumed exactly, "
            f"{sum(r['bitwise'] for r in group)} bitwise; left: {left}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="trials per signal and phase")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--signals", default="kill,int,term", help="comma-separated: kill, int, term")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated: " + ", ".join(PHASES))
    args = parser.parse_args()
    names, phases = args.signals.split(","), args.phases.split(",")
    with tempfile.TemporaryDirectory(prefix="genkit-kill-resume-") as root:
        root = Path(root)
        spec_data = copy.deepcopy(TINY_VAE)
        spec_data["train"].update(epochs=args.epochs, keep_checkpoints=2)
        spec = root / "spec.yaml"
        spec.write_text(yaml.safe_dump(spec_data))
        windows = phase_windows(spec, root / "reference", args.epochs)
        print("reference run: " + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in windows.items())
              + "; delays drawn from [0, phase length]", flush=True)
        rng = random.Random(args.seed)
        results = []
        for name in names:
            for phase in phases:
                for _ in range(args.trials):
                    index = len(results)
                    result = trial(spec, root / f"trial-{index}", root / "reference", name, phase,
                                   rng.uniform(0.0, windows[phase]), args.epochs)
                    results.append(result)
                    print(f"trial {index}: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                                          for k, v in result.items()), flush=True)
    print("summary (per signal and phase):")
    for name in names:
        for phase in phases:
            print("  " + _summary(results, name, phase))
    good = sum(r["clean"] and r["exact"] for r in results)
    print(f"total: {len(results)} trials, {good} clean and resumed exactly")
    return 0 if good == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
