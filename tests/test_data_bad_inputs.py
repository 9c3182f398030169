"""The data cases of the bad-input corpus (tests/bad_inputs/data_*.yaml, data in data_files/):
unreadable images, folders that hold no image, images of mixed sizes, TFRecords in a foreign
layout and a memory budget below one batch each give exit code 2 at validation, one paragraph
naming the file or key at fault, no traceback, and no run directory."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_bad_inputs import CORPUS, _assert_clear_error

from genkit.cli import main

FILES = CORPUS / "data_files"

#: Each data_* spec of the corpus -> what its error message must contain.
EXPECTED: dict[str, list[str]] = {
    "data_corrupt_image.yaml": [f"cannot read image {FILES / 'truncated' / '2.png'}", "truncated",
                                "data.on_bad_file: skip"],
    "data_not_an_image.yaml": [f"cannot read image {FILES / 'not_an_image' / '1.png'}", "neither a PNG nor a JPEG"],
    "data_mixed_sizes.yaml": [str(FILES / "mixed_sizes"), "different sizes", "is 8x8", "is 10x6", "set data.size"],
    "data_empty_folder.yaml": [str(FILES / "empty_folder"), "holds no PNG or JPEG image"],
    "data_empty_class_folder.yaml": [f"class folder {FILES / 'empty_class' / 'fox'}", "holds no PNG or JPEG image"],
    "data_wrong_tfrecord_layout.yaml": [str(FILES / "foreign_tfrecord" / "train-00000-of-00001.tfrecord"),
                                        "does not have genkit's TFRecord layout", "no bytes feature 'x'",
                                        "image/encoded (bytes), label (int64)", "genkit data convert"],
    "data_budget_below_one_batch.yaml": ["key 'data.memory_budget_mb'", "one batch of 64 examples",
                                         "shape (64, 64, 3)", "about 3 MB", "memory budget of 1 MB"],
}


def test_the_data_cases_are_complete():
    assert sorted(p.name for p in CORPUS.glob("data_*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_data_gives_a_clear_error_at_validation_and_leaves_nothing(name, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(CORPUS / name), "--out", str(out), "-q"])
    _assert_clear_error(result.exit_code, result.stderr, EXPECTED[name])
    assert not out.exists()
