"""``genkit data convert``: any dataset (a file, a folder, or a generated one) written as TFRecord
shards or as a folder of PNG images, a piece at a time.

The source is read through its dataset plugin, so every format genkit reads can be converted
(``.npz``, ``.h5``, ``.npy``, an image folder, a TFRecord folder, a generated dataset such as
``colour_shapes``); the writer is the target dataset plugin's ``write`` (``tfrecord`` or
``image_folder``), so what is written reads back with that plugin. A source that can stream is
read piece by piece (bounded memory); one that cannot is loaded whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from genkit.errors import GenkitError, SpecError
from genkit.plugin.dataset import Stream
from genkit.plugin.instantiate import instantiate
from genkit.plugin.registry import registry
from genkit.plugin.signature import validate_arguments

#: Source file endings and the dataset plugin that reads them.
SUFFIXES = {".npz": "npz", ".h5": "h5", ".hdf5": "h5", ".npy": "npy"}
#: Dataset plugins ``--to`` can write.
TARGETS = ("tfrecord", "image_folder")


def parse_arguments(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` pairs (values read as YAML scalars: numbers, booleans, null) as a dict."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise GenkitError(f"--arg takes key=value, got '{pair}'")
        args[key] = yaml.safe_load(value) if value else ""
    return args


def source_entry(source: str, kind: str | None, args: dict[str, Any]) -> dict[str, Any]:
    """The dataset entry a source names: its type (``kind``, else inferred) and its path argument."""
    path = Path(source)
    if kind is None:
        if path.is_dir():
            kind = "tfrecord" if (path / "genkit-tfrecord.json").is_file() else "image_folder"
        elif path.suffix.lower() in SUFFIXES:
            kind = SUFFIXES[path.suffix.lower()]
        elif not path.exists() and source in registry("dataset").names():
            return {"type": source, **args}  # a generated dataset, named
        else:
            raise GenkitError(f"cannot tell what {source} is: not a folder, not a registered dataset, and not a file "
                              f"ending in {', '.join(SUFFIXES)}; name its dataset type with --type")
    if not path.exists():
        raise GenkitError(f"data file not found: {source}")
    plugin = registry("dataset").get(kind, where="--type").obj
    path_args = getattr(plugin, "path_args", ())
    if not path_args:
        raise GenkitError(f"dataset '{kind}' reads no file; name it without a path (genkit data convert {kind} OUT)")
    return {"type": kind, path_args[0]: str(path.resolve()), **args}


def convert(source: str, out: str | Path, *, to: str = "tfrecord", kind: str | None = None,
            args: dict[str, Any] | None = None, splits: tuple[str, ...] = (),
            examples_per_shard: int = 4096) -> dict[str, int]:
    """Write the splits of ``source`` into the new folder ``out`` in the format of dataset ``to``;
    return the number of examples written per split.

    ``splits`` defaults to the source's training split plus its test split when it has one.
    """
    if to not in TARGETS:
        raise GenkitError(f"--to must be one of {', '.join(TARGETS)}, got '{to}'")
    entry = source_entry(source, kind, args or {})
    plugin = registry("dataset").get(entry["type"], where="--type").obj
    _, problems = validate_arguments(plugin, {k: v for k, v in entry.items() if k != "type"})
    if problems:
        loc, message = problems[0]
        raise SpecError(f"dataset '{entry['type']}': {message}", "--arg " + ".".join(map(str, loc)))
    dataset = instantiate("dataset", entry, "--arg")
    streams: dict[str, Stream] = {}
    for split in splits or dataset.splits:
        try:
            streams[split] = dataset.as_stream(split)
        except GenkitError:
            if splits or split == "train":
                raise
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise GenkitError(f"{target} already exists and is not an empty folder; choose a new output folder")
    target.mkdir(parents=True, exist_ok=True)
    writer = registry("dataset").get(to).obj
    written = writer.write(streams, target, examples_per_shard) if to == "tfrecord" else writer.write(streams, target)
    return dict(written)
