"""A second ``genkit run`` into an existing run directory refuses, unless --resume or --overwrite.

Runs the CLI in-process on the corpus' control spec (20 examples, one epoch).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from runcheck import metric_rows

from genkit.cli import main

CONTROL = Path(__file__).parent / "bad_inputs" / "control.yaml"


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def finished(tmp_path) -> Path:
    out = tmp_path / "run"
    result = _run("run", str(CONTROL), "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    return out


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


def test_overwrite_replaces_the_run(finished):
    stray = finished / "stray.txt"
    stray.write_text("left from before")
    result = _run("run", str(CONTROL), "--out", str(finished), "--overwrite", "-q")
    assert result.exit_code == 0, result.output
    assert not stray.exists()
    assert len(metric_rows(finished)) == 1


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
