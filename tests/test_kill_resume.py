"""Real processes killed and interrupted: SIGKILL at seeded random moments, then resume; SIGINT and
SIGTERM while genkit starts, trains and finishes.

The runs are ``genkit`` subprocesses (the CLI, as a user starts it); the uninterrupted reference
run is trained in-process. Three kills are chained on one run directory (each resume is itself
killed), then a last ``genkit resume`` finishes it: it must end with the reference's weights and
metrics. A stop signal at any moment must give one line starting "interrupted", exit code 130
(SIGINT) or 143 (SIGTERM), no traceback, and a directory that resumes to the reference.
``benchmarks/kill_resume.py`` runs many independent trials the same way.
"""

from __future__ import annotations

import copy
import random
import signal
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import TINY_VAE
from runcheck import assert_same_run, checkpointed_epoch, kill_during_training, metric_rows, stop_with_signal

from genkit.cli import main
from genkit.runs.train import train

EPOCHS = 12  # enough epochs after the first checkpoint that the SIGINT lands mid-training
KILLS = 3


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    spec = copy.deepcopy(TINY_VAE)
    spec["train"].update(epochs=EPOCHS, keep_checkpoints=2)
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def reference(spec_file, tmp_path_factory) -> tuple[Path, float]:
    """The uninterrupted run, and how long it took (kill delays are drawn within that window)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    started = time.monotonic()
    train(spec_file, out, progress=False)
    return out, time.monotonic() - started


def _rows(run_dir: Path) -> int:
    return len(metric_rows(run_dir)) if (run_dir / "metrics.csv").exists() else 0


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(spec_file, reference, tmp_path):
    reference_dir, seconds = reference
    out = tmp_path / "run"
    rng = random.Random(6)
    killed_while_training = 0
    for trial in range(KILLS):
        args = ["run", str(spec_file), "--out", str(out), "-q"] + (["--resume"] if trial else [])
        # delays within the first half of the reference's time (which includes tracing): a CLI run can
        # train faster than that, and a kill after its last epoch lands on a finished run
        killed_while_training += kill_during_training(args, out, delay=rng.uniform(0.0, 0.5 * seconds))
        # At most the work since the newest good checkpoint is lost: metric rows never run ahead of it
        # by more than the epoch that was being checkpointed.
        assert _rows(out) <= checkpointed_epoch(out) + 1
    assert killed_while_training >= 1
    result = CliRunner().invoke(main, ["resume", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert_same_run(out, reference_dir)


@pytest.mark.parametrize(("signum", "phase"), [
    (signal.SIGINT, "training"), (signal.SIGTERM, "training"), (signal.SIGINT, "startup"),
    (signal.SIGTERM, "startup"), (signal.SIGTERM, "shutdown"),
], ids=["sigint-training", "sigterm-training", "sigint-startup", "sigterm-startup", "sigterm-shutdown"])
def test_a_stop_signal_at_any_moment_exits_cleanly_and_resumes(spec_file, reference, tmp_path, signum, phase):
    out = tmp_path / "run"
    args = ["run", str(spec_file), "--out", str(out), "-q"]
    delay = 1.5 if phase == "startup" else 0.0  # at start-up: while TensorFlow is imported
    code, stderr = stop_with_signal(args, out, signum, phase, epochs=EPOCHS, delay=delay)
    assert code == 128 + signum, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted"), stderr
    if phase == "startup":
        assert not out.exists()
        return
    if phase == "training":
        assert last.startswith("interrupted: checkpoint step-") and last.endswith(f"genkit resume {out}")
        assert checkpointed_epoch(out) < EPOCHS
    result = CliRunner().invoke(main, ["resume", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert_same_run(out, reference[0])


#: A process that has finished its command when a stop signal comes: recorded by the handler (the
#: command's outcome decided) or still pending once the exit has blocked the signals.
LATE_SIGNAL = """
import os, signal, sys
from genkit import signals

signals.install()
with signals.handled():
    pass  # the command ran; from here on its outcome stands
if sys.argv[1] == "recorded":
    os.kill(os.getpid(), signal.SIG{name})
else:
    signal.pthread_sigmask(signal.SIG_BLOCK, signals.STOP_SIGNALS)
    os.kill(os.getpid(), signal.SIG{name})
signals.exit_process(int(sys.argv[2]))
"""


@pytest.mark.parametrize("name", ["INT", "TERM"])
@pytest.mark.parametrize("when", ["recorded", "pending"])
def test_a_stop_signal_after_the_command_gives_its_line_and_exit_code_not_a_death_by_signal(name, when):
    import subprocess
    import sys

    script = LATE_SIGNAL.format(name=name)
    done = subprocess.run([sys.executable, "-c", script, when, "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 128 + getattr(signal, f"SIG{name}"), done
    assert done.stderr.strip() == "interrupted as genkit was exiting; the command had finished"
    failed = subprocess.run([sys.executable, "-c", script, when, "2"], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2 and failed.stderr == ""  # a command's own failure keeps its code
