"""Every example spec trains: each is run for one epoch on a shrunken copy of its dataset.

Generated datasets are generated small; the MNIST examples read a tiny fake Keras cache file
(tests/fake_mnist.py), so they run everywhere and never download; other file datasets are cut with
genkit's own ``data.limit``. (test_cli validates every example as written; the README's
vae_shapes.yaml is also run in full there.) Examples whose data file is not present are skipped.
Every model preset is named by an example spec or by a one-line variant in an example's comments,
and each such variant is a valid spec.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_mnist import write_fake_mnist

import genkit
from genkit.plugin.registry import registry
from genkit.plugin.signature import spec_arguments
from genkit.runs.convert import convert
from genkit.spec.presets import COMPONENT_KEYS, PRESETS
from genkit.spec.yaml_source import parse_yaml, read_yaml_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

#: Dataset arguments shrunk for the smoke run, when the dataset plugin has them.
SMALL = {"n_train": 200, "n_test": 50}
#: Examples kept from a file dataset (enough for every class of MNIST's 100-label specs).
FILE_LIMIT = 300


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_spec_trains_for_an_epoch(example, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    write_fake_mnist(tmp_path / "keras")
    spec = genkit.load_spec(example)
    dataset = registry("dataset").get(spec.data["type"]).obj
    missing = [key for key in getattr(dataset, "path_args", ())
               if spec.data[key] is not None and not Path(spec.data[key]).exists()]
    if missing and spec.data["type"] == "image_folder":  # the folder its comment makes with genkit data convert
        folder = tmp_path / "colour_shapes"
        convert("colour_shapes", folder, to="image_folder", args={"size": 16, "n_train": 80, "n_test": 16})
        data = {**spec.to_dict()["data"], "path": str(folder / "train"), "test_path": str(folder / "test")}
        spec, missing = genkit.load_spec({**spec.to_dict(), "data": data}), []
    if missing and spec.data["type"] == "encoded":  # the run its comment says to train first: that example's
        made = next(path for path in EXAMPLES if genkit.load_spec(path).name == Path(spec.data["run"]).name)
        genkit.train(one_small_epoch(genkit.load_spec(made)), tmp_path / "encoder-run", progress=False)
        # a one-epoch encoder's codes barely spread yet: keep every dimension
        data = {**spec.to_dict()["data"], "run": str(tmp_path / "encoder-run"), "min_std": 0.0}
        spec = genkit.load_spec({**spec.to_dict(), "data": data})
        missing = []
    if missing:
        pytest.skip(f"{example.name} reads {spec.data[missing[0]]}, which is not here")
    # no run directory: what a run writes is the presets' test (test_presets.py); here, that the spec trains
    result = genkit.train(one_small_epoch(spec), progress=False)
    assert len(result.history) == 1 and np.isfinite(result.history[0]["loss"])


def one_small_epoch(spec: genkit.Spec) -> dict:
    """``spec`` resolved (every default filled in, file paths absolute) for one epoch on a shrunken
    copy of its data: generated datasets made small, file datasets cut to :data:`FILE_LIMIT`."""
    dataset = registry("dataset").get(spec.data["type"]).obj
    resolved = spec.to_dict()
    names = {argument.name for argument in spec_arguments(dataset)}
    resolved["data"].update({key: value for key, value in SMALL.items() if key in names})
    if getattr(dataset, "path_args", ()):
        resolved["data"]["limit"] = FILE_LIMIT
    resolved["train"]["epochs"] = 1
    return resolved


def commented_variants(example: Path) -> list[dict]:
    """The one-line variants an example's comments offer: indented comment lines that are a
    ``model:`` or component entry on their own (``#   model: miwae    # MIWAE ...``)."""
    variants = []
    for line in example.read_text().splitlines():
        if not line.startswith("#  "):
            continue
        try:
            entry, _ = parse_yaml(line[1:])
        except genkit.SpecError:
            continue  # prose
        if isinstance(entry, dict) and len(entry) == 1 and next(iter(entry)) in {"model", *COMPONENT_KEYS}:
            variants.append(entry)
    return variants


def test_every_preset_is_named_by_an_example_or_its_comment():
    text = "\n".join(path.read_text() for path in EXAMPLES)
    assert [preset for preset in PRESETS if f"model: {preset}" not in text] == []


@pytest.mark.parametrize("example", [path for path in EXAMPLES if commented_variants(path)], ids=lambda p: p.name)
def test_the_variants_in_an_examples_comments_are_valid_specs(example):
    spec, _ = read_yaml_file(example)
    resolved = genkit.load_spec(spec).to_dict()
    for variant in commented_variants(example):
        changed = genkit.load_spec({**spec, **variant}).to_dict()
        assert changed != resolved, variant  # the line changes the model (a spec key does not hide it)
