"""The schema of a spec: the top-level keys, the ``data`` options and the ``train`` section, and
:class:`Spec`, the validated result every later stage takes.

Component entries (encoder, prior, ...) are validated against their plugins' typed signatures
in :mod:`genkit.spec.resolve`; the sections here are genkit's own and validated with pydantic in
strict mode (``"3"`` is not an int).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

from genkit.errors import SpecError
from genkit.plugin.optimizers import OptimizerSpec
from genkit.plugin.signature import to_plain
from genkit.spec.presets import COMPONENT_KEYS
from genkit.spec.yaml_source import LineMap


class Strict(pydantic.BaseModel):
    """A section with a fixed set of keys: an unknown key is an error."""

    model_config = pydantic.ConfigDict(extra="forbid")


class TrainSpec(Strict):
    """How to train: epochs, batch size, optimizer and seed; checkpoints, NaN handling, clipping;
    compilation, precision and distribution.

    ``checkpoint_every`` epochs (and at the end) a checkpoint is written, keeping the last
    ``keep_checkpoints``. ``on_nan``: a non-finite loss or gradient ``stop``s training (default) or
    its update is ``skip``ped and counted. ``clip_norm`` clips the global gradient norm of each
    phase, ``clip_value`` each gradient value.

    ``jit_compile``: XLA for the training step (``auto``: on for one GPU/TPU; on a CPU the run's own
    step is timed both ways and the faster kept, genkit.training.jit_choice; off under a
    distribution strategy). ``mixed_precision``: networks compute in float16 (with loss
    scaling) or bfloat16, distributions stay float32. ``steps_per_execution``: training steps per
    call of the compiled function (``auto``: doubled while a call takes under 0.1 s).
    ``distribute``: the ``tf.distribute`` strategy (docs/distributed.md).
    """

    epochs: pydantic.PositiveInt = 10
    batch_size: pydantic.PositiveInt = 128
    optimizer: OptimizerSpec = pydantic.Field(default_factory=OptimizerSpec)
    seed: int = pydantic.Field(default=0, ge=0, lt=2**31)
    image_every: pydantic.PositiveInt = 1
    # Fault tolerance (genkit.training.checkpoint and the trainer's NaN guard).
    checkpoint_every: pydantic.PositiveInt = 1
    keep_checkpoints: pydantic.PositiveInt = 3
    on_nan: Literal["stop", "skip"] = "stop"
    clip_norm: pydantic.PositiveFloat | None = None
    clip_value: pydantic.PositiveFloat | None = None
    # Speed and scale (genkit.training, genkit.assembly.precision, genkit.training.strategy).
    jit_compile: bool | Literal["auto"] = "auto"
    mixed_precision: Literal["none", "float16", "bfloat16"] = "none"
    steps_per_execution: pydantic.PositiveInt | Literal["auto"] = "auto"
    distribute: Literal["none", "mirrored", "multi_worker", "tpu"] = "none"

    #: Registered callbacks (``early_stopping``, ``csv``, ``tensorboard``, ...), each a name or a
    #: mapping with ``type``; resolved like components, every argument filled in.
    callbacks: list[str | dict[str, Any]] = pydantic.Field(default_factory=list)

    @pydantic.field_validator("clip_norm", "clip_value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value

    @pydantic.model_validator(mode="after")
    def _one_clipping(self) -> TrainSpec:
        if self.clip_norm is not None and self.clip_value is not None:
            raise ValueError("set train.clip_norm or train.clip_value, not both (Keras optimizers take one)")
        return self


class DataOptions(Strict):
    """Options genkit applies to any dataset plugin."""

    binarize: Literal["none", "static", "dynamic"] = "none"
    validation_split: float = pydantic.Field(default=0.1, ge=0.0, lt=1.0)
    limit: pydantic.PositiveInt | None = None
    #: Semi-supervised data: keep this many training labels (balanced per class, seeded); the
    #: rest become -1 (unlabelled).
    labelled: pydantic.PositiveInt | None = None
    #: How many times each kept labelled example appears per epoch (so that batches hold some).
    labelled_repeat: pydantic.PositiveInt = 1
    #: Read the data piece by piece instead of loading them whole (genkit.assembly.streaming):
    #: auto streams when the decoded data exceed the memory budget and the dataset can stream.
    stream: bool | Literal["auto"] = "auto"
    #: The memory budget in MB for ``stream: auto`` (default: a quarter of this machine's memory).
    memory_budget_mb: pydantic.PositiveInt | None = None


#: The keys of genkit's own data options (the rest of a ``data`` entry is the dataset plugin's).
DATA_OPTION_KEYS = tuple(DataOptions.model_fields)


#: The longest file name ext4, XFS, Btrfs and tmpfs allow, in bytes.
NAME_MAX = 255


def run_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be the name of a run's default directory ``runs/<name>``, or None.

    It must be one safe path component: not empty, not ``.`` or ``..``, without a path separator
    or control character (a NUL byte, a newline), and short enough for the file system.
    """
    if not name.strip():
        return "it is empty"
    if name in (".", ".."):
        return f"'{name}' names a directory that already exists, not a new one"
    if "/" in name or "\\" in name:
        return "it contains a path separator ('/' or '\\'), so it would name a directory outside runs/"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it contains a control character (a NUL byte, a newline, a tab)"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid text (it holds a lone surrogate)"
    if size > NAME_MAX:
        return f"it is {size} bytes long, and file systems allow {NAME_MAX}"
    return None


