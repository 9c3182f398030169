"""The command line end to end: run, validate, list; user errors exit 2 without a traceback."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from matplotlib.image import imread

import genkit
from genkit.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def spec_file(tmp_path, tiny_vae):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_vae))
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_run_writes_a_complete_run_directory(spec_file, tmp_path):
    out = tmp_path / "run"
    result = invoke("run", str(spec_file), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"done: {out}" in result.output
    header, *epochs, done = result.output.strip().splitlines()  # not a terminal: one fixed-column line an epoch
    assert header.split()[:2] == ["epoch", "loss"] and [line.split()[0] for line in epochs] == ["1/3", "2/3", "3/3"]

    resolved = yaml.safe_load((out / "spec.yaml").read_text())
    assert resolved["posterior"] == {"type": "diagonal_gaussian", "min_scale": 1e-5}  # defaults filled in
    assert resolved["train"]["optimizer"] == {"type": "adam", "learning_rate": 0.003}

    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for column in ("loss", "reconstruction", "divergence", "val_loss", "seconds", "examples_per_second"):
        assert float(rows[-1][column]) >= 0, column
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])  # it learned
    assert float(rows[0]["examples_per_second"]) > 0

    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    samples, recon = imread(out / "samples.png"), imread(out / "reconstructions.png")
    assert samples.shape[0] > 12 and recon.shape[0] > 12 and samples.std() > 0
    model = genkit.load(out)
    original = genkit.train(spec_file, progress=False).model  # same seed: the same trained weights
    for a, b in zip(model.get_weights(), original.get_weights(), strict=True):
        assert (a == b).all()


def test_second_run_into_the_same_directory_is_refused(spec_file, tmp_path):
    import json

    spec_file.write_text(spec_file.read_text().replace("epochs: 3", "epochs: 1"))  # what is refused needs no training
    out = tmp_path / "run"
    first = invoke("run", str(spec_file), "--out", str(out), "--log-format", "json")
    assert first.exit_code == 0
    records = [json.loads(line) for line in first.output.splitlines()]  # every line is JSON
    assert [r["epoch"] for r in records[:-1]] == [1] and records[-1]["event"] == "done"
    assert records[-1]["run_dir"] == str(out) and records[-1]["loss"] == records[0]["loss"]
    before = (out / "metrics.csv").read_text()
    result = invoke("run", str(spec_file), "--out", str(out), "-q")
    assert result.exit_code == 2
    assert "already exists and is not empty" in result.output and "Traceback" not in result.output
    assert (out / "metrics.csv").read_text() == before
    assert invoke("run", str(spec_file), "--out", str(out), "-q", "--overwrite").exit_code == 0


def test_bad_spec_exits_2_with_one_paragraph_and_no_output(tmp_path, tiny_vae):
    tiny_vae["prior"] = "standard_normla"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny_vae))
    result = invoke("run", str(path), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "error: in " in result.output and "key 'prior.type'" in result.output
    assert "Did you mean 'standard_normal'?" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_validate_accepts_good_and_rejects_bad(spec_file, tmp_path):
    result = invoke("validate", str(spec_file), "--show")
    assert result.exit_code == 0
    assert "ok:" in result.output and "min_scale: 1.0e-05" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec_file.read_text().replace("latent_dim: 2", "latent_dim: 0"))
    result = invoke("validate", str(bad))
    assert result.exit_code == 2 and "latent_dim" in result.output and "greater than 0" in result.output


def test_list_shows_every_kind_with_arguments_and_summaries():
    result = invoke("list")
    assert result.exit_code == 0
    for title in ("encoders", "decoders", "posteriors", "likelihoods", "priors", "divergences", "datasets"):
        assert title in result.output
    prior = invoke("list", "prior").output
    assert "standard_normal" in prior and "Isotropic standard normal" in prior and "encoders" not in prior
    assert "beta: float = 1.0" in invoke("list", "divergences").output
    assert "Deterministic code ``[style, softmax(logits)]``: the last ``classes`` encoder outputs are the" in \
        invoke("list", "posterior").output  # a docstring is text, not rich markup; its first paragraph joined
    bad = invoke("list", "priorz")
    assert bad.exit_code == 2 and "kinds are: encoder" in bad.output


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_specs_validate(example):
    spec = genkit.load_spec(example)
    assert spec.latent_dim > 0


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean squared difference per value between every row of ``a`` and every row of ``b``."""
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T, 0.0) / a.shape[1]


