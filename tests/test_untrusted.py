"""Loading a run directory never executes code from it (see docs/security.md).

Each test plants a payload that would create a marker file if anything imported, unpickled or
evaluated it, then loads (or resumes) the run: loading must fail with a GenkitError (or a
warning, for a checkpoint) and the marker must not exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

import genkit
from genkit.errors import GenkitError
from genkit.runs.train import prepare, train
from genkit.spec.resolve import load_spec
from genkit.training.checkpoint import CheckpointManager, CheckpointWarning
from genkit.training.trainer import Trainer

CONTROL = Path(__file__).parent / "bad_inputs" / "control.yaml"


class _Payload:
    """Unpickling this runs ``os.system`` (what a malicious pickle does)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trusted") / "run"
    train(CONTROL, out, progress=False)
    return out


@pytest.fixture
def copy_run(run_dir, tmp_path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "executed"


def test_a_clean_run_loads(run_dir):
    assert genkit.load(run_dir).count_params() > 0


def test_spec_with_python_tag_is_refused(copy_run, marker):
    spec = copy_run / "spec.yaml"
    payload = f"!!python/object/apply:os.system ['touch {marker}']"
    spec.write_text(spec.read_text().replace("name: bad-input", f"name: {payload}"))
    with pytest.raises(GenkitError, match="only plain YAML data is allowed"):
        genkit.load(copy_run)
    assert not marker.exists()


def test_component_names_are_never_imported(copy_run, marker, tmp_path, monkeypatch):
    """A spec naming ``module:attribute`` of an importable module does not import it: only the registry answers."""
    (tmp_path / "evil_module.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Prior: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = copy_run / "spec.yaml"
    raw = yaml.safe_load(spec.read_text())
    spec.write_text(yaml.safe_dump({**raw, "prior": {"type": "evil_module:Prior"}}))
    with pytest.raises(GenkitError, match="unknown prior 'evil_module:Prior'"):
        genkit.load(copy_run)
    assert "evil_module" not in sys.modules
    assert not marker.exists()


def test_weights_file_holding_a_pickle_is_refused(copy_run, marker):
    (copy_run / "model.weights.h5").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(GenkitError, match="cannot load weights"):
        genkit.load(copy_run)
    assert not marker.exists()


def test_checkpoint_with_pickled_optimizer_state_is_refused(copy_run, marker):
    """Even with a manifest whose checksums match (anyone can compute them), a pickle is not loaded."""
    newest = CheckpointManager(copy_run).paths()[-1]
    np.savez(newest / "optimizers.npz", phase0_var0=np.array([_Payload(marker)], dtype=object))
    manifest = json.loads((newest / "manifest.json").read_text())
    manifest["files"]["optimizers.npz"] = hashlib.sha256((newest / "optimizers.npz").read_bytes()).hexdigest()
    (newest / "manifest.json").write_text(json.dumps(manifest))
    spec = load_spec(copy_run / "spec.yaml")
    data, model = prepare(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = CheckpointManager(copy_run).restore(Trainer(model, spec.train, data.train))
    assert state is None  # the only checkpoint was refused
    assert any(issubclass(w.category, CheckpointWarning) and "pickle" in str(w.message) for w in caught)
    assert not marker.exists()
