"""The bad-input corpus (tests/bad_inputs/cases.yaml): nothing a user types may destroy data.

Every case is one command line a user (a careless one) could type. Each must exit with code 2,
print a one-paragraph message on stderr naming the file, key or value at fault, print no
traceback, create no file, and leave the checksum of every file that was there before (a
finished run that the case points at, the corpus' own data) unchanged.

The cases run through the CLI in-process (click's runner: the same command code, exit code and
streams, without paying TensorFlow's start-up once per case), each in a fresh directory that is
also its current directory, so a default ``runs/<name>`` would appear there. Families and the
placeholders a case may use are described at the top of cases.yaml.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from genkit.cli import main
from genkit.plugin.registry import KINDS, registry, reload_plugins
from genkit.runs.directory import RunLock

CORPUS = Path(__file__).parent / "bad_inputs"
CONTROL = CORPUS / "control.yaml"
DATA = CORPUS / "data"
PLUGINS = CORPUS / "plugins"
PWNED = Path("/tmp/genkit-bad-input-pwned")  # what 02_unsafe_tag.yaml would create if it were executed
DEFAULT_ARGS = ["run", "{spec}", "--out", "{out}", "-q"]


def _load_cases() -> list[tuple[str, dict[str, Any]]]:
    families = yaml.safe_load((CORPUS / "cases.yaml").read_text())
    return [(f"{family}/{case['name']}", case) for family, cases in families.items() for case in cases]


CASES = _load_cases()


def _merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``patch`` merged into ``base``; a mapping with a ``type`` replaces the entry it patches."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and "type" not in value:
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _filled(value: Any, places: dict[str, str]) -> Any:
    """``value`` with every ``{place}`` in its strings replaced."""
    if isinstance(value, str):
        for place, text in places.items():
            value = value.replace("{" + place + "}", text)
        return value
    if isinstance(value, dict):
        return {key: _filled(item, places) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, places) for item in value]
    return value


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` -> its kind and, for a regular file, its sha256 (links and pipes are not followed)."""
    found: dict[str, str] = {}
    for folder, directories, files in os.walk(root):
        for name in directories + files:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[str(path)] = "directory" if stat.S_ISDIR(mode) else f"mode {stat.S_IFMT(mode)}"
    return found


def _assert_clear_error(exit_code: int, stderr: str, expected: list[str]) -> None:
    """Exit 2; stderr is one paragraph starting 'error:' holding every expected piece; no traceback."""
    assert exit_code == 2, stderr
    assert "Traceback" not in stderr
    error = stderr[stderr.index("error: "):].strip()
    assert "\n\n" not in error
    for piece in expected:
        assert piece in error, f"{piece!r} not in: {error}"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished run of the control spec, copied into the cases that point at an existing run."""
    out = tmp_path_factory.mktemp("finished") / "run"
    result = CliRunner().invoke(main, ["run", str(CONTROL), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def forget_registrations() -> Iterator[None]:
    """Components registered in-process by a case's --import are forgotten afterwards."""
    before = {kind: set(registry(kind).names()) for kind in KINDS}
    yield
    for kind in KINDS:
        for name in set(registry(kind).names()) - before[kind]:
            registry(kind).remove(name)


def _broken_package(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake installed package (dist-info with an entry point) whose module raises on import."""
    site.mkdir()
    (site / "broken_genkit_plugin.py").write_text("raise ImportError('simulated: no module named sparkle')\n")
    info = site / "broken_genkit_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-genkit-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[genkit.priors]\nbroken = broken_genkit_plugin:Broken\n")
    monkeypatch.syspath_prepend(str(site))
    reload_plugins()


def _set_up(steps: list[str], tmp: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Prepare what a case needs in its directory ``tmp``; return the directory it runs in."""
    cwd = tmp
    for step in steps:
        if step == "run":
            shutil.copytree(request.getfixturevalue("finished_run"), tmp / "run")
        elif step == "locked":  # another writer holds the run (a second descriptor of this process)
            lock = RunLock(tmp / "run")
            lock.acquire()
            request.addfinalizer(lock.release)
        elif step == "edited":  # the run's spec.yaml edited to another architecture after training
            spec = tmp / "run" / "spec.yaml"
            spec.write_text(spec.read_text().replace("hidden: [8]", "hidden: [16]", 1))
        elif step == "data_inside_run":
            shutil.copy(DATA / "small.npz", tmp / "run" / "data.npz")
        elif step == "cwd_in_run":
            cwd = tmp / "run" / "checkpoints"
        elif step == "notes":
            (tmp / "notes").mkdir()
            (tmp / "notes" / "thesis.txt").write_text("three years of work\n")
        elif step == "loop":
            os.symlink(tmp / "loop2", tmp / "loop1")
            os.symlink(tmp / "loop1", tmp / "loop2")
        elif step == "fifo":
            os.mkfifo(tmp / "pipe.npz")
            os.mkfifo(tmp / "pipe.yaml")
        elif step == "directory":
            (tmp / "folder.npz").mkdir()
            (tmp / "folder.png").mkdir()
        elif step == "latin1":
            (tmp / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
        elif step == "file":
            (tmp / "file").write_text("a regular file\n")
        elif step == "broken_package":
            _broken_package(tmp.parent / f"{tmp.name}-site", monkeypatch)
            request.addfinalizer(reload_plugins)
        else:
            raise AssertionError(f"unknown setup step {step!r}")
    return cwd


def test_every_case_has_a_unique_name_and_the_corpus_is_large_enough():
    names = [name for name, _ in CASES]
    assert len(names) == len(set(names))
    assert len(names) >= 120
    numbered = {case["file"] for _, case in CASES if "file" in case}
    assert numbered == {p.name for p in CORPUS.glob("[0-9][0-9]_*.yaml")}


def test_control_spec_is_valid():
    result = CliRunner().invoke(main, ["validate", str(CONTROL)])
    assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("forget_registrations")
@pytest.mark.parametrize("case", [case for _, case in CASES], ids=[name for name, _ in CASES])
def test_bad_input_gives_a_clear_error_and_changes_nothing(case, tmp_path, request, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # importing a plugin file writes no cache next to it
    PWNED.unlink(missing_ok=True)
    places = {"tmp": str(tmp_path), "data": str(DATA), "plugins": str(PLUGINS), "corpus": str(CORPUS),
              "run": str(tmp_path / "run"), "out": str(tmp_path / "out"), "spec": str(tmp_path / "spec.yaml"),
              "huge": str(10**12)}
    cwd = _set_up(case.get("setup", []), tmp_path, request, monkeypatch)
    if "file" in case:
        places["spec"] = str(CORPUS / case["file"])
    elif "text" in case:
        (tmp_path / "spec.yaml").write_text(_filled(case["text"], places))
    else:
        spec = _merged(yaml.safe_load(CONTROL.read_text()), _filled(case.get("spec", {}), places))
        data = spec.get("data")
        if isinstance(data, dict) and not Path(data.get("path", "/")).is_absolute():
            data["path"] = str(CORPUS / data["path"])
        (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    before = {**_snapshot(tmp_path), **_snapshot(CORPUS)}
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, _filled(case.get("args", DEFAULT_ARGS), places))
    _assert_clear_error(result.exit_code, result.stderr, _filled(case["expect"], places))
    if "file" in case and any(piece.startswith("line ") for piece in case["expect"]):
        assert f"in {places['spec']}, line" in result.stderr  # errors located by line also name the spec file
    assert {**_snapshot(tmp_path), **_snapshot(CORPUS)} == before
    assert not PWNED.exists()
