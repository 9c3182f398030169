"""Helpers for the resume tests: what a finished run directory holds, compared to another's."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

#: Metric columns that measure wall-clock time, so differ between any two runs.
TIMING_COLUMNS = ("seconds", "examples_per_second")


def final_weights(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Every array of the run's ``model.weights.h5``, by its path inside the file."""
    arrays: dict[str, np.ndarray] = {}

    def collect(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            arrays[name] = obj[()]

    with h5py.File(Path(run_dir) / "model.weights.h5", "r") as handle:
        handle.visititems(collect)
    return arrays


def metric_rows(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of ``metrics.csv`` as floats, without the timing columns."""
    with (Path(run_dir) / "metrics.csv").open(newline="") as handle:
        return [{k: float(v) for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(handle)]


def assert_same_run(run_dir: str | Path, reference_dir: str | Path, rtol: float = 1e-6) -> None:
    """The two runs end with the same weights and the same metrics rows (to float tolerance)."""
    ours, reference = final_weights(run_dir), final_weights(reference_dir)
    assert sorted(ours) == sorted(reference)
    for name, array in reference.items():
        np.testing.assert_allclose(ours[name], array, rtol=rtol, atol=1e-7, err_msg=name)
    rows, expected = metric_rows(run_dir), metric_rows(reference_dir)
    assert [list(r) for r in rows] == [list(r) for r in expected]
    for row, want in zip(rows, expected, strict=True):
        np.testing.assert_allclose(list(row.values()), list(want.values()), rtol=rtol, err_msg=str(row))


def genkit_cli(*args: str) -> list[str]:
    """The command line running ``genkit ARGS`` with this interpreter (whatever venv the tests run in)."""
    return [sys.executable, "-c", "from genkit.cli import main; main()", *args]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 20 ms until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _default_sigint() -> None:
    """In a child process: SIGINT delivered as from a terminal (a parent run in the background
    ignores it, children inherit that, and genkit keeps a SIGINT it was started ignoring ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_training(args: list[str], run_dir: Path, timeout: float = 300) -> subprocess.Popen:
    """Start ``genkit ARGS`` and return once it has (re)written ``run_dir/spec.yaml``: training starts
    right after (or once it has exited, e.g. with an error)."""
    started = time.time_ns()
    process = subprocess.Popen(genkit_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=_default_sigint)
    spec = Path(run_dir) / "spec.yaml"
    wait_for(lambda: process.poll() is not None or (spec.exists() and spec.stat().st_mtime_ns >= started),
             timeout, f"{spec} to be written")
    return process


def kill_during_training(args: list[str], run_dir: Path, delay: float, timeout: float = 300) -> bool:
    """Run ``genkit ARGS``, SIGKILL it ``delay`` seconds after training starts (see :func:`start_training`).

    Returns whether it was still running then (else it must have finished successfully).
    """
    code, _ = stop_with_signal(args, run_dir, signal.SIGKILL, "training", 0, delay, timeout)
    return code is not None


#: When a stop signal is sent: while genkit starts (before the run directory is written), while
#: it trains (once the run header is written), or while it finishes (once its last epoch is
#: checkpointed).
PHASES = ("startup", "training", "shutdown")


def stop_with_signal(args: list[str], run_dir: Path, signum: int, phase: str, epochs: int, delay: float = 0.0,
                     timeout: float = 300) -> tuple[int | None, str]:
    """Run ``genkit ARGS`` (a run of ``epochs`` epochs) and send it ``signum`` ``delay`` seconds
    into ``phase`` (see :data:`PHASES`; ``startup`` counts from the process's start).

    Returns the exit code and stderr; the exit code is None when the process had ended before the
    signal could be sent (it must have succeeded then).
    """
    if phase == "training":
        process = start_training(args, run_dir, timeout)
    else:
        process = subprocess.Popen(genkit_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   preexec_fn=_default_sigint)
    if phase == "shutdown":
        wait_for(lambda: process.poll() is not None or checkpointed_epoch(run_dir) == epochs, timeout,
                 "the last epoch's checkpoint")
    time.sleep(delay)
    alive = process.poll() is None
    if alive:
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=timeout)
    if not alive:
        assert process.returncode == 0, stderr.decode()
    return (process.returncode if alive else None), stderr.decode()


def checkpointed_epoch(run_dir: Path) -> int:
    """The last finished epoch of the run's newest good checkpoint (0 when there is none)."""
    from genkit.training.checkpoint import CheckpointManager, CorruptCheckpoint

    manager = CheckpointManager(run_dir)
    for path in reversed(manager.paths()):
        try:
            return manager.read(path).epoch
        except CorruptCheckpoint:
            continue
    return 0