class TopLevel(Strict):
    """The scalar top-level keys (components, data and train are validated separately).

    A flat code is ``latent_dim: 16``; a grid of codes (a VQ-VAE's) is ``latent_shape: [7, 7, 64]``.
    ``name`` names the run and its default directory, ``runs/<name>``.
    """

    name: str = "run"
    model: str = "vae"
    latent_dim: pydantic.PositiveInt | None = None
    latent_shape: list[pydantic.PositiveInt] | None = pydantic.Field(default=None, min_length=1, max_length=4)
    #: None: the preset decides (``cvae`` and ``m2`` are conditional).
    conditional: bool | None = None

    @pydantic.field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        problem = run_name_problem(value)
        if problem:
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise ValueError(f"the name is also the run's default directory (runs/<name>) and must be one safe "
                             f"path component, but {problem}: got {shown!r}")
        return value

    def latent_size_problem(self) -> tuple[str, str] | None:
        """(key, message) when the code size is given neither or both ways, else None."""
        if self.latent_dim is None and self.latent_shape is None:
            return "latent_dim", ("a value is required here (the code size, e.g. latent_dim: 16, or "
                                  "latent_shape: [7, 7, 64])")
        if self.latent_dim is not None and self.latent_shape is not None:
            return "latent_shape", "give latent_dim (a flat code) or latent_shape (a grid of codes), not both"
        return None

    @property
    def shape(self) -> tuple[int, ...]:
        """The event shape of z."""
        return tuple(self.latent_shape) if self.latent_shape else (int(self.latent_dim or 0),)


#: The top-level keys a resumed run may change (more epochs, a lower learning rate ...).
RESUMABLE_KEYS = ("name", "train")


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """``key: old -> new`` for every (dotted) key whose value differs between two resolved specs,
    leaving out :data:`RESUMABLE_KEYS`."""
    changes = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        if not prefix and key in RESUMABLE_KEYS:
            continue
        before, after = old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            changes += changed_keys(before, after, f"{path}.")
        elif before != after:
            changes.append(f"{path}: {_short(before)} -> {_short(after)}")
    return changes


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


@dataclass
class Spec:
    """A validated spec: every component resolved to ``{"type": name, **all arguments}``."""

    name: str
    model: str
    latent_shape: tuple[int, ...]
    data: dict[str, Any]
    #: key -> ``{"type": name, **arguments}``; the optional components may be None.
    components: dict[str, Any]
    train: TrainSpec
    conditional: bool = False
    source: str | None = None
    lines: LineMap = field(default_factory=dict, repr=False)

    @property
    def latent_dim(self) -> int:
        """How many numbers one code has."""
        return math.prod(self.latent_shape)

    @property
    def data_options(self) -> DataOptions:
        return DataOptions(**{k: self.data[k] for k in DATA_OPTION_KEYS})

    @property
    def dataset_entry(self) -> dict[str, Any]:
        """The data plugin's entry: its ``type`` and its own arguments (without genkit's data options)."""
        return {k: v for k, v in self.data.items() if k not in DATA_OPTION_KEYS}

    def line_of(self, path: str) -> int | None:
        """The line a dotted key path was written on (None if unknown); numeric parts index lists
        (``train.callbacks.0``)."""
        return self.lines.get(tuple(int(p) if p.isdigit() else p for p in path.split("."))) if path else None

    def locate(self, err: SpecError) -> SpecError:
        """``err`` naming this spec's file and the line of its key, when it names neither yet."""
        if err.source is not None or self.source is None:
            return err
        located = SpecError(err.detail, err.path, self.source, self.line_of(err.path))
        located.__cause__ = err.__cause__
        return located

    def to_dict(self) -> dict[str, Any]:
        """Plain data, ready to write as YAML; reading it back gives an equal spec."""
        size: dict[str, Any] = ({"latent_dim": self.latent_dim} if len(self.latent_shape) == 1
                                else {"latent_shape": list(self.latent_shape)})
        return {
            "name": self.name,
            "model": self.model,
            **size,
            "conditional": self.conditional,
            "data": to_plain(self.data),
            **{key: to_plain(self.components[key]) for key in COMPONENT_KEYS},
            "train": to_plain(self.train.model_dump()),
        }


def dotted_keys(value: Any, prefix: str = "") -> dict[str, Any]:
    """A spec's nested mappings as one level of dotted keys (``train.optimizer.learning_rate``), other
    values as they are: how runs are compared and how trackers record a spec."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        flat.update(dotted_keys(inner, f"{prefix}.{key}" if prefix else str(key)))
    return flat