@pytest.mark.slow
def test_quick_start_command_is_quiet_and_learns_the_shapes(tmp_path):
    """The README's first command, as a user runs it: the console script, no TF start-up noise, and a
    model worth showing: a pixel classifier trained on the data recognises the shape class of nearly
    every reconstruction, the samples look like the data, and the latent picture separates the classes."""
    from genkit.assembly.data import load_split
    from genkit.results.metrics import linear_probe_accuracy, pca_2d

    genkit_script = Path(sys.executable).with_name("genkit")
    command = [str(genkit_script)] if genkit_script.exists() else [sys.executable, "-m", "genkit.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "ABSL"))}
    done = subprocess.run(
        [*command, "run", str(ROOT / "examples" / "vae_shapes.yaml"), "--out", str(tmp_path / "qs")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # no cuda/absl/oneDNN chatter
    assert done.stdout.splitlines()[10].split()[0] == "10/10"  # a header and ten epoch lines
    rows = list(csv.DictReader((tmp_path / "qs" / "metrics.csv").open()))
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])

    model = genkit.load(tmp_path / "qs")
    spec = genkit.load_spec(tmp_path / "qs" / "spec.yaml")
    train, test = load_split(spec, "train"), load_split(spec, "test")
    pixels = lambda images: images.reshape(len(images), -1)  # noqa: E731
    recognised = linear_probe_accuracy(pixels(train.x), train.y, pixels(model.reconstruct(test.x)), test.y)
    assert recognised > 0.95, recognised
    # samples are shapes: nearer to some training image than a test image is to the nearest training
    # image of another class (how far a shape is from becoming a different one)
    reference = pixels(train.x[:2000])
    distances = squared_distances(pixels(model.sample(200, seed=0)), reference)
    across = squared_distances(pixels(test.x[:200]), reference)
    across[test.y[:200, None] == train.y[None, :2000]] = np.inf
    assert np.median(distances.min(1)) < 0.25 * np.median(across.min(1)), (distances.min(1), across.min(1))
    # the latent picture's coordinates (first two principal components) separate the four classes
    coordinates = pca_2d(np.concatenate([model.encode(train.x), model.encode(test.x)]))
    separated = linear_probe_accuracy(coordinates[: len(train)], train.y, coordinates[len(train) :], test.y)
    assert separated > 0.85, separated


#: Plugins a user imports with --import: a divergence whose own bug shows once the trainer compiles
#: its step (the model's first, eager run works), and a callback that fails as training begins.
BROKEN_PLUGINS = '''
import tensorflow as tf
from tensorflow_probability import distributions as tfd

import genkit


@genkit.register("divergence", "exploding")
class Exploding(genkit.Divergence):
    """The analytic KL, with a bug in its compiled path."""

    def per_example(self, q, prior, z, seed):
        if not tf.executing_eagerly():
            raise ZeroDivisionError("the plugin's own bug")
        return tfd.kl_divergence(q, prior)


@genkit.register("callback", "failing")
class Failing(genkit.Callback):
    """Fails before the first epoch."""

    def on_train_begin(self, trainer):
        raise KeyError("no tracking server")
'''


@pytest.fixture
def broken(tmp_path, tiny_vae):
    """(invoke with the broken plugins imported, spec file): each call imports them afresh and
    unregisters them afterwards."""
    plugins = tmp_path / "broken_plugins.py"
    plugins.write_text(BROKEN_PLUGINS)
    tiny_vae["train"]["epochs"] = 1

    def run(spec: dict, *options: str, env: dict | None = None):
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        try:
            return CliRunner().invoke(main, ["--import", str(plugins), *options, "run", str(path),
                                             "--out", str(tmp_path / "run"), "--overwrite", "-q"], env=env)
        finally:
            genkit.registry("divergence").remove("exploding")
            genkit.registry("callback").remove("failing")

    return run, tiny_vae, plugins


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_a_plugin_failing_while_training_is_named_and_debug_shows_its_own_line(broken):
    run, spec, plugins = broken
    message = ("key 'divergence': divergence 'exploding' failed while training: "
               "ZeroDivisionError: the plugin's own bug")
    result = run({**spec, "divergence": "exploding"})
    assert result.exit_code == 2 and message in result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output  # one paragraph
    result = run({**spec, "divergence": "exploding"}, "--debug")
    assert result.exit_code == 2
    raised_at = line_of(BROKEN_PLUGINS, 'raise ZeroDivisionError("the plugin')
    assert f'File "{plugins}", line {raised_at}, in per_example' in result.output  # the cause's traceback
    assert "The above exception was the direct cause of the following exception" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("error: ") and message in result.output


def test_a_failing_spec_callback_is_named_by_its_key_and_line(broken):
    run, spec, _ = broken
    spec["train"]["callbacks"] = [{"type": "csv", "path": "all.csv"}, "failing"]
    result = run(spec)
    listed = line_of(yaml.safe_dump(spec, sort_keys=False), "failing")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (f"line {listed} key 'train.callbacks.1': callback 'failing' failed while training: "
            "KeyError: 'no tracking server'") in result.output


@pytest.mark.parametrize(("options", "env", "traceback"), [
    ((), {"GENKIT_DEBUG": "1"}, True), (("--debug",), {}, True), ((), {"GENKIT_DEBUG": "0"}, False)])
def test_debug_prints_the_traceback_of_any_user_error(tmp_path, tiny_vae, options, env, traceback):
    tiny_vae["prior"] = "standard_normla"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny_vae))
    result = CliRunner().invoke(main, [*options, "validate", str(path)], env=env)
    assert result.exit_code == 2 and "Did you mean 'standard_normal'?" in result.output
    assert ("Traceback (most recent call last)" in result.output) == traceback
    assert result.output.rstrip().splitlines()[-1].startswith("error: in ")
