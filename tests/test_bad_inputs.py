"""The bad-input corpus (tests/bad_inputs/): every bad input gives exit code 2, a one-paragraph
message on stderr naming the file and the key or value at fault, no traceback, and no run
directory left behind.

Most cases go through the CLI in-process (click's runner: the same command code, exit code and
streams, without paying TensorFlow's start-up once per case); the broken-plugin case needs its
own process (a fake installed package on PYTHONPATH), and one spec case also runs as a real
process to show nothing changes there.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from runcheck import genkit_cli

from genkit.cli import main

CORPUS = Path(__file__).parent / "bad_inputs"
CONTROL = CORPUS / "control.yaml"
DATA = CORPUS / "data"
PWNED = Path("/tmp/genkit-bad-input-pwned")  # what 02_unsafe_tag.yaml would create if it were executed

#: Each numbered spec of the corpus -> what its error message must contain (file, key, value ...).
EXPECTED: dict[str, list[str]] = {
    "01_malformed_yaml.yaml": ["line 5", "column 32", "expected ',' or ']'"],
    "02_unsafe_tag.yaml": ["line 2", "python/object/apply:os.system", "only plain YAML data is allowed"],
    "03_unknown_component.yaml": ["line 9", "key 'prior.type'", "unknown prior 'standard_normall'",
                                  "Did you mean 'standard_normal'?"],
    "04_wrong_argument_type.yaml": ["line 5", "key 'encoder.hidden'", "valid array", "'eight'"],
    "05_missing_data_file.yaml": ["data file not found", str(DATA / "does_not_exist.npz"), "data.path"],
    "06_wrong_shape.yaml": [str(DATA / "flat_vector.npz"), "expected an array of examples", "shape (20,)"],
    "07_wrong_dtype.yaml": [str(DATA / "strings.npz"), "must be numeric", "dtype <U1"],
    "08_out_of_range_bernoulli.yaml": [str(DATA / "out_of_range.npz"), "likelihood 'bernoulli'", "[0, 1]",
                                       "[0.0136925, 4.98605]"],
    "09_empty_dataset.yaml": [str(DATA / "empty.npz"), "the dataset is empty"],
    "10_latent_dim_zero.yaml": ["line 3", "key 'latent_dim'", "greater than 0", "(got 0)"],
    "11_batch_larger_than_data.yaml": ["line 8", "key 'train.batch_size'", "batch size is 64",
                                       str(DATA / "small.npz"), "only 20 training examples"],
    "12_nan_in_data.yaml": [str(DATA / "with_nan.npz"), "NaN or infinite"],
    "13_labels_length_mismatch.yaml": [str(DATA / "labels_mismatch.npz"), "'y_train' has 7 entries",
                                       "'x_train' has 20"],
    "14_not_an_npz.yaml": [str(DATA / "not_npz.npz"), "cannot read", "as a .npz file"],
    "15_unknown_top_level_key.yaml": ["line 9", "key 'trian'", "Did you mean 'train'?"],
    "16_duplicate_key.yaml": ["line 9", "key 'latent_dim'", "duplicate key (first written on line 3)"],
    "17_not_a_mapping.yaml": ["must be a mapping", "got list"],
    "18_empty_file.yaml": ["must be a mapping", "got NoneType"],
    "19_bad_on_nan.yaml": ["line 8", "key 'train.on_nan'", "'stop' or 'skip'", "'ignore'"],
    "20_negative_clip_norm.yaml": ["line 8", "key 'train.clip_norm'", "greater than 0", "-1.0"],
    "21_unknown_optimizer.yaml": ["line 8", "key 'train.optimizer'", "unknown optimizer 'adamm'"],
    "22_recursive_alias.yaml": ["line 5", "key 'encoder.hidden.1'", "recursive YAML"],
    "23_missing_npz_key.yaml": [str(DATA / "small.npz"), "no array 'pixels'", "arrays in the file: x_train"],
    "24_unknown_activation.yaml": ["line 5", "key 'encoder'", "encoder 'mlp' rejected its arguments", "sparkle"],
    "25_component_not_a_mapping.yaml": ["line 5", "key 'encoder'", "['mlp', 8]"],
    "26_two_clippings.yaml": ["line 8", "key 'train'", "clip_norm or train.clip_value, not both"],
    "27_conditional_without_labels.yaml": ["conditional: true", str(DATA / "small.npz"), "provides no labels",
                                           "data.labels"],
}


def _assert_clear_error(exit_code: int, stderr: str, expected: list[str]) -> None:
    """Exit 2; stderr is one paragraph starting 'error:' holding every expected piece; no traceback."""
    assert exit_code == 2, stderr
    assert "Traceback" not in stderr
    error = stderr[stderr.index("error: "):].strip()
    assert "\n\n" not in error
    for piece in expected:
        assert piece in error, f"{piece!r} not in: {error}"


def test_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.glob("[0-9][0-9]_*.yaml")) == sorted(EXPECTED)


def test_control_spec_is_valid():
    result = CliRunner().invoke(main, ["validate", str(CONTROL)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_spec_gives_a_clear_error_and_leaves_nothing(name, tmp_path):
    PWNED.unlink(missing_ok=True)
    out = tmp_path / "run"
    spec = CORPUS / name
    result = CliRunner().invoke(main, ["run", str(spec), "--out", str(out), "-q"])
    _assert_clear_error(result.exit_code, result.stderr, EXPECTED[name])
    if any(piece.startswith("line ") for piece in EXPECTED[name]):
        assert f"in {spec}, line" in result.stderr  # errors located by line also name the spec file
    assert not out.exists()
    assert not PWNED.exists()


def test_missing_spec_file(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "run")])
    _assert_clear_error(result.exit_code, result.stderr, [str(tmp_path / "nope.yaml"), "file not found"])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("where", ["under a regular file", "in /proc"])
def test_unwritable_output_directory(tmp_path, where):
    """Tests run as root, so a chmod'ed directory would still be writable: use places no one can write."""
    if where == "in /proc":
        out = Path("/proc/genkit-run")
    else:
        (tmp_path / "file").write_text("")
        out = tmp_path / "file" / "run"
    result = CliRunner().invoke(main, ["run", str(CONTROL), "--out", str(out), "-q"])
    _assert_clear_error(result.exit_code, result.stderr, ["cannot write to output directory", str(out)])
    assert not out.exists()


def test_plugin_whose_import_raises(tmp_path):
    """A fake installed package (dist-info with an entry point) whose module raises on import."""
    (tmp_path / "broken_genkit_plugin.py").write_text("raise ImportError('simulated: no module named sparkle')\n")
    info = tmp_path / "broken_genkit_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-genkit-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[genkit.priors]\nbroken = broken_genkit_plugin:Broken\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(CONTROL.read_text().replace("data/small.npz", str(DATA / "small.npz")) + "prior: broken\n")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    process = subprocess.run(genkit_cli("run", str(spec), "--out", str(out), "-q"),
                             capture_output=True, text=True, env=env, timeout=300)
    stderr = process.stderr
    assert re.search(r"warning: could not load prior plugin 'broken' from package 'broken-genkit-plugin' "
                     r".*ImportError: simulated: no module named sparkle", stderr), stderr
    _assert_clear_error(process.returncode, stderr, [
        str(spec), "key 'prior.type'", "prior 'broken'", "failed to import", "broken-genkit-plugin",
        "simulated: no module named sparkle",
    ])
    assert not out.exists()
