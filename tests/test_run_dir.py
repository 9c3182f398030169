"""The run directory policy (genkit.runs.directory): refusing, resuming, replacing only with a
finished run, one writer at a time, and a consistent directory after any failure or stop.

Runs the CLI (or genkit.train) in-process on the corpus' control spec (20 examples, one epoch);
one finished run is trained per module and copied into each test that needs one. The refusals a
user can type are in the bad-input corpus; here is what happens around them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from runcheck import metric_rows

import genkit
from genkit import Callback
from genkit.cli import main
from genkit.errors import GenkitError, Interrupted
from genkit.runs.directory import RunLock
from genkit.training.checkpoint import CheckpointManager

CONTROL = Path(__file__).parent / "bad_inputs" / "control.yaml"


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def _checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    result = _run("run", str(CONTROL), "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def finished(trained, tmp_path) -> Path:
    """A copy of the finished run, in this test's directory."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


class _FailAtStep(Callback):
    """Raises ``error`` at the end of the first training step (a plugin that breaks when training starts)."""

    def __init__(self, error: BaseException):
        self.error = error

    def on_step_end(self, step: int, loss: float | None) -> None:
        raise self.error


def test_second_run_refuses_and_touches_nothing(finished):
    before = {p: p.stat().st_mtime_ns for p in finished.rglob("*")}
    result = _run("run", str(CONTROL), "--out", str(finished), "-q")
    assert result.exit_code == 2
    assert f"run directory {finished} already exists" in result.stderr
    assert "--resume" in result.stderr and "--overwrite" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in finished.rglob("*")} == before


def test_resume_continues_the_existing_run(finished):
    rows = metric_rows(finished)
    result = _run("run", str(CONTROL), "--out", str(finished), "--resume", "-q")
    assert result.exit_code == 0, result.output
    assert f"done: {finished}" in result.stdout
    assert metric_rows(finished) == rows  # finished already: nothing trained again, nothing appended
    assert not (finished / ".lock").exists()


def test_overwrite_replaces_the_run_once_the_new_one_has_finished(finished):
    stray = finished / "stray.txt"
    stray.write_text("left from before")
    result = _run("run", str(CONTROL), "--out", str(finished), "--overwrite", "-q")
    assert result.exit_code == 0, result.output
    assert not stray.exists()
    assert len(metric_rows(finished)) == 1
    assert sorted(p.name for p in finished.parent.iterdir()) == ["run"]  # no .genkit-new-* left beside it
    assert not (finished / ".lock").exists()


@pytest.mark.parametrize("error", [RuntimeError("the plugin breaks at its first step"), Interrupted(signum=15)],
                         ids=["failure", "sigterm"])
def test_overwrite_that_fails_or_stops_at_the_first_step_keeps_the_old_run(finished, error):
    before = _checksums(finished)
    with pytest.raises(type(error)) as caught:
        genkit.train(CONTROL, finished, overwrite=True, progress=False, callbacks=[_FailAtStep(error)])
    assert _checksums(finished) == before
    assert sorted(p.name for p in finished.parent.iterdir()) == ["run"]
    if isinstance(error, Interrupted):
        assert caught.value.signum == 15
        assert str(caught.value) == (f"interrupted: the new run was discarded; {finished} still holds the previous "
                                     "run (--overwrite replaces it only once the new run has finished)")


def test_new_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="first step"):
        genkit.train(CONTROL, "runs/nested/run", progress=False, callbacks=[_FailAtStep(RuntimeError("first step"))])
    assert list(tmp_path.iterdir()) == []  # runs/ and runs/nested/ were created by it, and removed again


def test_the_default_run_directory_is_runs_slash_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run("run", str(CONTROL), "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "bad-input" / "model.weights.h5").is_file()


def test_resume_and_overwrite_together_refuse(finished):
    result = _run("run", str(CONTROL), "--out", str(finished), "--resume", "--overwrite")
    assert result.exit_code == 2
    assert "pass one of them" in result.stderr


def test_resume_refuses_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for args in (["resume", str(tmp_path)], ["run", str(CONTROL), "--out", str(tmp_path), "--resume"]):
        result = _run(*args)
        assert result.exit_code == 2
        assert f"cannot resume {tmp_path}: it is not a genkit run directory" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_held_lock_refuses_a_second_writer_and_a_stale_one_is_taken_over(finished):
    lock = RunLock(finished)  # the first writer (this process, through its own descriptor)
    lock.acquire()
    result = _run("resume", str(finished), "-q")
    assert result.exit_code == 2
    assert f"being written by process {os.getpid()}" in result.stderr
    lock.release()
    (finished / ".lock").write_text("999999999\n")  # what a killed writer leaves: a file no one locks
    assert RunLock.holder(finished) is None
    result = _run("resume", str(finished), "-q")
    assert result.exit_code == 0, result.output
    assert not (finished / ".lock").exists()


def test_sigint_before_training_starts_leaves_nothing(tmp_path, monkeypatch):
    """A stop signal recorded while the run directory is set up is acted on before the first step."""

    class _SignalWhileSettingUp(Callback):
        def on_train_begin(self, trainer) -> None:
            raise AssertionError("training must not start")

    monkeypatch.setattr("genkit.runs.train.write_run_header",
                        lambda *args: signal.raise_signal(signal.SIGINT))
    with pytest.raises(Interrupted, match="interrupted before training started; nothing of the run was kept"):
        genkit.train(CONTROL, tmp_path / "run", progress=False, callbacks=[_SignalWhileSettingUp()])
    assert not (tmp_path / "run").exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 512 kB tmpfs: a real file system that fills up (skipped where this process may not mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


class _FillTheDisk(Callback):
    """Fills the file system at the start of epoch ``at``, as another process writing a big file would."""

    def __init__(self, filler: Path, at: int):
        self.filler, self.at = filler, at

    def on_epoch_begin(self, epoch: int) -> None:
        if epoch == self.at:
            with self.filler.open("wb") as handle:
                try:
                    while True:
                        handle.write(b"\0" * 4096)
                except OSError:
                    pass


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tiny_disk):
    spec = genkit.load_spec(CONTROL)
    spec.train.epochs = 3
    out = tiny_disk / "run"
    with pytest.raises(GenkitError) as caught:
        genkit.train(spec, out, progress=False, callbacks=[_FillTheDisk(tiny_disk / "filler", at=2)])
    newest = CheckpointManager(out).paths()[-1]
    assert str(caught.value) == (f"cannot write the run directory {out}: No space left on device; its newest "
                                 f"checkpoint {newest.name} is intact; resume with: genkit resume {out}")
    assert CheckpointManager(out).read(newest).epoch == 1  # whole: manifest and checksums match
    leftovers = [p for p in out.rglob("*") if p.name.startswith((".tmp-", ".lock"))]
    assert leftovers == []
    (tiny_disk / "filler").unlink()
    result = _run("resume", str(out), "-q")
    assert result.exit_code == 0, result.output
    assert len(metric_rows(out)) == 3


def test_the_lock_file_names_this_process_while_the_run_writes(tmp_path):
    seen: list[str] = []

    class _Look(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            seen.append((tmp_path / "run" / ".lock").read_text())

    genkit.train(CONTROL, tmp_path / "run", progress=False, callbacks=[_Look()])
    assert seen == [f"{os.getpid()}\n"]
    assert not (tmp_path / "run" / ".lock").exists()
