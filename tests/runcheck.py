"""Helpers for the resume tests: what a finished run directory holds, compared to another's."""

from __future__ import annotations

import csv
import random
import signal
import socket
import subprocess
import sys
import tempfile
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


def spawn(command: list[str], env: dict[str, str] | None = None, stdout: int | None = None,
          **popen: object) -> subprocess.Popen:
    """Start ``command`` with its stderr (and its stdout, unless ``stdout`` says otherwise) written to
    an unnamed temporary file, never to a pipe: a child that writes more than a pipe holds while the
    test is waiting on something else blocks on the write, and workers of a cluster waiting for it
    hang with it. :func:`finish` returns what it wrote."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, env=env, stdout=log if stdout is None else stdout, stderr=log,
                               **popen)  # type: ignore[call-overload]
    process.log = log  # type: ignore[attr-defined]
    return process


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    """Wait for a process started by :func:`spawn`; its exit code and everything it wrote."""
    process.wait(timeout=timeout)
    log = process.log  # type: ignore[attr-defined]
    log.seek(0)
    output = log.read().decode(errors="replace")
    log.close()
    return process.returncode, output


#: Ports for the tests' clusters: below Linux's ephemeral range (32768-60999), from which the kernel
#: takes the local ports of outgoing connections and of bind(0), so that no other test's connection
#: takes a port found free before the worker that is to listen on it has started.
CLUSTER_PORTS = range(20000, 32000)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports of :data:`CLUSTER_PORTS` that nothing listens on now."""
    draw = random.SystemRandom()
    ports: list[int] = []
    while len(ports) < count:
        port = draw.choice(CLUSTER_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


def finish_all(processes: list[subprocess.Popen], timeout: float = 300) -> list[tuple[int, str]]:
    """Wait for every process of a cluster started by :func:`spawn`: their exit codes and output.
    As soon as one fails the others are killed (they would wait for it until the timeout), and at
    the timeout every one still running is."""
    deadline = time.monotonic() + timeout
    while any(process.poll() is None for process in processes):
        if time.monotonic() > deadline or any(process.poll() not in (None, 0) for process in processes):
            break
        time.sleep(0.05)
    for process in processes:
        if process.poll() is None:
            process.kill()
    return [finish(process, 30) for process in processes]


def _default_sigint() -> None:
    """In a child process: SIGINT delivered as from a terminal (a parent run in the background
    ignores it, children inherit that, and genkit keeps a SIGINT it was started ignoring ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_training(args: list[str], run_dir: Path, timeout: float = 300) -> subprocess.Popen:
    """Start ``genkit ARGS`` and return once it has (re)written the run header's last file,
    ``run_dir/model.json``: training starts right after (or once it has exited, e.g. with an error).
    (Not spec.yaml, the header's first file: a signal while model.json is written still comes
    before training.)"""
    started = time.time_ns()
    process = spawn(genkit_cli(*args), stdout=subprocess.DEVNULL, preexec_fn=_default_sigint)
    header = Path(run_dir) / "model.json"
    wait_for(lambda: process.poll() is not None or (header.exists() and header.stat().st_mtime_ns >= started),
             timeout, f"{header} to be written")
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
        process = spawn(genkit_cli(*args), stdout=subprocess.DEVNULL, preexec_fn=_default_sigint)
    if phase == "shutdown":
        wait_for(lambda: process.poll() is not None or checkpointed_epoch(run_dir) == epochs, timeout,
                 "the last epoch's checkpoint")
    time.sleep(delay)
    alive = process.poll() is None
    if alive:
        process.send_signal(signum)
    code, stderr = finish(process, timeout)
    if not alive:
        assert code == 0, stderr
    return (code if alive else None), stderr


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
