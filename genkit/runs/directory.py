"""Creating a run directory safely, continuing one, and its header files (spec.yaml, model.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from genkit.assembly.model import GenerativeAutoencoder
from genkit.errors import GenkitError
from genkit.plugin.context import Context
from genkit.runs.layout import MODEL_FILE, SPEC_FILE
from genkit.spec.resolve import load_spec
from genkit.spec.schema import Spec
from genkit.spec.yaml_source import dump_yaml
from genkit.training.jit_choice import JitChoice
from genkit.version import __version__


def prepare_run_dir(path: str | Path, overwrite: bool = False) -> Path:
    """Create ``path`` for a new run; refuse a non-empty directory unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GenkitError(f"output path {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise GenkitError(
                f"run directory {path} already exists and is not empty; choose another --out, "
                "pass --resume to continue its training, or --overwrite to replace it"
            )
        import shutil

        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise GenkitError(f"cannot write to output directory {path}: {err.strerror or err}") from None
    return path


#: What a run directory can hold when its process died before the run header was written.
_BEFORE_HEADER = frozenset({".write-test", SPEC_FILE + ".tmp"})


def resume_run_dir(path: str | Path, spec: Spec) -> tuple[Path, bool]:
    """The run directory to continue, and whether it holds a run to continue.

    A missing or empty directory (or one whose process died before writing the spec) starts
    fresh. Otherwise it must be a genkit run of the same model and data: every spec key except
    ``name`` and ``train`` (more epochs, a lower learning rate, clipping are fine) must match.
    """
    path = Path(path)
    contents = {p.name for p in path.iterdir()} if path.is_dir() else set()
    if contents <= _BEFORE_HEADER:
        return prepare_run_dir(path, overwrite=True), False
    if not (path / SPEC_FILE).is_file():
        raise GenkitError(f"cannot resume {path}: it is not a genkit run directory ({SPEC_FILE} is missing)")
    stored, new = load_spec(path / SPEC_FILE).to_dict(), spec.to_dict()
    changed = [key for key in new if key not in ("name", "train") and stored.get(key) != new[key]]
    if changed:
        raise GenkitError(
            f"cannot resume {path}: the spec differs from the run's {SPEC_FILE} in {', '.join(changed)}; "
            "only 'train' settings may change on resume (use another --out, or --overwrite to start again)"
        )
    return path, True


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a reader sees the old
    file or the new one, never half of it."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_run_header(run_dir: Path, spec: Spec, model: GenerativeAutoencoder, jit: JitChoice | None = None) -> None:
    """The resolved spec and the rebuild information (and how ``jit_compile`` was decided), written
    before training starts."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    write_atomic(run_dir / SPEC_FILE, dump_yaml(spec.to_dict()))
    info = {
        "context": model.context.to_dict(),
        "jit_compile": None if jit is None else jit.to_dict(),
        "genkit": __version__,
        "tensorflow": tf.__version__,
        "tensorflow_probability": tfp.__version__,
        "keras": keras.__version__,
    }
    write_atomic(run_dir / MODEL_FILE, json.dumps(info, indent=2) + "\n")


def read_jit_choice(run_dir: Path) -> JitChoice | None:
    """How a run decided ``jit_compile`` (from its model.json), so that resuming keeps the decision."""
    try:
        recorded = json.loads((run_dir / MODEL_FILE).read_text()).get("jit_compile")
        return None if recorded is None else JitChoice(**recorded)
    except (OSError, ValueError, TypeError) as err:
        raise GenkitError(f"{run_dir / MODEL_FILE} is not valid: {err}") from None


def read_context(run_dir: Path) -> Context:
    """The build context stored in a run's model.json (older runs: their data shape and condition width)."""
    path = run_dir / MODEL_FILE
    try:
        info: dict[str, Any] = json.loads(path.read_text())
        if "context" in info:
            return Context.from_dict(info["context"])
        spec = load_spec(run_dir / SPEC_FILE)
        return Context(spec.latent_shape, tuple(int(d) for d in info["data_shape"]), int(info.get("condition_dim", 0)))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GenkitError(f"{path} is not valid: {err}") from None
